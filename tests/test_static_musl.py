"""Static musl programs recognised from musl's ``_start`` at ``e_entry`` (issue 12, item 1).

The fingerprints come from Debian's musl-dev crt1.o/rcrt1.o (src/libcprobe/_musl_start.py,
scripts/derive-musl-start); the programs in tests/fixtures/static/ were linked from them with
bfd and lld, static and static-PIE, for nine architectures, and with zig's own musl. Their
read-only data is zeroed, so no marker string can decide: only the entry code does."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

import libcprobe
from libcprobe._classify import _compile_start, _matches, musl_start_of
from libcprobe._elf import open_elf, read_elf
from libcprobe._musl_start import START_PATTERNS

FIXTURES = Path(__file__).parent / "fixtures"
MANIFEST: list[dict[str, Any]] = json.loads((FIXTURES / "manifest.json").read_text())["fixtures"]
STATIC = [e for e in MANIFEST if e["path"].startswith("static/")]
MUSL_PROGRAMS = [e for e in STATIC if e["expect"]["family"] == "musl" and "built" in e["path"]]
ZIG_MUSL = [e for e in STATIC if "/zig-cc-" in e["path"]]
NOT_MUSL = [e for e in MANIFEST if e["expect"]["family"] != "musl"]


def _start(path: Path) -> str | None:
    with open_elf(path) as elf:
        return musl_start_of(elf)


def test_the_corpus_covers_the_architectures() -> None:
    arches = {e["expect"]["arch"] for e in MUSL_PROGRAMS}
    assert {"x86_64", "i686", "aarch64", "armv7l", "ppc64le", "s390x", "riscv64"} <= arches
    linkers = {e["path"].split("/")[2].split("-")[1] for e in MUSL_PROGRAMS}
    assert linkers == {"bfd", "lld"}
    assert any(e["path"].endswith("-pie/puts") for e in MUSL_PROGRAMS)
    assert {e["expect"]["arch"] for e in ZIG_MUSL} == {"x86_64", "aarch64", "loongarch64"}


@pytest.mark.parametrize("entry", MUSL_PROGRAMS + ZIG_MUSL, ids=lambda e: e["path"])
def test_static_musl_program_is_musl_by_its_entry(entry: dict[str, Any]) -> None:
    path = FIXTURES / entry["path"]
    assert b"No error information" not in path.read_bytes()  # no marker string survived
    info = libcprobe.detect(path)
    assert info.family is libcprobe.Family.MUSL and info.linkage == "static"
    (ev,) = [e for e in info.evidence if e.fact == "family"]
    assert ev.source == "elf-entry" and "musl's _start" in ev.detail and "crt1.o" in ev.detail


@pytest.mark.parametrize("entry", NOT_MUSL, ids=lambda e: e["path"])
def test_no_false_positive(entry: dict[str, Any]) -> None:
    """Static glibc (busybox-static of nine Debian architectures), Go, zig without libc,
    glibc's own files and programs: the fingerprint never matches."""
    assert _start(FIXTURES / entry["path"]) is None


def test_zig_program_without_libc_has_no_family() -> None:
    """zig's own _start (no libc) is not musl's."""
    entries = [e for e in STATIC if "/zig-nolibc-" in e["path"]]
    assert len(entries) == 2
    for entry in entries:
        path = FIXTURES / entry["path"]
        assert _start(path) is None and libcprobe.detect(path).family is None


def test_zig_patched_musl_has_its_own_patterns() -> None:
    """zig's musl differs from upstream on riscv64 (it also clears fp and ra), ppc64le (a
    different literal offset) and has loongarch64: patterns derived from zig's crt1.o."""
    zig = {m for m, _c, _l, _p, source in START_PATTERNS if source.startswith("zig ")}
    assert {243, 21, 258} <= zig
    riscv = [p for m, _c, _l, p, s in START_PATTERNS if m == 243 and s.startswith("zig ")]
    code = bytes.fromhex("97310000 93818168 0144 8140 0a85 97050000 93850500 137101ff")
    assert _matches(code, _compile_start(riscv[0]))
    assert not _matches(code, _compile_start(RISCV))


def test_patterns_name_their_source_and_compile() -> None:
    keys = set()
    for machine, cls, little, pattern, source in START_PATTERNS:
        keys.add((machine, cls, little))
        assert source.startswith(("musl-dev ", "big-endian from musl-dev ", "zig ")), source
        assert ("crt1.o" in source) and _compile_start(pattern)
    # ppc64 and mips64 big-endian are derived; s390x is Debian's own big-endian build
    assert {(21, 64, False), (8, 64, False), (22, 64, False)} <= keys


RISCV = next(p for m, _c, _l, p, s in START_PATTERNS if m == 243 and s.startswith("musl-dev"))


@pytest.mark.parametrize(
    ("lla_a1", "tail"),
    [
        (bytes.fromhex("97050000 93850500"), bytes.fromhex("17030000 67000300")),  # as in .o
        (bytes.fromhex("93050000"), bytes.fromhex("6f004000")),  # li a1,0 ; j
        (bytes.fromhex("93050000"), bytes.fromhex("09a0")),  # li a1,0 ; c.j (bfd)
    ],
)
def test_riscv_relaxed_forms_match(lla_a1: bytes, tail: bytes) -> None:
    code = bytes.fromhex("97310000 93818168 0a85") + lla_a1 + bytes.fromhex("137101ff") + tail
    assert _matches(code, _compile_start(RISCV))
    assert not _matches(code[: -len(tail) - 1], _compile_start(RISCV))
    wrong = bytearray(code)
    wrong[8] ^= 1  # mv a0,sp -> something else
    assert not _matches(bytes(wrong), _compile_start(RISCV))


def test_entry_read_is_bounded_and_through_the_segments() -> None:
    path = FIXTURES / MUSL_PROGRAMS[0]["path"]
    with open_elf(path) as elf:
        assert len(elf.entry_code(128)) == 128
        assert elf.entry_code(0) == b""
    data = bytearray(path.read_bytes())
    unmapped = 0xFFFF_FFFF_FFFF_0000 if data[4] == 2 else 0xFFFF_0000
    struct.pack_into("<Q" if data[4] == 2 else "<I", data, 24, unmapped)
    elf = read_elf(bytes(data))
    assert elf.entry_code(128) == b"" and musl_start_of(elf) is None


def test_without_scan_the_entry_is_not_read() -> None:
    with open_elf(FIXTURES / MUSL_PROGRAMS[0]["path"]) as elf:
        from libcprobe._classify import classify

        assert classify(elf, scan=False).family is None
