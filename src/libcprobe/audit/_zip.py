"""A strict, bounded reader of zip archives (wheels), written for input nobody vouches for.

Unlike :mod:`zipfile` it trusts no number in the file: the end record, the ZIP64 records, the
central directory and every local header are checked against each other and against the file's
size, members must tile the file from offset 0 to the central directory (no gap, no overlap:
nothing hidden, no second archive, no zip-bomb overlap), and every member read to its end is
checked for its size and CRC-32. Only *stored* and *deflate* members are read (what wheel tools
write). Problems with the archive as a whole raise :class:`~libcprobe.ZipError` from
:meth:`ZipArchive.members`; problems with one member are that member's
:attr:`ZipMember.error` (found in the directory) or a :class:`~libcprobe.ZipError` from
:meth:`ZipArchive.chunks` (found in its data). Specification: PKWARE's APPNOTE.TXT 6.3.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from typing import NamedTuple, Optional

from .._elf import open_regular_file
from .._errors import FileAccessError, ReadLimitError, ZipError

__all__ = ["MAX_DIRECTORY_BYTES", "ZipArchive", "ZipMember"]

#: Largest central directory read (bytes).
MAX_DIRECTORY_BYTES = 64 << 20
_EOCD = b"PK\x05\x06"
_EOCD64 = b"PK\x06\x06"
_LOCATOR = b"PK\x06\x07"
_CENTRAL = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"
_DESCRIPTOR = b"PK\x07\x08"
_CHUNK = 1 << 20
_STORED, _DEFLATED = 0, 8
#: Names of the compression methods libcprobe does not read (APPNOTE 4.4.5).
METHOD_NAMES = {
    1: "shrink",
    2: "reduce",
    3: "reduce",
    4: "reduce",
    5: "reduce",
    6: "implode",
    9: "deflate64",
    10: "PKWARE DCL implode",
    12: "bzip2",
    14: "lzma",
    18: "IBM TERSE",
    19: "IBM LZ77",
    20: "zstd (old number)",
    93: "zstd",
    94: "mp3",
    95: "xz",
    96: "jpeg",
    97: "wavpack",
    98: "ppmd",
    99: "AES encryption",
}


class ZipMember(NamedTuple):
    """One entry of the central directory. ``error`` is why it cannot be read, when the
    directory or its local header already says so."""

    name: str
    method: int
    flags: int
    crc: int
    compressed_size: int
    size: int
    header_offset: int
    data_offset: int
    error: Optional[str]

    def is_dir(self) -> bool:
        """A directory entry (its name ends with ``/``)."""
        return self.name.endswith("/")


class _Entry:
    """A central-directory entry while the directory is being checked."""

    __slots__ = (
        "crc",
        "csize",
        "data_at",
        "error",
        "flags",
        "method",
        "name",
        "offset",
        "raw",
        "size",
    )

    def __init__(self, raw: bytes, fields: tuple[int, ...]) -> None:
        self.raw = raw
        self.flags, self.method, self.crc, self.csize, self.size, self.offset = fields
        self.name = raw.decode("utf-8" if self.flags & 0x800 else "cp437", "surrogateescape")
        self.error: Optional[str] = None
        self.data_at = -1


class ZipArchive:
    """An open zip file. Use as a context manager; :meth:`members` checks the structure."""

    def __init__(self, path: str) -> None:
        self.path = path
        fd = open_regular_file(path, "a zip")
        try:
            self.size = os.fstat(fd).st_size
        except OSError as exc:
            os.close(fd)
            raise FileAccessError(exc.strerror or str(exc), path, exc.errno) from None
        self._fd: Optional[int] = fd
        self._members: Optional[list[ZipMember]] = None

    def __enter__(self) -> ZipArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _read(self, offset: int, size: int) -> bytes:
        if self._fd is None:
            raise FileAccessError("the zip was closed before this read", self.path)
        try:
            return os.pread(self._fd, size, offset)
        except OSError as exc:
            raise FileAccessError(f"read failed: {exc.strerror}", self.path, exc.errno) from None

    def _fail(self, reason: str) -> ZipError:
        return ZipError(reason, self.path)

    # -- the end records ------------------------------------------------------------------

    def _end_record(self) -> tuple[int, int, int, int]:
        """(entries, directory offset, directory size, where the end records begin)."""
        if self.size < 22:
            raise self._fail("not a zip file: too short for an end of central directory record")
        tail_size = min(self.size, 65535 + 22)
        tail = self._read(self.size - tail_size, tail_size)
        base = self.size - tail_size
        found = []
        at = tail.rfind(_EOCD)
        while at >= 0:
            if at + 22 <= len(tail):
                (comment,) = struct.unpack_from("<H", tail, at + 20)
                if base + at + 22 + comment == self.size:
                    found.append(at)
            at = tail.rfind(_EOCD, 0, at)
        if not found:
            if _EOCD in tail:
                raise self._fail(
                    "damaged end of central directory record: its comment length does not "
                    "reach the end of the file (trailing data, or a truncated comment)"
                )
            raise self._fail("not a zip file: no end of central directory record")
        if len(found) > 1:
            raise self._fail("two end of central directory records (a zip inside the comment)")
        at = found[0]
        disk, cd_disk, here, count, cd_size, cd_offset = struct.unpack_from("<4H2I", tail, at + 4)
        eocd = base + at
        if disk != 0 or cd_disk != 0 or here != count:
            raise self._fail(f"a multi-disk zip (disk {disk}) is not supported")
        start = eocd
        loc = eocd - 20
        has_locator = loc >= 0 and self._read(loc, 4) == _LOCATOR
        if has_locator:
            count, cd_offset, cd_size, start = self._zip64_end(loc, count, cd_offset, cd_size)
        elif 0xFFFF in (count,) or 0xFFFFFFFF in (cd_offset, cd_size):
            raise self._fail("the end record needs ZIP64 values but there is no ZIP64 locator")
        return count, cd_offset, cd_size, start

    def _zip64_end(self, loc: int, count: int, offset: int, size: int) -> tuple[int, int, int, int]:
        disk, rec_at, disks = struct.unpack("<IQI", self._read(loc + 4, 16))
        if disk != 0 or disks not in (0, 1):
            raise self._fail(f"a multi-disk zip ({disks} disks) is not supported")
        if not 0 <= rec_at <= loc - 56:
            raise self._fail(f"the ZIP64 locator points at {rec_at}, outside the file")
        rec = self._read(rec_at, 56)
        if rec[:4] != _EOCD64:
            raise self._fail(f"no ZIP64 end of central directory record at {rec_at}")
        rec_size, _, _, disk, cd_disk, here, count64, size64, offset64 = struct.unpack_from(
            "<QHHIIQQQQ", rec, 4
        )
        if rec_at + 12 + rec_size != loc:
            raise self._fail("the ZIP64 end record does not end where its locator begins")
        if disk != 0 or cd_disk != 0 or here != count64:
            raise self._fail("a multi-disk zip (ZIP64) is not supported")
        for name, small, big, sat in (
            ("entry count", count, count64, 0xFFFF),
            ("directory size", size, size64, 0xFFFFFFFF),
            ("directory offset", offset, offset64, 0xFFFFFFFF),
        ):
            if small != sat and small != big:
                raise self._fail(f"the end record and the ZIP64 end record disagree on the {name}")
        return count64, offset64, size64, rec_at

    # -- the central directory ------------------------------------------------------------

    def members(self, limit: int) -> list[ZipMember]:
        """Every entry of the central directory, checked. Raises :class:`ZipError` when the
        archive as a whole is damaged, :class:`ReadLimitError` past ``limit`` entries or
        :data:`MAX_DIRECTORY_BYTES`."""
        if self._members is None:
            count, cd_offset, cd_size, end = self._end_record()
            if count > limit:
                raise ReadLimitError(
                    f"the zip lists {count} members (libcprobe reads at most {limit})", self.path
                )
            if cd_size > MAX_DIRECTORY_BYTES:
                raise ReadLimitError(
                    f"the central directory is {cd_size} bytes (limit {MAX_DIRECTORY_BYTES})",
                    self.path,
                )
            if cd_offset + cd_size != end:
                raise self._fail(
                    f"the central directory (offset {cd_offset}, {cd_size} bytes) does not end "
                    f"where the end record begins ({end}): data before the archive, a second "
                    "central directory, or a lying offset or size"
                )
            entries = self._parse_directory(self._read(cd_offset, cd_size), count)
            self._check_layout(entries, cd_offset)
            self._members = [self._member(e) for e in entries]
        return self._members

    def _parse_directory(self, cd: bytes, count: int) -> list[_Entry]:
        entries: list[_Entry] = []
        pos = 0
        while pos < len(cd):
            if len(entries) == count:
                raise self._fail(
                    f"the central directory holds more than the {count} entries the end "
                    "record says (a second central directory?)"
                )
            if cd[pos : pos + 4] != _CENTRAL or pos + 46 > len(cd):
                raise self._fail(f"central directory entry {len(entries)} is damaged")
            (flags, method, _, _, crc, csize, size, nlen, xlen, clen, disk) = struct.unpack_from(
                "<2H2H3I4H", cd, pos + 8
            )
            (offset,) = struct.unpack_from("<I", cd, pos + 42)
            end = pos + 46 + nlen + xlen + clen
            if end > len(cd):
                raise self._fail(f"central directory entry {len(entries)} runs past its end")
            raw = cd[pos + 46 : pos + 46 + nlen]
            extra = cd[pos + 46 + nlen : pos + 46 + nlen + xlen]
            entry = _Entry(raw, (flags, method, crc, csize, size, offset))
            entry.error = self._zip64_fields(entry, extra, disk)
            entries.append(entry)
            pos = end
        if len(entries) != count:
            raise self._fail(
                f"the central directory holds {len(entries)} entries, the end record says {count}"
            )
        _mark_duplicates(entries)
        return entries

    def _zip64_fields(self, entry: _Entry, extra: bytes, disk: int) -> Optional[str]:
        """Apply the ZIP64 extra field; an error string for a malformed extra or a missing
        ZIP64 value."""
        fields = _extra_fields(extra)
        if fields is None:
            return "malformed extra field in the central directory"
        wanted = [
            name
            for name, value, sat in (
                ("size", entry.size, 0xFFFFFFFF),
                ("csize", entry.csize, 0xFFFFFFFF),
                ("offset", entry.offset, 0xFFFFFFFF),
                ("disk", disk, 0xFFFF),
            )
            if value == sat
        ]
        if not wanted:
            return None if disk == 0 else f"member on disk {disk} (multi-disk zips are not read)"
        data = fields.get(1)
        if data is None or len(data) < 8 * len(wanted) - (4 if "disk" in wanted else 0):
            return "ZIP64 extra field missing or too short for the values it must hold"
        values = dict(zip(wanted, struct.unpack_from("<" + "Q" * len(wanted), data + bytes(4))))
        entry.size = values.get("size", entry.size)
        entry.csize = values.get("csize", entry.csize)
        entry.offset = values.get("offset", entry.offset)
        return None

    def _check_layout(self, entries: list[_Entry], cd_offset: int) -> None:
        """Read each local header, compare it with the directory, and check the members tile
        the file from 0 to the directory."""
        expected: Optional[int] = 0  # None: the previous member's end is unknown
        previous = ""
        for entry in sorted(entries, key=lambda e: e.offset):
            if expected is not None and entry.offset > expected:
                raise self._fail(
                    f"{entry.offset - expected} bytes at offset {expected} belong to no member "
                    "(data before the archive, hidden data, or a second archive)"
                )
            end = self._local(entry, cd_offset)
            inside = expected is not None and entry.offset < expected
            if inside:
                entry.error = f"its data overlaps member {previous!r} (offset {entry.offset})"
            if end is not None and expected is not None:
                expected = max(expected, end)
            elif not inside:
                expected = end
            previous = entry.name
        if expected is not None and expected != cd_offset:
            raise self._fail(
                f"{cd_offset - expected} bytes at offset {expected} belong to no member "
                "(hidden data or a second archive before the central directory)"
            )

    def _local(self, entry: _Entry, cd_offset: int) -> Optional[int]:
        """Check the local header of ``entry``; where its record (with descriptor) ends, or
        None when its header is missing."""
        head = self._read(entry.offset, 30) if entry.offset < cd_offset else b""
        if len(head) < 30 or head[:4] != _LOCAL:
            entry.error = entry.error or f"no local file header at offset {entry.offset}"
            return None
        flags, method, _, _, crc, csize, size, nlen, xlen = struct.unpack_from("<4H3I2H", head, 6)
        names = self._read(entry.offset + 30, nlen + xlen)
        data_at: int = entry.offset + 30 + nlen + xlen
        fields = _extra_fields(names[nlen:])
        problem = None
        if names[:nlen] != entry.raw:
            problem = "its local header names another file than the central directory"
        elif method != entry.method or (flags ^ entry.flags) & 0x0849:
            problem = "its local header disagrees with the central directory (method or flags)"
        elif fields is None:
            problem = "malformed extra field in its local header"
        elif not flags & 0x08:
            zip64 = fields.get(1, b"")
            if csize == 0xFFFFFFFF or size == 0xFFFFFFFF:
                if len(zip64) < 16:
                    problem = "its local header lacks the ZIP64 sizes it announces"
                else:
                    size, csize = struct.unpack_from("<QQ", zip64)
            if problem is None and (crc, csize, size) != (entry.crc, entry.csize, entry.size):
                problem = "its local header disagrees with the central directory (CRC or sizes)"
        end = data_at + entry.csize
        if end > cd_offset:
            problem = problem or (
                f"its data ({entry.csize} bytes at {data_at}) runs into the central directory"
            )
            end = cd_offset
        elif flags & 0x08 and problem is None:
            end, problem = self._descriptor(entry, end, 1 in (fields or {}))
        if problem is not None:
            entry.error = entry.error or problem
        entry.data_at = data_at
        return end

    def _descriptor(self, entry: _Entry, at: int, zip64: bool) -> tuple[int, Optional[str]]:
        blob = self._read(at, 24)
        sig = 4 if blob[:4] == _DESCRIPTOR else 0
        fmt = "<IQQ" if zip64 or entry.csize > 0xFFFFFFFF else "<III"
        need = sig + struct.calcsize(fmt)
        if len(blob) < need:
            return at, "its data descriptor is truncated"
        crc, csize, size = struct.unpack_from(fmt, blob, sig)
        if (crc, csize, size) != (entry.crc, entry.csize, entry.size):
            return at + need, "its data descriptor disagrees with the central directory"
        return int(at + need), None

    def _member(self, e: _Entry) -> ZipMember:
        error = e.error or _member_problem(e)
        return ZipMember(
            e.name, e.method, e.flags, e.crc, e.csize, e.size, e.offset, e.data_at, error
        )

    # -- member data ----------------------------------------------------------------------

    def chunks(self, member: ZipMember, stop: Optional[int] = None) -> Iterator[bytes]:
        """The decompressed bytes of ``member`` in chunks of at most 1 MiB, up to ``stop``
        bytes (or a little more). Read to its end (``stop`` None, or at least the size) the
        member is checked: its data must decompress to exactly its size, end where its
        compressed size says, and match its CRC-32; a :class:`ZipError` naming
        ``path!member`` says which check failed."""
        shown = f"{self.path}!{member.name}"
        if member.error is not None:
            raise ZipError(member.error, shown)
        full = stop is None or stop >= member.size
        crc = 0
        produced = 0
        for out in self._inflated(member, shown):
            produced += len(out)
            if produced > member.size:
                raise ZipError(
                    f"decompresses to more than the {member.size} bytes the directory says", shown
                )
            if full:
                crc = zlib.crc32(out, crc)
            yield out
            if stop is not None and not full and produced >= stop:
                return
        if produced != member.size:
            raise ZipError(
                f"decompresses to {produced} bytes, the directory says {member.size}", shown
            )
        if crc != member.crc:
            raise ZipError(
                f"CRC-32 mismatch: the data gives {crc:#010x}, the directory says "
                f"{member.crc:#010x}",
                shown,
            )

    def _compressed(self, member: ZipMember, shown: str) -> Iterator[bytes]:
        pos, left = member.data_offset, member.compressed_size
        while left:
            raw = self._read(pos, min(_CHUNK, left))
            if not raw:
                raise ZipError(f"member data is truncated: the file ends at {pos}", shown)
            pos += len(raw)
            left -= len(raw)
            yield raw

    def _inflated(self, member: ZipMember, shown: str) -> Iterator[bytes]:
        if member.method == _STORED:
            yield from self._compressed(member, shown)
            return
        inflate = zlib.decompressobj(-15)
        try:
            for raw in self._compressed(member, shown):
                if inflate.eof:
                    raise ZipError(_EARLY_END.format(member.compressed_size), shown)
                out = inflate.decompress(raw, _CHUNK)
                while out:
                    yield out
                    out = inflate.decompress(inflate.unconsumed_tail, _CHUNK)
                if inflate.unused_data:
                    raise ZipError(_EARLY_END.format(member.compressed_size), shown)
        except zlib.error as exc:
            raise ZipError(f"corrupt deflate data: {exc}", shown) from None
        if not inflate.eof:
            raise ZipError("the deflate stream is truncated (no final block)", shown)


_EARLY_END = "the deflate stream ends before its compressed size ({} bytes) says"


def _extra_fields(extra: bytes) -> Optional[dict[int, bytes]]:
    fields: dict[int, bytes] = {}
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, pos)
        if pos + 4 + size > len(extra):
            return None
        fields.setdefault(tag, extra[pos + 4 : pos + 4 + size])
        pos += 4 + size
    return fields if pos == len(extra) or not extra[pos:].strip(b"\0") else None


def _member_problem(e: _Entry) -> Optional[str]:
    if e.flags & 0x40:
        return "strong encryption (flag bit 6): encrypted members are not read"
    if e.flags & 0x01:
        return "encrypted (flag bit 0): encrypted members are not read"
    if e.flags & 0x2000:
        return "masked local header (flag bit 13, central directory encryption)"
    if e.method not in (_STORED, _DEFLATED):
        name = METHOD_NAMES.get(e.method, "unknown")
        return f"compression method {e.method} ({name}): only stored and deflate are read"
    if e.method == _STORED and e.csize != e.size:
        return f"stored member with {e.csize} bytes of data but a size of {e.size}"
    return None


def _mark_duplicates(entries: list[_Entry]) -> None:
    seen: dict[str, int] = {}
    for e in entries:
        seen[e.name] = seen.get(e.name, 0) + 1
    for e in entries:
        if seen[e.name] > 1:
            e.error = f"the zip holds {seen[e.name]} members of this name (which one is meant?)"
