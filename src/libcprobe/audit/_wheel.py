"""Wheels (``.whl``), read in place as zip files (:mod:`libcprobe.audit._zip`, which checks their
structure): members are streamed, never extracted.

Bounds: the member count is read from the end-of-central-directory record *before* the
directory is (:data:`MAX_WHEEL_MEMBERS`); a member larger than :data:`MAX_MEMBER_SIZE` is not read;
each ELF member is decompressed at most :data:`MAX_PASSES` times and only the byte ranges the
ELF reader asks for are kept (at most :data:`~libcprobe._elf.MAX_BYTES_PER_FILE`); all bytes
decompressed for one wheel are capped by :data:`MAX_WHEEL_BYTES`. Member names with ``..`` or
an absolute path are reported, never used as paths.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import NamedTuple, Optional

from .._elf import (
    ELFMAG,
    MAX_BYTES_PER_FILE,
    PT_DYNAMIC,
    PT_INTERP,
    PT_NOTE,
    ByteSource,
    ELFFile,
    read_elf,
    read_elf_source,
    read_program_headers,
)
from .._errors import LibcprobeError, ReadLimitError, ZipError
from ._zip import ZipArchive, ZipMember

__all__ = [
    "MAX_MEMBER_SIZE",
    "MAX_WHEEL_BYTES",
    "MAX_WHEEL_MEMBERS",
    "WheelMember",
    "WheelName",
    "iter_wheel_members",
    "open_wheel",
    "parse_wheel_name",
]

#: Most members a wheel may list.
MAX_WHEEL_MEMBERS = 100_000
#: Largest member (uncompressed) that is read at all.
MAX_MEMBER_SIZE = 1 << 30
#: Most bytes decompressed for one wheel, all members and passes together.
MAX_WHEEL_BYTES = 8 << 30
#: Members up to this size are decompressed into memory whole, in one pass.
WHOLE_MEMBER = 8 << 20
MAX_PASSES = 6
_CHUNK = 1 << 20
_KEEP_BLOCK = 64 << 10

# Files that may be ELF: shared objects, and files without a suffix (programs in .data/scripts).
_MAYBE_ELF = re.compile(r"(\.so(\.[\w.]+)?|/[^./]+|^[^./]+)$")


class WheelName(NamedTuple):
    """The parts of a wheel file name (the binary distribution format spec)."""

    distribution: str
    version: str
    build: Optional[str]
    python: tuple[str, ...]
    abi: tuple[str, ...]
    platforms: tuple[str, ...]


def parse_wheel_name(filename: str) -> Optional[WheelName]:
    """``numpy-2.1.0-cp311-cp311-musllinux_1_2_x86_64.whl`` -> its parts; None if malformed."""
    name = os.path.basename(filename)
    if not name.endswith(".whl"):
        return None
    parts = name[:-4].split("-")
    if len(parts) not in (5, 6):
        return None
    build = parts[2] if len(parts) == 6 else None
    py, abi, plat = parts[-3:]
    return WheelName(
        parts[0],
        parts[1],
        build,
        tuple(py.split(".")),
        tuple(abi.split(".")),
        tuple(plat.split(".")),
    )


class WheelMember(NamedTuple):
    """One member of a wheel: its name, and either the parsed ELF file or why not."""

    name: str
    elf: Optional[ELFFile]
    error: Optional[str]
    is_elf: bool


class _NeedBytes(Exception):
    def __init__(self, offset: int, size: int) -> None:
        super().__init__(offset, size)
        self.offset = offset
        self.size = size


class _SparseSource(ByteSource):
    """The bytes of a member of which only some ranges were kept; reading elsewhere asks for
    another pass."""

    __slots__ = ("_ranges",)

    def __init__(self, name: str, size: int, ranges: list[tuple[int, bytes]]) -> None:
        super().__init__(name, size)
        self._ranges = ranges

    def read(self, offset: int, size: int) -> bytes:
        for start, blob in self._ranges:
            if start <= offset and offset + size <= start + len(blob):
                return blob[offset - start : offset - start + size]
        raise _NeedBytes(offset, size)

    def scan(self, offset: int, size: int) -> bytes:
        # String scans (static-libc markers, libc versions) see only the kept ranges of a
        # large member: the parts of [offset, offset + size) that were kept, joined.
        end = offset + size
        out = bytearray()
        for start, blob in self._ranges:
            lo, hi = max(start, offset), min(start + len(blob), end)
            if lo < hi:
                out += blob[lo - start : hi - start]
        return bytes(out)


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_WHEEL_BYTES


def open_wheel(path: str) -> ZipArchive:
    """Open a wheel and check its zip structure (:meth:`ZipArchive.members`). Raises
    :class:`FileAccessError` when it cannot be read, :class:`ZipError` when it is not a zip or
    its structure is damaged, :class:`ReadLimitError` when it lists more than
    :data:`MAX_WHEEL_MEMBERS` members."""
    zf = ZipArchive(path)
    try:
        zf.members(MAX_WHEEL_MEMBERS)
    except BaseException:
        zf.close()
        raise
    return zf


def iter_wheel_members(path: str, *, all_files: bool = False) -> Iterator[WheelMember]:
    """The members of a wheel that are ELF files, parsed (with ``all_files``, every other
    member too, with ``is_elf`` False). A member that cannot be read is yielded with its
    ``error`` (a damaged member says why: see :class:`ZipError`). Raises
    :class:`FileAccessError` when the wheel cannot be read, :class:`ZipError` when its zip
    structure is damaged and :class:`ReadLimitError` when it lists too many members."""
    budget = _Budget()
    with open_wheel(path) as zf:
        for info in zf.members(MAX_WHEEL_MEMBERS):
            if info.is_dir():
                continue
            name = info.name
            shown = f"{path}!{name}"
            if name.startswith("/") or ".." in name.split("/") or "\\" in name:
                yield WheelMember(shown, None, "unsafe member name (absolute or with ..)", False)
                continue
            if info.error is not None:  # damaged, whatever its name: the wheel is damaged
                yield WheelMember(shown, None, info.error, True)
                continue
            if not _MAYBE_ELF.search(name) and not all_files:
                continue
            try:
                member = _read_member(zf, info, shown, budget)
            except LibcprobeError as exc:
                yield WheelMember(shown, None, exc.reason, True)
                continue
            if member is None:
                if all_files:
                    yield WheelMember(shown, None, "not an ELF file", False)
                continue
            yield WheelMember(shown, member, None, True)


def _read_member(zf: ZipArchive, info: ZipMember, shown: str, budget: _Budget) -> Optional[ELFFile]:
    """Parse one member as ELF (None when it is not ELF). Raises :class:`ZipError` for a
    damaged member."""
    if info.error is not None:
        raise ZipError(info.error, shown)
    if info.size < 4:
        return None
    head = b"".join(zf.chunks(info, 4))
    budget.left -= len(head)
    if head[:4] != ELFMAG:
        return None
    if info.size > MAX_MEMBER_SIZE:
        raise ReadLimitError(f"member is {info.size} bytes (limit {MAX_MEMBER_SIZE})", shown)
    if info.size <= WHOLE_MEMBER:
        (blob,) = _stream(zf, info, [(0, info.size)], budget, shown, True)
        return read_elf(blob[1], name=shown)
    wanted = [(0, _KEEP_BLOCK)]
    for attempt in range(MAX_PASSES):
        # The first pass reads the member to its end, which checks its size and CRC-32,
        # unless that alone would exceed the wheel's decompression budget.
        whole = attempt == 0 and info.size <= budget.left
        ranges = _stream(zf, info, wanted, budget, shown, whole)
        try:
            return read_elf_source(_SparseSource(shown, info.size, ranges))
        except _NeedBytes as need:
            start = need.offset - need.offset % _KEEP_BLOCK
            end = max(need.offset + need.size, start + _KEEP_BLOCK)
            # Also keep every segment the reader will want next, now that headers are known.
            wanted.append((start, end - start))
            wanted.extend(_segments_hint(ranges, info.size))
            if sum(size for _, size in wanted) > MAX_BYTES_PER_FILE:
                raise ReadLimitError(
                    f"reading it needs more than {MAX_BYTES_PER_FILE} bytes", shown
                ) from None
    raise ReadLimitError(f"still incomplete after {MAX_PASSES} passes", shown)


def _segments_hint(ranges: list[tuple[int, bytes]], size: int) -> list[tuple[int, int]]:
    """The PT_INTERP/PT_DYNAMIC/PT_NOTE ranges and the first PT_LOAD's first 4 MiB (where
    the dynamic string and version tables live), once the program headers are known."""
    try:
        headers = read_program_headers(_SparseSource("", size, ranges))
    except (LibcprobeError, _NeedBytes):
        return []
    hint = []
    for ph in headers:
        if ph.type in (PT_INTERP, PT_DYNAMIC, PT_NOTE) and 0 < ph.filesz <= 1 << 20:
            hint.append((ph.offset, ph.filesz))
    hint.append((0, min(size, 4 << 20)))
    return hint


def _stream(
    zf: ZipArchive,
    info: ZipMember,
    wanted: list[tuple[int, int]],
    budget: _Budget,
    shown: str,
    whole: bool,
) -> list[tuple[int, bytes]]:
    """Decompress a member once, keeping the wanted (offset, size) ranges (merged); with
    ``whole``, to its end (which checks it)."""
    merged: list[list[int]] = []
    for start, size in sorted(wanted):
        end = min(start + size, info.size)
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts: list[bytearray] = [bytearray() for _ in merged]
    last_end = merged[-1][1] if merged else 0
    pos = 0
    for chunk in zf.chunks(info, None if whole else last_end):
        budget.left -= len(chunk)
        if budget.left < 0:
            raise ReadLimitError(
                f"the wheel needs more than {MAX_WHEEL_BYTES} decompressed bytes", shown
            )
        end = pos + len(chunk)
        for (start, stop), part in zip(merged, parts):
            lo, hi = max(start, pos), min(stop, end)
            if lo < hi:
                part += chunk[lo - pos : hi - pos]
        pos = end
    return [(start, bytes(part)) for (start, _), part in zip(merged, parts)]
