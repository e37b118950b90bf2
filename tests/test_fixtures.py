"""Real binaries (tests/fixtures/manifest.json): inspect() matches the manifest, the reader
matches pyelftools on every fact, and detect(root=...) is exact on roots built from the real
Debian packages of several releases and architectures."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

import libcprobe
import oracle
from libcprobe import Family
from libcprobe._cli import main
from libcprobe._elf import read_elf
from shared import RECORDED_KEYS

FIXTURES = Path(__file__).parent / "fixtures"
MANIFEST: list[dict[str, Any]] = json.loads((FIXTURES / "manifest.json").read_text())["fixtures"]
IDS = [f["path"] for f in MANIFEST]


def test_manifest_covers_the_required_architectures() -> None:
    arches = {f["provenance"].get("architecture") for f in MANIFEST}
    assert {"amd64", "i386", "arm64", "armhf", "armel", "ppc64el", "s390x"} <= arches
    assert {"riscv64", "mips64el"} & arches
    releases = {
        f["provenance"].get("release") for f in MANIFEST if f["provenance"]["source"] == "debian"
    }
    assert {"bullseye", "bookworm", "trixie"} <= releases


@pytest.mark.parametrize("entry", MANIFEST, ids=IDS)
def test_fixture_bytes_match_the_manifest(entry: dict[str, Any]) -> None:
    data = (FIXTURES / entry["path"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["minimised"]["sha256"]
    assert len(data) == entry["provenance"]["size"]  # minimising keeps every offset


@pytest.mark.parametrize("entry", MANIFEST, ids=IDS)
def test_inspect_matches_the_manifest(entry: dict[str, Any]) -> None:
    report = libcprobe.inspect(FIXTURES / entry["path"]).to_dict()
    assert report["error"] is None
    got = {k: report[k] for k in RECORDED_KEYS}
    want = {k: entry["expect"][k] for k in RECORDED_KEYS}
    assert got == want


def _mine(elf: Any) -> dict[str, Any]:
    return {
        "elf_class": elf.elf_class,
        "little_endian": elf.little_endian,
        "osabi": elf.osabi,
        "type": elf.type,
        "machine": elf.machine,
        "flags": elf.flags,
        "entry": elf.entry,
        "program_headers": [tuple(p) for p in elf.program_headers],
        "interpreter": elf.interpreter,
        "dynamic": [tuple(d) for d in elf.dynamic],
        "needed": list(elf.needed),
        "soname": elf.soname,
        "rpath": elf.rpath,
        "runpath": elf.runpath,
        "notes": [tuple(n) for n in elf.notes],
        "version_needs": [(v.file, v.names) for v in elf.version_needs],
        "version_definitions": list(elf.version_definitions),
    }


@pytest.mark.parametrize("entry", MANIFEST, ids=IDS)
def test_reader_matches_pyelftools(entry: dict[str, Any]) -> None:
    """Differential test: every fact the reader extracts, against pyelftools."""
    path = FIXTURES / entry["path"]
    assert _mine(read_elf(path)) == oracle.facts(path.read_bytes())


def test_inspect_json_over_all_fixtures_matches_the_manifest() -> None:
    out = io.StringIO()
    assert main(["inspect", "--json", *[str(FIXTURES / p) for p in IDS]], out=out) == 0
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [{k: r[k] for k in RECORDED_KEYS} for r in rows] == [
        {k: f["expect"][k] for k in RECORDED_KEYS} for f in MANIFEST
    ]


# -- roots from the real packages ----------------------------------------------------------

DEBIAN = [
    f
    for f in MANIFEST
    if f["provenance"]["source"] == "debian" and f["provenance"]["package"] in ("musl", "libc6")
]


def _install(root: Path, entry: dict[str, Any]) -> None:
    """Put a fixture where its package puts it, with the package's symlinks."""
    prov = entry["provenance"]
    dest = root / prov["member"]
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / entry["path"], dest)
    for link, target in prov.get("links", {}).items():
        where = root / link
        where.parent.mkdir(parents=True, exist_ok=True)
        if not where.is_symlink() and not where.exists():
            where.symlink_to(target)


def _groups() -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for entry in DEBIAN:
        prov = entry["provenance"]
        groups[(prov["release"], prov["architecture"], prov["package"])].append(entry)
    return dict(groups)


GROUPS = _groups()


@pytest.mark.parametrize("key", sorted(GROUPS), ids=["-".join(k) for k in sorted(GROUPS)])
def test_root_of_one_package(key: tuple[str, str, str], tmp_path: Path) -> None:
    """root= on an unpacked musl:<arch> or libc6:<arch>: family, version, arch exact."""
    entries = GROUPS[key]
    for entry in entries:
        _install(tmp_path, entry)
    info = libcprobe.detect(root=tmp_path)
    expect = entries[0]["expect"]
    assert info.family is Family(expect["family"]), info.evidence
    assert str(info.version) == expect["libc_version"]
    assert info.arch == expect["arch"] and info.root == str(tmp_path)


@pytest.mark.parametrize(
    "release_arch",
    sorted(
        {
            (k[0], k[1])
            for k in GROUPS
            if (k[0], k[1], "libc6") in GROUPS and (k[0], k[1], "musl") in GROUPS
        }
    ),
    ids=lambda ra: "-".join(ra),
)
def test_glibc_root_with_musl_installed_is_glibc(
    release_arch: tuple[str, str], tmp_path: Path
) -> None:
    """Debian's musl package on a glibc system: a stray ld-musl-* must not make it musl."""
    for package in ("musl", "libc6"):
        for entry in GROUPS[(*release_arch, package)]:
            _install(tmp_path, entry)
    info = libcprobe.detect(root=tmp_path)
    assert info.family is Family.GLIBC
    assert any("also present" in e.detail for e in info.evidence)


BUILT_IN_ROOTS = [
    ("built/aarch64-linux-gnu-gcc-dynamic/hello", ("bookworm", "arm64", "libc6")),
    ("built/gcc-m32-dynamic/hello", ("bookworm", "i386", "libc6")),
    ("built/musl-gcc-dynamic/hello", ("bookworm", "amd64", "musl")),
    ("built/gcc-dynamic/hello", ("trixie", "amd64", "libc6")),
]


@pytest.mark.parametrize(("program", "key"), BUILT_IN_ROOTS, ids=[p for p, _ in BUILT_IN_ROOTS])
def test_program_in_a_foreign_root(program: str, key: tuple[str, str, str], tmp_path: Path) -> None:
    """A program's PT_INTERP and libc are resolved inside the root, whatever the host is."""
    if key not in GROUPS:
        pytest.skip(f"no fixture for {key}")
    for entry in GROUPS[key]:
        _install(tmp_path, entry)
    (tmp_path / "usr/bin").mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / program, tmp_path / "usr/bin/python3")
    info = libcprobe.detect(root=tmp_path)
    expect = GROUPS[key][0]["expect"]
    assert info.executable == "/usr/bin/python3" and info.linkage == "dynamic"
    assert info.family is Family(expect["family"]) and str(info.version) == expect["libc_version"]
    assert info.library is not None and info.library.startswith("/")
    assert not os.path.isabs(info.library) or str(tmp_path) not in info.library
    if info.family is Family.GLIBC:
        assert info.library.endswith(("libc.so.6", ".so")), info.library


def test_x32_program() -> None:
    entry = next((f for f in MANIFEST if f["expect"]["arch"] == "x32"), None)
    if entry is None:
        pytest.skip("no x32 fixture")
    info = libcprobe.detect(FIXTURES / entry["path"])
    assert info.arch == "x32" and info.family is Family.GLIBC
    assert info.platform_tags() in ([], ["linux_x32"])
