"""The layout docs/architecture.md describes, checked: every module is in its table, each
imports only from its own layer and the layers above it, a few standard modules are imported
only where they belong, and ``detect()`` loads nothing of the audit side."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "src" / "libcprobe"
DOC = REPO / "docs" / "architecture.md"

#: The layers, in order: a module may import its own layer and those before it.
LAYERS = ("base", "reader", "model", "family rules", "detection", "audit", "front")

#: Standard modules -> the layers (or single modules) allowed to import them.
RESTRICTED = {
    "argparse": {"_cli"},
    "textwrap": {"_cli"},
    "subprocess": {"_execute"},
    "ctypes": set(),
    "zipfile": {"audit", "front"},
    "zlib": {"audit", "front"},
    "json": {"audit", "front"},
}

AUDIT_SIDE_MODULES = ("zipfile", "argparse", "json")


def _table() -> dict[str, tuple[str, bool]]:
    """Module name -> (layer, still landing) from the doc's table."""
    rows: dict[str, tuple[str, bool]] = {}
    for line in DOC.read_text().splitlines():
        m = re.fullmatch(r"\| ([a-z ]+) \| `(\w+)\.py` \| (.*) \|", line)
        if m:
            rows[m.group(2)] = (m.group(1), "landing with issue" in m.group(3))
    return rows


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, lazily or only for type checkers included: package
    modules as ``_name`` (the package itself as ``__init__``), others by their top name."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                found.add((node.module or "").split(".")[0])
            elif node.module:
                found.add(node.module.split(".")[0])
            else:  # from . import x
                found.add("__init__")
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
    return found


def _modules() -> list[str]:
    return sorted(p.stem for p in PACKAGE.glob("*.py"))


def test_every_module_is_in_the_table() -> None:
    table = _table()
    assert set(table[m][0] for m in table) <= set(LAYERS), "a layer not in LAYERS"
    missing = [m for m in _modules() if m not in table]
    assert not missing, f"add {missing} to docs/architecture.md's table, in their layer"
    gone = [m for m, (_, landing) in table.items() if not landing and m not in _modules()]
    assert not gone, f"docs/architecture.md lists modules that do not exist: {gone}"


@pytest.mark.parametrize("module", _modules())
def test_imports_follow_the_layers(module: str) -> None:
    table = _table()
    if module not in table:
        pytest.skip("not in the table (test_every_module_is_in_the_table fails)")
    rank = LAYERS.index(table[module][0])
    own = set(_modules())
    for name in sorted(_imports(PACKAGE / f"{module}.py")):
        if name in own:
            other = LAYERS.index(table[name][0])
            assert other <= rank, (
                f"{module} ({LAYERS[rank]}) imports {name} ({LAYERS[other]}), a later layer"
            )
        allowed = RESTRICTED.get(name)
        if allowed is not None:
            assert module in allowed or table[module][0] in allowed, (
                f"{module} imports {name}, which only {sorted(allowed) or 'no module'} may"
            )


def test_detect_imports_nothing_of_the_audit_side() -> None:
    """``detect()`` in a fresh interpreter: no audit module, no zipfile, argparse or json."""
    code = (
        "import sys, libcprobe; libcprobe.detect(); "
        "print('\\n'.join(sorted(m for m in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    loaded = set(out.split())
    audit = {f"libcprobe.{m}" for m, (layer, _) in _table().items() if layer in ("audit", "front")}
    audit -= {"libcprobe.__init__"}
    assert not loaded & audit, sorted(loaded & audit)
    assert not loaded & set(AUDIT_SIDE_MODULES), sorted(loaded & set(AUDIT_SIDE_MODULES))
    assert "libcprobe._detect" in loaded  # the probe did run


def test_every_module_says_its_job() -> None:
    """Each module has a docstring: its one job, said in the module as in the table."""
    for module in _modules():
        tree = ast.parse((PACKAGE / f"{module}.py").read_text())
        assert ast.get_docstring(tree), f"{module}.py has no docstring"
