"""Sphinx configuration for the libcprobe documentation.

Build (warnings are errors and every cross-reference must resolve, as in ``scripts/test``)::

    python -m sphinx -W -n --keep-going -b html docs docs/_build/html

Markdown pages are read by MyST; the API reference comes from the docstrings (autodoc) and the
CLI reference from ``libcprobe._cli.build_parser()`` (``_ext/libcprobe_docs.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The checkout's own libcprobe first, so the docs describe this source tree even when another
# version is installed; then the local Sphinx extension.
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE / "_ext"))

import re  # noqa: E402

from docutils import nodes  # noqa: E402
from sphinx.addnodes import pending_xref  # noqa: E402
from sphinx.application import Sphinx  # noqa: E402

import libcprobe  # noqa: E402

project = "libcprobe"
author = "libcprobe developers"
copyright = "libcprobe developers"
release = libcprobe.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "libcprobe_docs",
]

root_doc = "index"
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
# Pages others write and that may not exist yet: left out of the toctree, and links to them
# written with the {optdoc} role become plain text, instead of failing the -W build.
libcprobe_optional_pages = ["upstream", "e2e", "errors"]

# MyST: "#anchor" links to headings down to ###.
myst_heading_anchors = 3

# autodoc: the docstrings are Google style ("Args:", "Attributes:", "Returns").
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True
napoleon_use_rtype = False

# Cross-references are checked (sphinx -n, as scripts/test builds). The build is offline (no
# intersphinx inventory of the Python docs), so standard-library names stay unlinked.
nitpicky = True
nitpick_ignore = [("py:class", "os.PathLike")]

html_theme = "furo"
html_title = f"libcprobe {release}"
html_static_path: list[str] = []


# -- public names under the name users import ----------------------------------------------
# The public classes and functions are defined in private modules (libcprobe._model, ...) and
# re-exported; autodoc writes annotations, "Bases:" and attribute types with the defining
# module (libcprobe._model.Family). Rewrite those to the public name (libcprobe.Family), as
# link targets and as text, before references are resolved. (Setting __module__ instead would
# make autodoc read the member order and the annotations from the wrong module.)


def _public_paths() -> dict[str, str]:
    paths = {}
    for name in libcprobe.__all__:
        obj = getattr(libcprobe, name)
        module = getattr(obj, "__module__", None)
        if isinstance(module, str) and module.startswith("libcprobe._"):
            paths[f"{module}.{obj.__qualname__}"] = f"libcprobe.{name}"
    return paths


PUBLIC_PATHS = _public_paths()
_PRIVATE_PATH = re.compile("|".join(re.escape(p) for p in sorted(PUBLIC_PATHS, key=len)[::-1]))


def _publicise(text: str) -> str:
    return _PRIVATE_PATH.sub(lambda m: PUBLIC_PATHS[m.group(0)], text)


def publish_names(app: Sphinx, doctree: nodes.document) -> None:
    for ref in doctree.findall(pending_xref):
        target = ref.get("reftarget", "")
        ref["reftarget"] = PUBLIC_PATHS.get(target, target)
    for text in list(doctree.findall(nodes.Text)):
        new = _publicise(str(text))
        if new != str(text):
            text.parent.replace(text, nodes.Text(new))


def setup(app: Sphinx) -> None:
    app.connect("doctree-read", publish_names)
