"""Wheels (``.whl``), read in place as zip files: members are streamed, never extracted.

Bounds: the member count is read from the end-of-central-directory record *before* the zip is
opened (:data:`MAX_WHEEL_MEMBERS`); a member larger than :data:`MAX_MEMBER_SIZE` is not read;
each ELF member is decompressed at most :data:`MAX_PASSES` times and only the byte ranges the
ELF reader asks for are kept (at most :data:`~libcprobe._elf.MAX_BYTES_PER_FILE`); all bytes
decompressed for one wheel are capped by :data:`MAX_WHEEL_BYTES`. Member names with ``..`` or
an absolute path are reported, never used as paths.
"""

from __future__ import annotations

import os
import re
import struct
import zipfile
from collections.abc import Iterator
from typing import NamedTuple, Optional

from ._elf import MAX_BYTES_PER_FILE, ELFFile, _Data
from ._errors import CorruptELFError, FileAccessError, LibcprobeError, ReadLimitError

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


class _SparseData(_Data):
    """The bytes of a member of which only some ranges were kept; reading elsewhere asks for
    another pass."""

    __slots__ = ("_ranges",)

    def __init__(self, name: str, size: int, ranges: list[tuple[int, bytes]]) -> None:
        super().__init__(name, size, None, b"")
        self._ranges = ranges

    def _lookup(self, offset: int, size: int) -> bytes:
        for start, blob in self._ranges:
            if start <= offset and offset + size <= start + len(blob):
                return blob[offset - start : offset - start + size]
        raise _NeedBytes(offset, size)

    def read(self, offset: int, size: int, what: str) -> bytes:
        if offset < 0 or size < 0 or offset + size > self.size:
            return super().read(offset, size, what)  # raises TruncatedELFError
        return self._lookup(offset, size)

    def read_uncached(self, offset: int, size: int) -> bytes:
        # String scans (static-libc markers, libc versions) see only the kept ranges of a
        # large member: the parts of [offset, offset + size) that were kept, joined.
        end = min(offset + size, self.size)
        out = bytearray()
        for start, blob in self._ranges:
            lo, hi = max(start, offset), min(start + len(blob), end)
            if lo < hi:
                out += blob[lo - start : hi - start]
        return bytes(out)


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_WHEEL_BYTES


def _member_count(path: str) -> int:
    """Entries in the zip's central directory, from the end record (zip64 aware), read
    without opening the zip: a hostile directory of millions of entries is refused early."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        tail_size = min(size, 65536 + 22)
        f.seek(size - tail_size)
        tail = f.read(tail_size)
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or at + 22 > len(tail):
            raise CorruptELFError("not a zip file: no end of central directory", path)
        (count,) = struct.unpack_from("<H", tail, at + 10)
        locator = at - 20
        if count == 0xFFFF and locator >= 0 and tail[locator : locator + 4] == b"PK\x06\x07":
            (eocd64,) = struct.unpack_from("<Q", tail, locator + 8)
            if 0 <= eocd64 < size - 56:
                f.seek(eocd64)
                rec = f.read(56)
                if rec[:4] == b"PK\x06\x06":
                    (count,) = struct.unpack_from("<Q", rec, 32)
    return int(count)


def open_wheel(path: str) -> zipfile.ZipFile:
    """Open a wheel as a zip after checking its member count from the end record. Raises
    :class:`FileAccessError` when it cannot be read and :class:`CorruptELFError` when it is
    not a zip or lists more than :data:`MAX_WHEEL_MEMBERS` members."""
    try:
        count = _member_count(path)
    except OSError as exc:
        raise FileAccessError(exc.strerror or str(exc), path, exc.errno) from None
    if count > MAX_WHEEL_MEMBERS:
        raise CorruptELFError(
            f"the zip lists {count} members (libcprobe reads at most {MAX_WHEEL_MEMBERS})", path
        )
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CorruptELFError(f"not a readable zip file: {exc}", path) from None


def iter_wheel_members(path: str, *, all_files: bool = False) -> Iterator[WheelMember]:
    """The members of a wheel that are ELF files, parsed (with ``all_files``, every other
    member too, with ``is_elf`` False). Raises :class:`FileAccessError` when the wheel cannot
    be read and :class:`CorruptELFError` when it is not a zip or lists too many members."""
    zf = open_wheel(path)
    budget = _Budget()
    with zf:
        for info in zf.infolist()[:MAX_WHEEL_MEMBERS]:
            if info.is_dir():
                continue
            name = info.filename
            shown = f"{path}!{name}"
            if name.startswith("/") or ".." in name.split("/") or "\\" in name:
                yield WheelMember(shown, None, "unsafe member name (absolute or with ..)", False)
                continue
            if not _MAYBE_ELF.search(name) and not all_files:
                continue
            try:
                member = _read_member(zf, info, shown, budget)
            except LibcprobeError as exc:
                yield WheelMember(shown, None, exc.reason, True)
                continue
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
                # zlib/zip errors on a corrupt member (bad CRC, bad deflate stream)
                yield WheelMember(shown, None, f"corrupt zip member: {exc}", True)
                continue
            if member is None:
                if all_files:
                    yield WheelMember(shown, None, "not an ELF file", False)
                continue
            yield WheelMember(shown, member, None, True)


def _read_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, shown: str, budget: _Budget
) -> Optional[ELFFile]:
    """Parse one member as ELF (None when it is not ELF)."""
    if info.file_size < 4:
        return None
    with zf.open(info) as stream:
        magic = stream.read(4)
    budget.left -= 4
    if magic != b"\x7fELF":
        return None
    if info.file_size > MAX_MEMBER_SIZE:
        raise ReadLimitError(f"member is {info.file_size} bytes (limit {MAX_MEMBER_SIZE})", shown)
    if info.file_size <= WHOLE_MEMBER:
        (blob,) = _stream(zf, info, [(0, info.file_size)], budget, shown)
        return ELFFile(_Data(shown, len(blob[1]), None, blob[1]))
    wanted = [(0, _KEEP_BLOCK)]
    for _ in range(MAX_PASSES):
        ranges = _stream(zf, info, wanted, budget, shown)
        try:
            return ELFFile(_SparseData(shown, info.file_size, ranges))
        except _NeedBytes as need:
            start = need.offset - need.offset % _KEEP_BLOCK
            end = max(need.offset + need.size, start + _KEEP_BLOCK)
            # Also keep every segment the reader will want next, now that headers are known.
            wanted.append((start, end - start))
            wanted.extend(_segments_hint(ranges, info.file_size))
            if sum(size for _, size in wanted) > MAX_BYTES_PER_FILE:
                raise ReadLimitError(
                    f"reading it needs more than {MAX_BYTES_PER_FILE} bytes", shown
                ) from None
    raise ReadLimitError(f"still incomplete after {MAX_PASSES} passes", shown)


def _segments_hint(ranges: list[tuple[int, bytes]], size: int) -> list[tuple[int, int]]:
    """The PT_INTERP/PT_DYNAMIC/PT_NOTE ranges and the first PT_LOAD's first 4 MiB (where
    the dynamic string and version tables live), once the program headers are known."""
    try:
        head = _SparseData("", size, ranges)
        elf = ELFFile.__new__(ELFFile)
        elf._parse_header(head)
        elf._parse_program_headers(head)
    except (LibcprobeError, _NeedBytes):
        return []
    hint = []
    for ph in elf.program_headers:
        if ph.type in (2, 3, 4) and 0 < ph.filesz <= 1 << 20:
            hint.append((ph.offset, ph.filesz))
    hint.append((0, min(size, 4 << 20)))
    return hint


def _stream(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    wanted: list[tuple[int, int]],
    budget: _Budget,
    shown: str,
) -> list[tuple[int, bytes]]:
    """Decompress a member once, keeping the wanted (offset, size) ranges (merged)."""
    merged: list[list[int]] = []
    for start, size in sorted(wanted):
        end = min(start + size, info.file_size)
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts: list[bytearray] = [bytearray() for _ in merged]
    last_end = merged[-1][1] if merged else 0
    pos = 0
    with zf.open(info) as stream:
        while pos < last_end:
            chunk = stream.read(min(_CHUNK, last_end - pos))
            if not chunk:
                break
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
