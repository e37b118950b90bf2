"""Sphinx extension for the libcprobe docs (no third-party dependencies beyond Sphinx).

- ``libcprobe-cli`` directive: the CLI reference, generated from
  ``libcprobe._cli.build_parser()``: the top-level ``--help`` as a literal block, then one
  section per subcommand (``libcprobe <name>``) with that subcommand's ``--help``. A new
  subcommand or option shows up without editing the page, so the reference cannot drift.
- ``libcprobe-toctree`` directive: Sphinx's ``toctree``, except that entries named in the
  ``libcprobe_optional_pages`` setting are dropped (with an info message, not a warning) when the
  page does not exist yet. Every other missing entry still fails a ``-W`` build.
- ``optdoc`` role: like ``doc``, for the optional pages: a link when the page exists, plain text
  (and an info message) when it does not.
- ``libcprobe-const`` role: the current value of a constant in the code, e.g.
  ``{libcprobe-const}`libcprobe._root.ROOT_PROGRAMS```, rendered as literals (a tuple as a
  comma-separated list), so the prose that quotes limits and search lists cannot drift.
- autodoc: a module's members named in its ``__all__`` are documented even when their names
  start with an underscore (``libcprobe.compat`` mirrors ``packaging``'s private names); the
  docstring of a builtin type (``int``, ``str``) and namedtuple's "Alias for field number N" are
  not shown as if they documented a constant or a field.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.directives.other import TocTree
from sphinx.roles import XRefRole
from sphinx.util import logging
from sphinx.util.docstrings import prepare_docstring
from sphinx.util.docutils import ReferenceRole, SphinxDirective, SphinxRole

logger = logging.getLogger(__name__)

#: Width the help text is wrapped to (argparse reads it from $COLUMNS).
HELP_COLUMNS = 90

_DOC_ROLE = XRefRole(warn_dangling=True, innernodeclass=nodes.inline)


@contextmanager
def _columns(width: int) -> Iterator[None]:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    """The ``(name, parser)`` of each subcommand, in the order they were added."""
    found: list[tuple[str, argparse.ArgumentParser]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.extend(action.choices.items())
    return found


def help_texts() -> list[tuple[str, str]]:
    """``(command, --help text)`` for ``libcprobe`` and each subcommand."""
    from libcprobe._cli import build_parser

    parser = build_parser()
    with _columns(HELP_COLUMNS):
        texts = [("libcprobe", parser.format_help())]
        texts.extend((f"libcprobe {name}", sub.format_help()) for name, sub in subcommands(parser))
    return texts


def _literal(text: str) -> nodes.literal_block:
    text = text.rstrip() + "\n"
    block = nodes.literal_block(text, text)
    block["language"] = "none"
    return block


class CliReference(SphinxDirective):
    """``libcprobe-cli``: the help of the command and of every subcommand."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        texts = help_texts()
        result: list[nodes.Node] = [_literal(texts[0][1])]
        for command, text in texts[1:]:
            section = nodes.section()
            section["names"].append(nodes.fully_normalize_name(command))
            section += nodes.title(command, command)
            section += _literal(text)
            self.state.document.note_implicit_target(section, section)
            result.append(section)
        return result


def _entry_docname(entry: str) -> str:
    """The document an entry of a toctree names (``Title <doc>`` or ``doc``)."""
    entry = entry.strip()
    if entry.endswith(">") and "<" in entry:
        entry = entry[entry.rindex("<") + 1 : -1]
    return entry[:-3] if entry.endswith(".md") else entry


class OptionalTocTree(TocTree):
    """``libcprobe-toctree``: a toctree that leaves out missing optional pages."""

    def run(self) -> list[nodes.Node]:
        optional: Sequence[str] = self.config.libcprobe_optional_pages
        lines: list[str] = []
        items: list[tuple[str, int]] = []
        for line, item in zip(self.content, self.content.items):
            name = _entry_docname(line)
            if line.strip() and name in optional and name not in self.env.found_docs:
                logger.info("libcprobe docs: %s is missing; left out of the toctree", name)
                continue
            lines.append(line)
            items.append(item)
        self.content = StringList(lines, items=items)
        return super().run()


class OptionalDocRole(ReferenceRole):
    """``optdoc``: a ``doc`` link to an optional page, plain text while it is missing."""

    def run(self) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        name = _entry_docname(self.target)
        if name in self.env.found_docs:
            return _DOC_ROLE(
                "std:doc", self.rawtext, self.text, self.lineno, self.inliner, self.options, []
            )
        logger.info(
            "libcprobe docs: %s is missing; a link to it is plain text",
            name,
            location=(self.env.docname, self.lineno),
        )
        return [nodes.inline(self.rawtext, self.title)], []


def constant_value(path: str) -> object:
    """The value of ``package.module.NAME``."""
    from importlib import import_module

    module, _, name = path.rpartition(".")
    return getattr(import_module(module), name)


def _format_constant(value: object) -> list[str]:
    if isinstance(value, (tuple, list, frozenset, set)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [item if isinstance(item, str) else repr(item) for item in items]
    if isinstance(value, int) and not isinstance(value, bool):
        mib = 1024 * 1024
        if value >= mib and value % mib == 0:
            return [f"{value} ({value // mib} MiB)"]
        return [str(value)]
    return [value if isinstance(value, str) else repr(value)]


class ConstantRole(SphinxRole):
    """``libcprobe-const``: a constant's value from the code, as literals."""

    def run(self) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        try:
            value = constant_value(self.text.strip())
        except (ImportError, AttributeError, ValueError) as exc:
            message = self.inliner.reporter.error(
                f"libcprobe-const: cannot read {self.text!r}: {exc}", line=self.lineno
            )
            return [nodes.problematic(self.rawtext, self.rawtext)], [message]
        result: list[nodes.Node] = []
        for i, item in enumerate(_format_constant(value)):
            if i:
                result.append(nodes.Text(", "))
            result.append(nodes.literal(item, item))
        return result, []


def _keep_public(
    app: Sphinx, what: str, name: str, obj: object, skip: bool, options: object
) -> bool | None:
    """autodoc-skip-member: document every member a module lists in ``__all__``."""
    if what != "module" or not skip:
        return None
    module = sys.modules.get(getattr(obj, "__module__", "") or "")
    if module is not None and name in getattr(module, "__all__", ()):
        return False
    return None


def _drop_inherited_noise(
    app: Sphinx, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    """autodoc-process-docstring: drop docstrings that describe a type, not the object."""
    text = [line for line in lines if line.strip()]
    if what in ("data", "attribute") and type(obj).__module__ == "builtins":
        own = [line for line in prepare_docstring(type(obj).__doc__ or "") if line.strip()]
        if text and text == own:
            lines.clear()
    if len(text) == 1 and text[0].startswith("Alias for field number "):
        lines.clear()


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("libcprobe_optional_pages", [], "env", [list])
    app.connect("autodoc-skip-member", _keep_public)
    app.connect("autodoc-process-docstring", _drop_inherited_noise)
    app.add_directive("libcprobe-cli", CliReference)
    app.add_directive("libcprobe-toctree", OptionalTocTree)
    app.add_role("optdoc", OptionalDocRole())
    app.add_role("libcprobe-const", ConstantRole())
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
