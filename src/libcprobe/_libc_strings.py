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
    from typing import Callable, NamedTuple, Optional
else:
    from ._records import NamedTuple

__all__ = [
    "Found",
    "PartialRead",
    "Span",
    "find_glibc_banner",
    "find_musl_version",
    "find_static_libc",
    "glibc_version",
    "last_musl_marker",
    "nearest_musl_version",
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
# A candidate starts at its first dot: ".<minor>.<patch>[-<suffix>]\0" (what the pattern
# \.\d{1,3}\.\d{1,3}(?:-[0-9A-Za-z][0-9A-Za-z.+_-]{0,63})?\x00 matches), the major number and
# the character before it checked by hand. Dots are found with bytes.find/rfind of one byte
# (memchr speed) outward from the usage text, and only a dot with a digit on each side is looked
# at closer; not with re, which costs more to import than the whole musl detection does.
_DIGITS = frozenset(b"0123456789")
_SUFFIX_FIRST = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_SUFFIX = _SUFFIX_FIRST | frozenset(b".+_-")
_SUFFIX_BYTES = bytes(sorted(_SUFFIX))
_MINOR = _DIGITS | {0x2E}  # what follows the first digit of the minor version
_LETTERS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_WORDISH = _LETTERS | frozenset(b"0123456789._-")
#: How far from the usage text the version is looked for first. In Debian's musl 1.2.2-1.2.5 it
#: lies within 12 KiB of it on amd64 and i386 (and trixie's arm64 and s390x), 26-182 KiB before
#: it on the other architectures: the search then goes on outward, as far as the nearest.
MUSL_NEAR = 16 * 1024

# glibc's libc.so.6 and ld.so carry a banner (csu/version.c, elf/dl-usage.c):
# "GNU C Library (Debian GLIBC 2.36-9+deb12u4) stable release version 2.36."
# (The pattern release version (\d{1,3}\.\d{1,3}(?:\.\d{1,5})?)[.,\s], read by hand.)
_GLIBC_BANNER = b"release version "
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


def _candidate(data: bytes, dot: int, floor: int, end: int) -> Optional[tuple[int, int, bool]]:
    """(first, nul, glued) of the version-shaped string whose first dot is at ``dot``, when the
    rule below accepts it: ``data[first:nul]`` is the text, ``data[nul]`` its NUL. ``floor`` is
    where the chunk starts in data (nothing before it is looked at), ``end`` bounds the NUL.

    ``__libc_version`` (src/internal/version.c) is a char array of its own, so the linker may
    place it right after another object that does not end in a NUL (``.../proc/se`` then
    ``1.2.5``): a *glued* candidate follows a letter directly. It is accepted only with
    musl's own major version, 0 or 1, as one digit; after a digit, ``.``, ``_`` or ``-``
    (``LINUX_2.6.39``, ``GLIBC_2.17``, the tail of a longer number) nothing is accepted."""
    low = dot - 3 if dot - 3 > floor else floor  # the major: 1 to 3 digits, in the chunk
    first = dot
    while first > low and first > 0 and data[first - 1] in _DIGITS:
        first -= 1
    before = data[first - 1] if first > floor and first > 0 else 0
    glued = before in _WORDISH
    if first == dot or (
        glued and (before not in _LETTERS or dot - first != 1 or data[first] not in b"01")
    ):
        return None
    # ".<minor>.<patch>[-<suffix>]\0" from the dot: up to the first NUL, checked with bytes
    # methods (isdigit() is False for b"").
    reach = dot + _REACH
    nul = data.find(0, dot + 1, reach if reach < end else end)
    if nul < 0:
        return None
    minor, dot2, rest = data[dot + 1 : nul].partition(b".")
    if not dot2 or len(minor) > 3 or not minor.isdigit():
        return None
    patch, dash, suffix = rest.partition(b"-")
    if len(patch) > 3 or not patch.isdigit():
        return None
    if dash and (
        not suffix[:1].isalnum() or len(suffix) > 64 or suffix.translate(None, _SUFFIX_BYTES)
    ):
        return None
    return first, nul, glued


def _musl_versions(data: bytes, start: int, end: int) -> Iterator[tuple[int, bytes, bool]]:
    """(index, text, glued) of each version-shaped string in data[start:end], left to right:
    the reference for :class:`_Search`. After a rejected candidate the search resumes one
    byte later, after an accepted one past its NUL: a string ending in the same NUL as an
    accepted one (``1.2.3-a+1.2.3``) is not another."""
    pos, end = max(start, 0), min(max(end, 0), len(data))
    find = data.find
    dot = find(b".", pos, end)
    while dot >= 0:
        found = (
            _candidate(data, dot, 0, end) if dot + 1 < end and data[dot + 1] in _DIGITS else None
        )
        if found is None:
            dot = find(b".", dot + 1, end)
            continue
        first, nul, glued = found
        yield first, data[first:nul], glued
        dot = find(b".", nul + 1, end)


class Span:
    """One chunk of a file, ``[start, stop)``, whose bytes are read only where a search needs
    them (``read(a, b)`` gives the file's bytes in [a, b)), a piece at a time; or all of it,
    given as ``data``. ``data`` (at file offset ``lo``) may reach past the chunk: the piece
    the search starts with."""

    __slots__ = ("data", "lo", "read", "start", "stop")

    def __init__(
        self,
        start: int,
        stop: int,
        read: Optional[Callable[[int, int], bytes]] = None,
        data: bytes = b"",
        lo: Optional[int] = None,
    ) -> None:
        self.start, self.stop, self.read = start, stop, read
        self.lo = start if lo is None else lo  # the file offset of data[0]
        self.data = data

    def fetch(self, a: int, b: int) -> bytes:
        """The file's bytes in [a, b), a part of the chunk. :class:`PartialRead` when ``read``
        gives fewer bytes than asked (or there is no ``read``: then ``data`` is the chunk)."""
        piece = self.read(a, b) if self.read is not None else b""
        if len(piece) != b - a:
            raise PartialRead(a, b, len(piece))
        return piece


class PartialRead(Exception):
    """A read gave fewer bytes than asked, inside the chunk: a byte source holding only parts
    of the file (:class:`~libcprobe.ByteSource` allows it; a wheel member over 8 MiB is read
    sparsely), whose pieces are no longer at their file offsets. The searches here need whole
    reads; the caller falls back to :func:`find_musl_version` on the data it has."""


#: How far past its first dot a candidate reaches (".ddd.ddd-", 64 suffix bytes, the NUL),
#: and how far before it the checks look (the major's digits, the byte before them, and the
#: dots of a longer string ending in the same NUL).
_REACH = 80
_BEFORE = 90
#: The first ring of :class:`_Search` (as wide as the window around the usage text), doubled
#: until it holds the answer.
_RING = MUSL_NEAR
#: The most read at a time here: musl's malloc (mallocng) maps an allocation of over about
#: 25 KiB afresh each time, so in a musl CPython ``os.pread`` of 32 KiB costs 15 µs against
#: 0.6 µs for 16 KiB (measured; glibc's malloc keeps both cheap).
PIECE = 16 * 1024
#: The dots one piece of :class:`_Search` serves: a dot needs the bytes from _BEFORE before
#: it to _REACH past it, so a piece of PIECE bytes serves this many.
_SERVED = PIECE - _BEFORE - _REACH


class _Search:
    """The version-shaped string nearest to ``t`` in one chunk, among those with their first
    dot in ``[p0, p1)`` and their NUL before ``p1`` (and, given ``skip``, no first dot in
    it): what scanning the chunk with :func:`_musl_versions` and keeping the nearest would
    give, found by looking outward from ``t`` in rings of doubling width. Each side stops at
    its first string without glue (strings further out on that side are further away), the
    other side then at the same distance. Each dot costs one ``find``/``rfind`` (memchr) and
    one byte test; only a dot between two digits is looked at closer. Each side holds the
    piece it read last (both start with the span's ``data``): one search reads no part of the
    chunk twice, but for the _BEFORE + _REACH bytes where two pieces meet."""

    __slots__ = ("best", "down", "dpiece", "glued", "p0", "p1", "span", "t", "top", "up", "upiece")

    def __init__(
        self, span: Span, t: int, p0: int, p1: int, skip: Optional[tuple[int, int]] = None
    ) -> None:
        self.span, self.t, self.p0, self.p1 = span, t, p0, p1
        top = self.top = p1 - 4  # the first dot of ".1.2\0" lies 4 bytes before its NUL at least
        up = p0 if p0 > t else t  # the dots at and above this are still to look at, going up
        down = top if top < t else t  # the dots below this, going down
        if skip is not None:
            if skip[0] <= up < skip[1]:
                up = skip[1]
            if skip[0] < down <= skip[1]:
                down = skip[0]
        self.up, self.down = up, down
        self.best: Optional[tuple[int, int, bytes]] = None  # (distance, offset, text), no glue
        self.glued: Optional[tuple[int, int, bytes]] = None
        self.upiece = self.dpiece = (span.data, span.lo)

    def run(self) -> Optional[tuple[bool, int, int, bytes]]:
        """(glued, distance, file offset, text) of the nearest string, or None."""
        t, ring, top, p0 = self.t, _RING, self.top, self.p0
        up, down = self.up < top, self.down > p0
        while up or down:
            best = self.best
            if up:
                reach = ring if best is None or best[0] + 3 > ring else best[0] + 3
                up = self._up(t + reach if t + reach < top else top)
                best = self.best
            if down:
                reach = ring if best is None or best[0] - 1 > ring else best[0] - 1
                down = self._down(t - reach if t - reach > p0 else p0)
                best = self.best
            if best is not None:  # nothing further out can be nearer (or as near, lower)
                up = up and self.up < t + best[0] + 3
                down = down and self.down > t - best[0] + 1
            ring *= 2
        if self.best is not None:
            return (False, *self.best)
        return None if self.glued is None else (True, *self.glued)

    def _up(self, limit: int) -> bool:
        """Look at the dots in [up, limit), a piece at a time; False when this side is done.
        A piece serves the dots from _BEFORE past its start to _REACH before its end (or the
        chunk's ends); one that does not serve ``up`` is replaced by one read from there."""
        span, digits, minor, up = self.span, _DIGITS, _MINOR, self.up
        start, stop = span.start, span.stop
        data, lo = self.upiece
        while up < limit:
            served = lo + len(data)
            served = served - _REACH if served < stop else stop
            if up >= served or (lo > start and up < lo + _BEFORE):
                lo = up - _BEFORE if up - _BEFORE > start else start
                served = up + _SERVED if up + _SERVED < limit else limit
                served = served if served + _REACH < stop else stop
                data = span.fetch(lo, served + _REACH if served < stop else stop)
                self.upiece = data, lo
            end = (limit if limit < served else served) - lo
            find = data.find
            dot = find(46, up - lo, end)
            while dot >= 0:
                # The same test as in _down (kept inline there too: it runs once per dot).
                if (
                    data[dot + 1] in digits
                    and data[dot - 1] in digits
                    and data[dot + 2] in minor
                    and self._take(data, lo, dot)
                ):
                    self.up = lo + dot + 1
                    return False
                dot = find(46, dot + 1, end)
            up = lo + end
        self.up = up
        return up < self.top

    def _down(self, limit: int) -> bool:
        """Look at the dots in [limit, down) from the top, a piece at a time; False when this
        side is done. Pieces as in _up, read from ``down`` downward."""
        span, digits, minor, down = self.span, _DIGITS, _MINOR, self.down
        start, stop = span.start, span.stop
        data, lo = self.dpiece
        while limit < down:
            served = lo + _BEFORE if lo > start else start
            hi = lo + len(data)
            if down <= served or (hi < stop and down > hi - _REACH):
                served = down - _SERVED if down - _SERVED > limit else limit
                served = served if served - _BEFORE > start else start
                lo = served - _BEFORE if served > start else start
                data = span.fetch(lo, down + _REACH if down + _REACH < stop else stop)
                self.dpiece = data, lo
            first = (limit if limit > served else served) - lo
            # The dots in [first, down - lo), found going up (memchr: musl's memrchr reads a
            # byte at a time, 7 instructions a byte), then looked at from the top.
            find, dots, end = data.find, [], down - lo
            dot = find(46, first, end)
            while dot >= 0:
                dots.append(dot)
                dot = find(46, dot + 1, end)
            for dot in reversed(dots):
                # The same test as in _up (kept inline: it runs once per dot).
                if (
                    data[dot + 1] in digits
                    and data[dot - 1] in digits
                    and data[dot + 2] in minor
                    and self._take(data, lo, dot)
                ):
                    self.down = lo + dot
                    return False
            down = lo + first
        self.down = down
        return down > self.p0

    def _take(self, data: bytes, lo: int, dot: int) -> bool:
        """Keep the string at dot if it is one and nearer than those kept; True for one
        without glue (which ends the search on its side)."""
        floor, end = self.span.start - lo, self.p1 - lo
        found = _candidate(data, dot, floor, end if end < len(data) else len(data))
        if found is None:
            return False
        first, nul, glued = found
        # A longer string ending in the same NUL would hold the byte before this one.
        if (
            first > floor
            and data[first - 1] in _SUFFIX
            and _suppressed(data, dot, nul, floor, self.p0 - lo, end)
        ):
            return False
        key = (abs(lo + first - self.t), lo + first, data[first:nul])
        if glued:
            if self.glued is None or key < self.glued:
                self.glued = key
            return False
        if self.best is None or key < self.best:
            self.best = key
        return True


def _suppressed(data: bytes, dot: int, nul: int, floor: int, p0: int, end: int) -> bool:
    """Whether a string with its first dot in [p0, dot) ends in the same NUL (the left-to-right
    scan takes that one and resumes past the NUL)."""
    find = data.find
    other = find(46, max(p0, nul - _REACH, 0), dot)
    while other >= 0:
        if data[other + 1] in _DIGITS:
            found = _candidate(data, other, floor, end)
            if found is not None and found[1] == nul:
                return True
        other = find(46, other + 1, dot)
    return False


def nearest_musl_version(spans: list[Span], marker_at: int) -> Optional[Found]:
    """The version-shaped string nearest to the usage text at ``marker_at`` in the chunks: the
    nearest within :data:`MUSL_NEAR` of it if there is one (a glued one only when there is no
    other), else the nearest anywhere. Ties go to the lower offset, then the earlier chunk."""
    best = None
    low, high = marker_at - MUSL_NEAR, marker_at + MUSL_NEAR + _REACH
    for span in spans:
        p0 = span.start if span.start > low else low
        p1 = span.stop if span.stop < high else high
        found = _Search(span, marker_at, p0, p1).run() if p0 < p1 else None
        if found is not None and (best is None or found[:2] < best[:2]):
            best = found
    if best is None:  # no string in the window: then none has its first dot there (see skip)
        for span in spans:
            p0 = span.start if span.start > low else low
            p1 = span.stop if span.stop < high else high
            skip = (p0, p1 - _REACH)
            found = _Search(span, marker_at, span.start, span.stop, skip).run()
            if found is not None and (best is None or found[:2] < best[:2]):
                best = found
    if best is None:
        return None
    text = best[3].decode("ascii")
    major, minor, rest = text.split(".", 2)  # what LibcVersion.parse(text) gives, at less cost
    version = LibcVersion((int(major), int(minor), int(rest.split("-", 1)[0])), text)
    return Found._make((version, text, best[2]))


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
    return nearest_musl_version([Span(o, o + len(d), None, d) for o, d in chunks], marker_at)


def last_musl_marker(
    read: Callable[[int, int], bytes], start: int, stop: int, first: int = PIECE
) -> Optional[tuple[int, int, bytes]]:
    """Where the last ``musl libc`` in the file's [start, stop) is, read from the end in
    pieces of doubling size from ``first`` (a large static-PIE program that looks like a
    candidate is read in a few dozen pieces, not hundreds of :data:`PIECE`), with the piece
    holding it (its offset, its bytes: the search around the marker starts with them; not
    joined to the piece after it, which musl's malloc would make a costly allocation of).
    :class:`PartialRead` when a read gives fewer bytes than asked."""
    size, end = first, stop
    while end > start:
        lo = max(start, end - size)
        hi = min(stop, end + len(MUSL_MARKER) - 1)
        piece = read(lo, hi)
        if len(piece) != hi - lo:
            raise PartialRead(lo, hi, len(piece))
        at = piece.rfind(MUSL_MARKER)
        if at >= 0:
            return lo + at, lo, piece
        size, end = size * 2, lo
    return None


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
