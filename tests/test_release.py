"""Release metadata: the SPDX license and its file, the classifiers against Requires-Python, the
version against the changelog, what the sdist includes, and the license of every committed
fixture. (Building the sdist and wheel and ``twine check --strict`` run in scripts/dist-check.)"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

import libcprobe

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
#: Python versions libcprobe supports and tests (the standards: 3.9-3.13).
SUPPORTED = ["3.9", "3.10", "3.11", "3.12", "3.13"]
#: SPDX identifiers the fixtures' licenses may use.
KNOWN_SPDX = {
    "MIT",
    "LGPL-2.1-or-later",
    "GPL-2.0-only",
    "BSD-3-Clause",
    "Apache-2.0",
    "Python-2.0",
}


def pyproject() -> dict[str, Any]:
    if sys.version_info < (3, 11):
        pytest.skip("tomllib is new in Python 3.11")
    import tomllib

    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def test_license_is_spdx_with_its_file() -> None:
    data = pyproject()
    project = data["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License\n")
    # SPDX license expressions need flit_core 3.12; no license classifier beside them (PEP 639)
    assert "flit_core>=3.12,<4" in data["build-system"]["requires"]
    assert not [c for c in project["classifiers"] if c.startswith("License ::")]


def test_classifiers_match_requires_python() -> None:
    project = pyproject()["project"]
    assert project["requires-python"] == f">={SUPPORTED[0]}"
    classifiers = project["classifiers"]
    versions = [
        c.rsplit(" :: ", 1)[1]
        for c in classifiers
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]
    assert versions == SUPPORTED
    assert any(c.startswith("Development Status :: ") for c in classifiers)
    assert "Typing :: Typed" in classifiers
    assert len(project["keywords"]) >= 5


def test_sdist_includes_tests_docs_and_license() -> None:
    sdist = pyproject()["tool"]["flit"]["sdist"]
    for needed in ("LICENSE", "tests/", "docs/", "e2e/", "scripts/"):
        assert needed in sdist["include"]
    assert "docs/_build/" in sdist["exclude"]


def test_version_is_the_changelogs_newest() -> None:
    text = (ROOT / "docs" / "changelog.md").read_text(encoding="utf-8")
    newest = re.search(r"^## (\d+\.\d+\.\d+)\b", text, re.MULTILINE)
    assert newest is not None
    assert newest.group(1) == libcprobe.__version__ == "0.2.0"


def _spdx_ids(expression: str) -> set[str]:
    return {t for t in re.split(r"\s+|[()]", expression) if t and t not in ("AND", "OR", "WITH")}


def test_every_fixture_records_its_license() -> None:
    manifest = json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))
    entries = manifest["fixtures"]
    assert len(entries) >= 60
    for entry in entries:
        keys = list(entry)
        assert keys.index("license") == keys.index("provenance") + 1, entry["path"]
        license_ = entry["license"]
        assert set(license_) == {"spdx", "from"}, entry["path"]
        assert _spdx_ids(license_["spdx"]) <= KNOWN_SPDX, entry["path"]
        assert license_["from"], entry["path"]
    by_source = {(e["provenance"]["source"], e["license"]["spdx"]) for e in entries}
    assert ("debian", "MIT") in by_source  # musl
    assert ("debian", "LGPL-2.1-or-later") in by_source  # glibc
    wheels = json.loads((FIXTURES / "wheels" / "PROVENANCE.json").read_text(encoding="utf-8"))
    for wheel in wheels["wheels"]:
        assert _spdx_ids(wheel["license"]["spdx"]) <= KNOWN_SPDX, wheel["wheel"]
        assert wheel["license"]["from"].startswith("wheel METADATA"), wheel["wheel"]
    envs = json.loads((FIXTURES / "environments" / "PROVENANCE.json").read_text(encoding="utf-8"))
    for fixture in envs["fixtures"]:
        assert _spdx_ids(fixture["license"]["spdx"]) <= KNOWN_SPDX, fixture["path"]
        assert fixture["license"]["from"], fixture["path"]
    committed = {p.relative_to(FIXTURES).as_posix() for p in FIXTURES.rglob("*") if p.is_file()}
    described = {e["path"] for e in entries} | {f"wheels/{w['wheel']}" for w in wheels["wheels"]}
    described |= {f"environments/{f['path']}" for f in envs["fixtures"]}
    provenance_files = {"wheels/PROVENANCE.json", "environments/PROVENANCE.json"}
    undescribed = committed - described - {"README.md", "manifest.json"} - provenance_files
    assert not undescribed
