"""upstream/packaging/: the patch series for packaging is consistent (scripts/upstream-check runs
it for real: packaging's whole suite, the musl interpreters, pip)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from shared import load_script

ROOT = Path(__file__).resolve().parent.parent
SERIES = ROOT / "upstream" / "packaging"
FIXTURES = SERIES / "fixtures" / "tests" / "musllinux"
SDIST = (
    Path(os.environ.get("UPSTREAM_CHECK_DIR") or Path.home() / ".cache" / "libcprobe-upstream")
    / "downloads"
    / "packaging-26.3.tar.gz"
)

pytestmark = pytest.mark.skipif(not SERIES.is_dir(), reason="upstream/ is not in the sdist")


def _patches() -> list[Path]:
    return sorted(SERIES.glob("0*.patch"))


def test_series_is_numbered_and_touches_only_packaging_paths() -> None:
    patches = _patches()
    assert [p.name[:4] for p in patches] == [f"{i:04d}" for i in range(1, len(patches) + 1)]
    touched = set()
    for patch in patches:
        touched.update(re.findall(r"^\+\+\+ b/(\S+)", patch.read_text(), re.M))
    assert touched == {
        "CHANGELOG.rst",
        "src/packaging/_elffile.py",
        "src/packaging/_manylinux.py",
        "src/packaging/_musllinux.py",
        "tests/test_elffile.py",
        "tests/test_manylinux.py",
        "tests/test_musllinux.py",
    }


def test_added_lines_neither_use_libcprobe_nor_start_processes() -> None:
    added = [
        line[1:]
        for patch in _patches()
        for line in patch.read_text().splitlines()
        if line.startswith("+") and not line.startswith("+++")
    ]
    assert len(added) < 400  # small enough to review in one sitting
    assert not [line for line in added if "libcprobe" in line]
    assert not [line for line in added if re.search(r"\bimport subprocess\b", line)]
    musllinux = next(p for p in _patches() if "musllinux" in p.name).read_text()
    assert "-import subprocess\n" in musllinux


def test_fixtures_match_provenance_and_regenerate() -> None:
    provenance = json.loads((SERIES / "fixtures" / "PROVENANCE.json").read_text())
    assert sorted(provenance) == sorted(p.name for p in FIXTURES.iterdir())
    make = load_script(SERIES / "make-fixtures")
    for name, facts in provenance.items():
        data = (FIXTURES / name).read_bytes()
        assert len(data) == facts["size"] < 16 * 1024
        assert hashlib.sha256(data).hexdigest() == facts["sha256"]
        source, version = make.FIXTURES[name]
        original = (ROOT / "tests" / "fixtures" / source).read_bytes()
        assert make.minimise(original, version)[0] == data


@pytest.mark.skipif(not SDIST.is_file(), reason=f"no {SDIST} (scripts/upstream-check fetches it)")
@pytest.mark.skipif(shutil.which("patch") is None, reason="needs patch(1)")
def test_series_applies_to_the_sdist(tmp_path: Path) -> None:
    with tarfile.open(SDIST) as tar:
        # A release sdist, fetched by pip download; the "data" filter (PEP 706: 3.12, and the
        # security releases before it) where this Python has it.
        if hasattr(tarfile, "data_filter"):
            tar.extractall(tmp_path, filter="data")
        else:  # pragma: no cover - an older patch release
            tar.extractall(tmp_path)
    root = tmp_path / "packaging-26.3"
    subprocess.run([str(SERIES / "apply"), str(root)], check=True)
    musllinux = (root / "src" / "packaging" / "_musllinux.py").read_text()
    assert "subprocess" not in musllinux
    assert "_read_musl_version" in musllinux
    assert {p.name for p in FIXTURES.iterdir()} <= {
        p.name for p in (root / "tests" / "musllinux").iterdir()
    }
