"""The musl-version rule as it was written before the outward search (issue 16): a regular
expression finds every version-shaped string left to right, the nearest to the usage text
wins. The byte scans in ``_libc_strings`` and ``_classify._musl_version_of`` must give what
these give, on real loaders and on random or hostile bytes."""

from __future__ import annotations

import re
from typing import Optional

from libcprobe import LibcVersion
from libcprobe._elf import ELFFile
from libcprobe._libc_strings import MUSL_MARKER, MUSL_NEAR, Found

#: ".<minor>.<patch>[-<suffix>]\0" from the first dot; the major and the byte before it are
#: checked by hand, as the scan does.
MUSL_TAIL_RE = re.compile(rb"\.\d{1,3}\.\d{1,3}(?:-[0-9A-Za-z][0-9A-Za-z.+_-]{0,63})?\x00")
_LETTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_WORDISH = _LETTERS + b"0123456789._-"

Chunks = list[tuple[int, bytes]]


def musl_versions(data: bytes, start: int, end: int) -> list[tuple[int, bytes, bool]]:
    """(index, text, glued) of each version-shaped string in data[start:end], left to right."""
    out: list[tuple[int, bytes, bool]] = []
    pos, end = max(start, 0), max(end, 0)
    while True:
        match = MUSL_TAIL_RE.search(data, pos, end)
        if match is None:
            return out
        dot = first = match.start()
        while first > 0 and dot - first < 3 and data[first - 1] in b"0123456789":
            first -= 1
        before = data[first - 1] if first > 0 else 0
        glued = before in _WORDISH
        if first == dot or (
            glued and (before not in _LETTERS or dot - first != 1 or data[first] not in b"01")
        ):
            pos = dot + 1
            continue
        out.append((first, data[first : match.end() - 1], glued))
        pos = match.end()


def _nearest(chunks: Chunks, marker_at: int, radius: int) -> Optional[Found]:
    best: Optional[tuple[bool, int, int, bytes]] = None
    for offset, data in chunks:
        lo, hi = marker_at - radius - offset, marker_at + radius - offset
        for index, raw, glued in musl_versions(data, lo, hi + 80):
            key = (glued, abs(offset + index - marker_at), offset + index, raw)
            if best is None or key[:2] < best[:2]:
                best = key
    if best is None:
        return None
    text = best[3].decode("ascii")
    return Found(LibcVersion.parse(text), text, best[2])


def find_musl_version(chunks: Chunks) -> Optional[Found]:
    """The version nearest to the last usage text (of the last chunk holding one)."""
    marker_at: Optional[int] = None
    for offset, data in reversed(chunks):
        at = data.rfind(MUSL_MARKER)
        if at >= 0:
            marker_at = offset + at
            break
    if marker_at is None:
        return None
    return _nearest(chunks, marker_at, MUSL_NEAR) or _nearest(chunks, marker_at, 1 << 62)


_STEP = 64 * 1024
MUSL_LOADER_SCAN = 4 * 1024 * 1024


def musl_version_of(elf: ELFFile) -> tuple[Optional[Found], bool]:
    """``_classify._musl_version_of`` as it was: the non-code segments from the end in 64 KiB
    steps, a window of MUSL_NEAR around the usage text, else all read-only data at once."""
    marker_at = None
    budget = MUSL_LOADER_SCAN
    for offset, size in reversed(elf.readonly_ranges(code=False)):
        end = offset + size
        while end > offset and marker_at is None and budget > 0:
            budget -= _STEP
            start = max(offset, end - _STEP)
            data = elf.read_range(start, end + len(MUSL_MARKER) - 1 if end < offset + size else end)
            at = data.rfind(MUSL_MARKER)
            if at >= 0:
                marker_at = start + at
            end = start
        if marker_at is not None:
            lo = max(offset, marker_at - MUSL_NEAR)
            hi = min(offset + size, marker_at + MUSL_NEAR + 128)
            found = find_musl_version([(lo, elf.read_range(lo, hi))])
            if found is not None:
                return found, True
            break
    if sum(size for _, size in elf.readonly_ranges()) > MUSL_LOADER_SCAN:
        return None, False
    chunks = elf.readonly_data()
    found = find_musl_version(chunks)
    return found, found is not None or any(MUSL_MARKER in data for _, data in chunks)
