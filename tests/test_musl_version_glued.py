"""musl's version string glued to the tail of another string (issue 12, item 2): the rule rests
on musl's structure (the ``musl libc`` usage text, ``__libc_version`` a NUL-terminated array of
its own whose major version is 0 or 1), not on the bytes before it."""

from __future__ import annotations

from pathlib import Path

import pytest

import libcprobe
from libcprobe._libc_strings import find_musl_version

FIXTURES = Path(__file__).parent / "fixtures"
GLUED = FIXTURES / "static" / "synthetic" / "musl-version-glued" / "libc.so"
USAGE = b"musl libc (aarch64)\nVersion %s\nDynamic Program Loader\n\0"


def _version(rodata: bytes) -> str | None:
    found = find_musl_version([(0x1000, rodata)])
    return None if found is None else found.text


@pytest.mark.parametrize(
    ("before", "version"),
    [
        (b"\0", "1.2.5"),
        (b"/proc/se", "1.2.5"),  # the tail of another string, no NUL between
        (b"/dev/tty", "1.2.5"),
        (b"abc", "1.1.24"),
        (b"/proc/se", "1.2.5-git-3-gabcdef"),
        (b"\xff\x3f", "1.2.3"),  # after a float constant (i386)
    ],
)
def test_version_after_other_bytes(before: bytes, version: str) -> None:
    rodata = USAGE + b"x" * 64 + b"\0" + before + version.encode() + b"\0" + b"\0" * 16
    assert _version(rodata) == version


@pytest.mark.parametrize(
    "decoy",
    [
        b"LINUX_2.6.39\0",  # the vDSO version name, nearer the usage text on aarch64
        b"LINUX_1.2.3\0",  # a symbol version name, even with musl's major
        b"GLIBC_2.17\0",
        b"x21.2.5\0",  # the tail of a longer number
        b"abc2.6.1\0",  # glued, but not musl's major version
        b"v10.2.5\0",
        b"ver.1.2.5\0",
        b"a-1.2.5\0",
    ],
)
def test_version_like_strings_are_rejected(decoy: bytes) -> None:
    assert _version(USAGE + b"\0" + decoy + b"\0" * 8) is None
    real = USAGE + b"\0" + decoy + b"\0" * 200 + b"\x001.2.4\0"
    assert _version(real) == "1.2.4"


def test_a_clean_version_wins_over_a_nearer_glued_one() -> None:
    rodata = USAGE + b"abc1.0.0\0" + b"\0" * 300 + b"\x001.2.5\0"
    assert _version(rodata) == "1.2.5"


def test_no_usage_text_no_version() -> None:
    assert _version(b"\0" * 32 + b"/proc/se1.2.5\0") is None


def test_real_loader_with_the_glued_layout() -> None:
    """The trixie arm64 loader, its read-only data rearranged as the issue saw it (synthetic:
    see the manifest); before the rule its version was None."""
    data = GLUED.read_bytes()
    assert b"/proc/se1.2.5\0" in data and b"LINUX_2.6.39\0" in data
    info = libcprobe.detect(GLUED)
    assert info.family is libcprobe.Family.MUSL and str(info.version) == "1.2.5"
    assert any("version string '1.2.5'" in e.detail for e in info.evidence)
