"""Sphinx configuration for the libcprobe documentation.

Build (warnings are errors, as in ``scripts/test``)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

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

html_theme = "furo"
html_title = f"libcprobe {release}"
html_static_path: list[str] = []
