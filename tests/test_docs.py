"""The documentation: every example in docs/*.md and README.md runs, the API and CLI references
are complete, and the site builds with warnings as errors.

Examples are fenced code blocks:

- ``python``: executed; the blocks of one page share one namespace, in page order;
- ``pycon`` (or ``doctest``): run as doctests (ELLIPSIS, NORMALIZE_WHITESPACE) in that namespace;
- ``console``: each ``$ libcprobe ...`` line (optionally after ``VAR=value`` assignments) is run
  with this interpreter; the exit status must be 0 or 1 (not a usage error, no traceback), and
  the output is compared loosely with the lines shown under it: the shape of the first line, the
  ``key:`` labels of summary output, the top-level keys of JSON output. Other commands
  (``pip install``, ``scripts/test``) are not run.

A block right after an HTML comment ``<!-- notest -->`` (or ``<!-- notest: why -->``) is not
run. Every page runs in a scratch directory holding the files the examples name, copied from
tests/fixtures (see ``SANDBOX``): ``alpine-rootfs`` (an aarch64 musl root), a static musl
program standing in for a static interpreter, a manylinux extension module, a manylinux wheel
(greenlet) and a text file.
"""

from __future__ import annotations

import argparse
import ast
import doctest
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pytest

import libcprobe
from libcprobe._cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FIXTURES = ROOT / "tests" / "fixtures"
PAGES = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]
#: Pages written by others that the docs build must tolerate missing (docs/conf.py).
OPTIONAL_PAGES = ("upstream", "e2e", "errors")

GREENLET = "greenlet-3.2.5-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
#: Scratch-directory path -> fixture it is copied from (None: a text file).
SANDBOX: dict[str, Optional[str]] = {
    "alpine-rootfs/lib/ld-musl-aarch64.so.1": "debian/bookworm/arm64/musl/libc.so",
    "python-static/bin/python3": "built/musl-gcc-static/hello",
    "ext.cpython-311-x86_64-linux-gnu.so": (
        "pypi/markupsafe-3.0.2-manylinux_2_17_x86_64/_speedups.cpython-311-x86_64-linux-gnu.so"
    ),
    "README.txt": None,
    GREENLET: f"wheels/{GREENLET}",
}

PYTHON = {"python", "py", "python3"}
PYCON = {"pycon", "doctest"}
CONSOLE = {"console", "shell-session"}

_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")
_NOTEST = re.compile(r"<!--\s*notest\b.*-->")
_KEY = re.compile(r"^([a-z][a-z ]*):(?:\s|$)")
_ARCH = re.compile(r"x86_64|aarch64|i686|armv7l|armv8l|ppc64le|ppc64|s390x|riscv64|loongarch64")
_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    path: Path
    line: int  # the line of the opening fence, 1-based
    lang: str
    text: str
    notest: bool

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """Every fenced code block of a Markdown file, nested fences left inside their parent."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        fence, info = match["fence"], match["info"].split()
        lang = info[0] if info else ""
        if lang in ("{code-block}", "{code}", "{sourcecode}") and len(info) > 1:
            lang = info[1]
        end = i + 1
        while end < len(lines):
            closing = lines[end].strip()
            if closing.startswith(fence) and set(closing) == {fence[0]}:
                break
            end += 1
        before = [line.strip() for line in lines[:i] if line.strip()]
        notest = bool(before) and _NOTEST.fullmatch(before[-1]) is not None
        body = textwrap.dedent("\n".join(lines[i + 1 : end])) + "\n"
        found.append(Block(path, i + 1, lang.lower(), body, notest))
        i = end + 1
    return found


# -- the scratch directory -------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (FIXTURES / "manifest.json").exists():
        pytest.skip("tests/fixtures is missing (scripts/make-fixtures makes it)")
    where = tmp_path_factory.mktemp("docs-sandbox")
    for name, fixture in SANDBOX.items():
        target = where / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if fixture is None:
            target.write_text("Not an ELF file.\n")
            continue
        source = FIXTURES / fixture
        assert source.exists(), f"the docs examples need {source.relative_to(ROOT)}"
        shutil.copyfile(source, target)
    return where


# -- running blocks ----------------------------------------------------------------------------


def run_python(block: Block, namespace: dict[str, Any]) -> None:
    # Pad with newlines so that tracebacks name the line of the page.
    code = compile("\n" * block.line + block.text, str(block.path), "exec")
    exec(code, namespace)


def run_pycon(block: Block, namespace: dict[str, Any]) -> None:
    test = doctest.DocTestParser().get_doctest(
        block.text, namespace, block.where(), str(block.path), block.line
    )
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    report = io.StringIO()
    runner.run(test, out=report.write, clear_globs=False)
    if runner.failures:
        pytest.fail(f"{block.where()}: doctest failed\n{report.getvalue()}", pytrace=False)


def console_commands(text: str) -> list[tuple[str, list[str]]]:
    """The ``$ command`` lines of a console block, each with the output lines shown under it."""
    commands: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("$ "):
            commands.append((line[2:].strip(), []))
        elif commands:
            commands[-1][1].append(line)
    return commands


def libcprobe_argv(command: str) -> Optional[tuple[dict[str, str], list[str]]]:
    """(environment assignments, arguments) of a ``libcprobe`` command; None for others."""
    words = shlex.split(command)
    env: dict[str, str] = {}
    while words and _ASSIGNMENT.match(words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    if words[:1] == ["libcprobe"]:
        return env, words[1:]
    if words[:3] in (["python", "-m", "libcprobe"], ["python3", "-m", "libcprobe"]):
        return env, words[3:]
    return None


def shape(line: str) -> str:
    """The first word of a line, architecture names and numbers generalised."""
    words = line.split()
    return re.sub(r"\d+", "N", _ARCH.sub("ARCH", words[0])) if words else ""


def keys(lines: list[str]) -> list[str]:
    return [m[1] for m in map(_KEY.match, lines) if m is not None]


def check_output(where: str, shown: list[str], actual: list[str]) -> None:
    shown = [line for line in shown if line.strip()]
    if not shown:
        return
    assert actual, f"{where}: no output, expected {shown[0]!r}"
    assert shape(actual[0]) == shape(shown[0]), f"{where}: {actual[0]!r} vs {shown[0]!r}"
    if shown[0] == "{":
        expected_json, actual_json = json.loads("\n".join(shown)), json.loads("\n".join(actual))
        assert sorted(actual_json) == sorted(expected_json), where
    else:
        assert keys(actual) == keys(shown), f"{where}: labels differ\n" + "\n".join(actual)


def run_console(block: Block, cwd: Path) -> None:
    for command, shown in console_commands(block.text):
        parsed = libcprobe_argv(command)
        if parsed is None:
            continue
        assignments, argv = parsed
        env = {k: v for k, v in os.environ.items() if k != "LIBCPROBE_LIBC"}
        env.update(assignments)
        proc = subprocess.run(
            [sys.executable, "-m", "libcprobe", *argv],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        where = f"{block.where()}: $ {command}"
        assert "Traceback" not in proc.stderr, f"{where}\n{proc.stderr}"
        # 1 is an answer too (a file that is not ELF, a `check` problem); 2 is a usage error.
        assert proc.returncode in (0, 1), f"{where}: exit status {proc.returncode}\n{proc.stderr}"
        check_output(where, shown, (proc.stdout + proc.stderr).splitlines())


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_examples(page: Path, sandbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(sandbox)
    saved = dict(os.environ)
    os.environ.pop("LIBCPROBE_LIBC", None)
    libcprobe.clear_cache()
    namespace: dict[str, Any] = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    try:
        for block in blocks(page):
            if block.notest:
                continue
            if block.lang in PYTHON:
                run_python(block, namespace)
            elif block.lang in PYCON:
                run_pycon(block, namespace)
            elif block.lang in CONSOLE:
                run_console(block, sandbox)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        libcprobe.clear_cache()


# -- the parser of this file ---------------------------------------------------------------


def test_block_parser(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n```python\nx = 1\n```\n\n<!-- notest: needs a network -->\n"
        "```pycon\n>>> 1\n1\n```\n\n````md\n```python\nnot a block\n```\n````\n\n"
        "- item\n\n  ```console\n  $ libcprobe tags\n  linux_x86_64\n  ```\n",
        encoding="utf-8",
    )
    found = [(b.lang, b.line, b.notest, b.text) for b in blocks(page)]
    assert found == [
        ("python", 3, False, "x = 1\n"),
        ("pycon", 8, True, ">>> 1\n1\n"),
        ("md", 13, False, "```python\nnot a block\n```\n"),
        ("console", 21, False, "$ libcprobe tags\nlinux_x86_64\n"),
    ]
    assert console_commands(found[3][3]) == [("libcprobe tags", ["linux_x86_64"])]
    assert libcprobe_argv("LIBCPROBE_LIBC=musl-1.2 libcprobe tags --json") == (
        {"LIBCPROBE_LIBC": "musl-1.2"},
        ["tags", "--json"],
    )
    assert libcprobe_argv("pip install .") is None
    assert shape("linux_aarch64") == shape("linux_x86_64") == "linux_ARCH"
    assert keys(["libc:       musl 1.2.3", "why:", "  family = musl: ..."]) == ["libc", "why"]


# -- completeness of the references ----------------------------------------------------------


def test_api_reference_names_every_public_name() -> None:
    text = (DOCS / "api.rst").read_text(encoding="utf-8")
    directive = r"^\.\. auto(?:function|class|exception|data)::\s+libcprobe\.(\w+)\s*$"
    documented = re.findall(directive, text, re.MULTILINE)
    assert sorted(documented) == sorted(libcprobe.__all__)
    assert re.search(r"^\.\. automodule:: libcprobe\.compat\s*$", text, re.MULTILINE)


def _evidence_sources_in_code() -> set[str]:
    """Every ``source`` evidence may have: the values of ``_model.Source`` (the ``Literal``
    that ``mypy --strict`` holds every ``Evidence(...)`` and ``EvidenceLog`` call to), and the
    ``source`` of any ``Evidence(fact, value, source, ...)`` built in the package."""
    sources: set[str] = set()
    for module in (ROOT / "src" / "libcprobe").glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Assign)
                and [getattr(t, "id", None) for t in node.targets] == ["Source"]
                and isinstance(node.value, ast.Subscript)
            ):
                literal = node.value.slice
                for value in literal.elts if isinstance(literal, ast.Tuple) else [literal]:
                    assert isinstance(value, ast.Constant)
                    sources.add(str(value.value))
            if not isinstance(node, ast.Call) or len(node.args) < 3:
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else None
            source = node.args[2]
            if name == "Evidence" and isinstance(source, ast.Constant):
                sources.add(str(source.value))
    return sources


def test_every_evidence_source_is_documented() -> None:
    docstring = libcprobe.Evidence.__doc__ or ""
    listed = set(re.findall(r"``([a-z]+(?:-[a-z]+)*)``", docstring.split("Sources:", 1)[1]))
    in_code = _evidence_sources_in_code()
    assert in_code, "no Evidence(...) calls found: has the package moved?"
    page = (DOCS / "how-it-works.md").read_text(encoding="utf-8")
    table = set(re.findall(r"^\| `([a-z-]+)` \|", page, re.MULTILINE))
    assert in_code <= listed, f"not in Evidence's docstring: {sorted(in_code - listed)}"
    assert listed <= table, f"not in docs/how-it-works.md: {sorted(listed - table)}"


# -- the build -----------------------------------------------------------------------------------


def _subcommands() -> list[str]:
    names: list[str] = []
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            names.extend(action.choices)
    return names


def sphinx_build(source: Path, out: Path) -> subprocess.CompletedProcess[str]:
    for module in ("sphinx", "myst_parser", "furo"):
        pytest.importorskip(module)
    argv = ["-W", "-n", "--keep-going", "-q", "-b", "html", "-d", str(out / ".doctrees")]
    return subprocess.run(
        [sys.executable, "-m", "sphinx", *argv, str(source), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_docs_build_without_warnings(tmp_path: Path) -> None:
    proc = sphinx_build(DOCS, tmp_path / "html")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cli = (tmp_path / "html" / "cli.html").read_text(encoding="utf-8")
    assert "usage: libcprobe [-h]" in cli
    for name in _subcommands():
        assert f'id="libcprobe-{name}"' in cli, f"libcprobe {name} is missing from cli.html"
        assert f"usage: libcprobe {name} [-h]" in cli
    api = (tmp_path / "html" / "api.html").read_text(encoding="utf-8")
    for name in libcprobe.__all__:
        assert f'id="libcprobe.{name}"' in api, f"libcprobe.{name} is missing from api.html"
    # public names render as users import them (libcprobe.Family), never by their private
    # defining module (libcprobe._model.Family), in text, titles or links
    public = "|".join(re.escape(name) for name in libcprobe.__all__)
    private = re.findall(rf"libcprobe\._\w+\.(?:{public})\b", api)
    assert not private, sorted(set(private))


def test_docs_build_without_the_optional_pages(tmp_path: Path) -> None:
    """The pages others write (upstream, e2e, errors) may be missing: no warning then."""
    source = tmp_path / "docs"
    shutil.copytree(DOCS, source, ignore=shutil.ignore_patterns("_build"))
    for name in OPTIONAL_PAGES:
        for page in source.glob(f"{name}.*"):
            page.unlink()
    proc = sphinx_build(source, tmp_path / "html")
    assert proc.returncode == 0, proc.stdout + proc.stderr
