"""What a libc's read-only data says about it: the musl version, the glibc release banner, and
the marker strings that tell a static musl binary from a static glibc one.

Everything here works on ``(offset, bytes)`` chunks from :meth:`ELFFile.readonly_data`; nothing
is executed.
"""

from __future__ import annotations

from ._model import Family, LibcVersion

TYPE_CHECKING = False  # typing and collections.abc only for type checkers: see _records.py
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterator
    from typing import NamedTuple, Optional
else:
    from ._records import NamedTuple

__all__ = [
    "Found",
    "find_glibc_banner",
    "find_last_glibc_banner",
    "find_musl_version",
    "find_static_libc",
    "glibc_version",
]

Chunks = list[tuple[int, bytes]]


class Found(NamedTuple):
    """A string found in a file: the parsed value, the raw text, its file offset."""

    version: LibcVersion
    text: str
    offset: int


# musl's dynamic linker prints "musl libc (<arch>)\nVersion %s\n..." when run directly
# (ldso/dynlink.c); older releases print "musl libc\nVersion %s". The %s is
# __libc_version (src/internal/version.c), a separate NUL-terminated string in .rodata, set
# from the VERSION file or from `git describe` (tools/version.sh: "1.2.5-git-3-gabcdef").
MUSL_MARKER = b"musl libc"
# The version ends with a NUL; what precedes it need not be a NUL (on i386 the linker packs it
# right after a float constant), but it must not be the tail of a longer word or number: on
# aarch64 the vDSO version name "LINUX_2.6.39" lies nearer the usage text than the version.
# The scan starts at the first dot: ".<minor>.<patch>[-<suffix>]\0" (what the pattern
# \.\d{1,3}\.\d{1,3}(?:-[0-9A-Za-z][0-9A-Za-z.+_-]{0,63})?\x00 matches), found with bytes.find
# for each dot (a one-byte find runs at memchr speed), not with re, which costs more to import
# than the whole musl detection does; the major number and the character before it are checked
# by hand.
_DIGITS = frozenset(b"0123456789")
_SUFFIX_FIRST = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_SUFFIX = _SUFFIX_FIRST | frozenset(b".+_-")
_LETTERS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_WORDISH = _LETTERS | frozenset(b"0123456789._-")
#: How far from the usage text the version is looked for first (it was within 9 KiB on every
#: Debian musl from 1.2.2 to 1.2.5, 9 architectures); the whole data is searched only if needed.
MUSL_NEAR = 16 * 1024

# glibc's libc.so.6 and ld.so carry a banner (csu/version.c, elf/dl-usage.c):
# "GNU C Library (Debian GLIBC 2.36-9+deb12u4) stable release version 2.36."
# (The pattern release version (\d{1,3}\.\d{1,3}(?:\.\d{1,5})?)[.,\s], read by hand.)
_GLIBC_BANNER = b"release version "
#: The most bytes a banner's "release version <version>" and the character after it take.
GLIBC_BANNER_SPAN = len(_GLIBC_BANNER) + len("123.123.12345.")
_BANNER_END = frozenset(b"., \t\n\r\x0b\x0c")

# Strings only one libc's own code carries, for static binaries, which have neither an
# interpreter nor needed libraries. musl's strerror table starts with "No error information"
# (src/errno/__strerror.h; glibc says "Success"); glibc's static startup code always reads the
# GLIBC_TUNABLES environment variable (elf/dl-tunables.c, glibc >= 2.26).
MUSL_STATIC_MARKERS = (b"No error information\x00",)
GLIBC_STATIC_MARKERS = (b"GLIBC_TUNABLES\x00",)


def _digit_run(data: bytes, pos: int, end: int, most: int) -> int:
    """The end of the run of 1 to ``most`` ASCII digits at pos (a longer run counts as none:
    what follows it must not be a digit), or -1."""
    stop = pos
    while stop < end and data[stop] in _DIGITS:
        stop += 1
        if stop - pos > most:
            return -1
    return stop if stop > pos else -1


def _musl_tail(data: bytes, dot: int, end: int) -> int:
    """The end (just past the NUL) of ".<minor>.<patch>[-<suffix>]\\0" at dot, or -1."""
    minor = _digit_run(data, dot + 1, end, 3)
    if minor < 0 or minor >= end or data[minor] != 0x2E:
        return -1
    at = _digit_run(data, minor + 1, end, 3)
    if at < 0 or at >= end:
        return -1
    if data[at] == 0x2D and at + 1 < end and data[at + 1] in _SUFFIX_FIRST:
        stop = at + 2
        while stop < end and stop - at - 2 < 63 and data[stop] in _SUFFIX:
            stop += 1
        at = stop
    return at + 1 if at < end and data[at] == 0 else -1


def _musl_versions(data: bytes, start: int, end: int) -> Iterator[tuple[int, bytes, bool]]:
    """(index, text, glued) of each version-shaped string in data[start:end]. After a
    rejected candidate the search resumes one byte later, so no overlapping candidate is
    skipped.

    ``__libc_version`` (src/internal/version.c) is a char array of its own, so the linker may
    place it right after another object that does not end in a NUL (``.../proc/se`` then
    ``1.2.5``): a *glued* candidate follows a letter directly. It is accepted only with
    musl's own major version, 0 or 1, as one digit; after a digit, ``.``, ``_`` or ``-``
    (``LINUX_2.6.39``, ``GLIBC_2.17``, the tail of a longer number) nothing is accepted."""
    pos, end = max(start, 0), min(max(end, 0), len(data))
    find = data.find
    dot = find(b".", pos, end)
    while dot >= 0:
        if dot + 1 >= end or data[dot + 1] not in _DIGITS or dot < pos:
            dot = find(b".", dot + 1, end)
            continue
        tail = _musl_tail(data, dot, end)
        if tail < 0:
            dot = find(b".", dot + 1, end)
            continue
        first = dot
        while first > 0 and dot - first < 3 and data[first - 1] in _DIGITS:
            first -= 1
        before = data[first - 1] if first > 0 else 0
        glued = before in _WORDISH
        if first == dot or (
            glued and (before not in _LETTERS or dot - first != 1 or data[first] not in b"01")
        ):
            pos = dot + 1
        else:
            yield first, data[first : tail - 1], glued
            pos = tail
        dot = find(b".", dot + 1, end)


def _nearest_musl_version(chunks: Chunks, marker_at: int, radius: int) -> Optional[Found]:
    """The version-shaped string nearest to the usage text; a glued one only when there is no
    other."""
    best: Optional[tuple[bool, int, int, bytes]] = None
    for offset, data in chunks:
        lo, hi = marker_at - radius - offset, marker_at + radius - offset
        for index, raw, glued in _musl_versions(data, lo, hi + 80):
            key = (glued, abs(offset + index - marker_at), offset + index, raw)
            if best is None or key[:2] < best[:2]:
                best = key
    if best is None:
        return None
    text = best[3].decode("ascii")
    return Found(LibcVersion.parse(text), text, best[2])


def find_musl_version(chunks: Chunks) -> Optional[Found]:
    """The musl version string of a musl loader (``libc.so``), or None.

    Requires the ``musl libc`` marker and takes the version-shaped string nearest to it."""
    marker_at: Optional[int] = None
    for offset, data in reversed(chunks):  # .rodata comes after the code: look from the end
        at = data.rfind(MUSL_MARKER)
        if at >= 0:
            marker_at = offset + at
            break
    if marker_at is None:
        return None
    near = _nearest_musl_version(chunks, marker_at, MUSL_NEAR)
    if near is not None:
        return near
    return _nearest_musl_version(chunks, marker_at, 1 << 62)


def glibc_version(text: str) -> LibcVersion:
    """A glibc version: ``major.minor`` only, the whole text kept as ``raw``. A development
    snapshot is ``2.31.9000`` (the minor after a release, glibc's version.h on master): it has
    2.31's ABI and more, and is 2.31 to ``packaging`` (which reads two numbers) and here.
    ``ValueError`` when the text does not start with a version."""
    parsed = LibcVersion.parse(text)
    return LibcVersion(parsed.release[:2], raw=parsed.raw)


def find_glibc_banner(chunks: Chunks) -> Optional[Found]:
    """The release version from glibc's banner in ``libc.so.6`` or ``ld.so``, or None."""
    for offset, data in chunks:
        at = data.find(_GLIBC_BANNER)
        while at >= 0:
            found = _banner_at(offset, data, at)
            if found is not None:
                return found
            at = data.find(_GLIBC_BANNER, at + 1)
    return None


def find_last_glibc_banner(offset: int, data: bytes) -> Optional[Found]:
    """:func:`find_glibc_banner` searching one chunk from its end: its last banner."""
    at = data.rfind(_GLIBC_BANNER)
    while at >= 0:
        found = _banner_at(offset, data, at)
        if found is not None:
            return found
        at = data.rfind(_GLIBC_BANNER, 0, at + len(_GLIBC_BANNER) - 1)
    return None


def _banner_at(offset: int, data: bytes, at: int) -> Optional[Found]:
    start = at + len(_GLIBC_BANNER)
    stop = _banner_version_end(data, start)
    if stop < 0:
        return None
    text = data[start:stop].decode("ascii")
    return Found(glibc_version(text), text, offset + start)


def _banner_version_end(data: bytes, pos: int) -> int:
    """The end of "<major>.<minor>[.<patch>]" at pos when one of ".,\\s" follows it, or -1."""
    end = len(data)
    major = _digit_run(data, pos, end, 3)
    if major < 0 or major >= end or data[major] != 0x2E:
        return -1
    minor = _digit_run(data, major + 1, end, 3)
    if minor < 0 or minor >= end:
        return -1
    if data[minor] == 0x2E:
        patch = _digit_run(data, minor + 1, end, 5)
        if 0 < patch < end and data[patch] in _BANNER_END:
            return patch
    return minor if data[minor] in _BANNER_END else -1


# glibc up to 2.33 installed its loader and libc under versioned names (ld-2.31.so,
# libc-2.31.so); its ld.so carries no banner, so the name is the evidence left.
# The name's shape: (?:ld|libc)-(\d{1,3}\.\d{1,3}(?:\.\d{1,3})?)\.so, \d any decimal digit.


def glibc_version_from_name(path: str) -> Optional[Found]:
    """The version in a versioned glibc file name (``ld-2.31.so``), or None."""
    name = path.rsplit("/", 1)[-1].rsplit("!", 1)[-1]
    prefix = "ld-" if name.startswith("ld-") else "libc-"
    if not name.startswith(prefix) or not name.endswith(".so"):
        return None
    text = name[len(prefix) : -3]
    parts = text.split(".")
    if not 2 <= len(parts) <= 3 or not all(p.isdecimal() and len(p) <= 3 for p in parts):
        return None
    return Found(LibcVersion.parse(text), text, -1)


def find_static_libc(chunks: Chunks) -> Optional[tuple[Family, str, int]]:
    """For a static binary: the libc whose marker string it carries, the marker, its offset.
    None when it carries none, or markers of both (then nothing can be concluded)."""
    found: dict[Family, tuple[str, int]] = {}
    marker: bytes
    for family, markers in (
        (Family.MUSL, MUSL_STATIC_MARKERS),
        (Family.GLIBC, GLIBC_STATIC_MARKERS),
    ):
        for marker in markers:
            for offset, data in chunks:
                at = data.find(marker)
                if at >= 0:
                    found.setdefault(family, (marker.rstrip(b"\0").decode("ascii"), offset + at))
                    break
    if len(found) != 1:
        return None
    ((family, (text, offset)),) = found.items()
    return family, text, offset
