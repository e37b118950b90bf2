"""Zip files as editable structures, for tests and the fuzzer: parse a well-formed zip (a real
wheel) into its records (local headers with data and descriptors, central directory entries,
ZIP64 records, end record), change fields or whole records, and write it back.

``write`` writes every field as it stands; ``relayout`` first recomputes offsets, sizes and
counts from the content, so a change stays the only damage. The edits the damage tests and the
fuzzer share are here too: ``Zip.keep`` (a real wheel trimmed to a few members),
``Zip.set_both`` (a field changed in both headers of a member), ``Zip.add_descriptor``.
Structures: PKWARE APPNOTE 6.3.
"""

from __future__ import annotations

import copy
import struct
import zlib
from dataclasses import dataclass
from typing import Optional

LOCAL = struct.Struct("<4sHHHHHIIIHH")
CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")
EOCD = struct.Struct("<4sHHHHIIH")
EOCD64 = struct.Struct("<4sQHHIIQQQQ")
LOCATOR = struct.Struct("<4sIQI")


@dataclass
class Record:
    """A local header, the member's (compressed) data and its data descriptor."""

    version: int
    flags: int
    method: int
    mtime: int
    mdate: int
    crc: int
    csize: int
    size: int
    name: bytes
    extra: bytes
    data: bytes
    descriptor: bytes = b""
    sig: bytes = b"PK\x03\x04"
    nlen: Optional[int] = None  # override of the written name length

    def to_bytes(self) -> bytes:
        nlen = len(self.name) if self.nlen is None else self.nlen
        head = LOCAL.pack(self.sig, *_shared(self), nlen, len(self.extra))
        return head + self.name + self.extra + self.data + self.descriptor


@dataclass
class Central:
    """A central directory entry."""

    made_by: int
    version: int
    flags: int
    method: int
    mtime: int
    mdate: int
    crc: int
    csize: int
    size: int
    disk: int
    iattr: int
    eattr: int
    offset: int
    name: bytes
    extra: bytes
    comment: bytes
    sig: bytes = b"PK\x01\x02"

    def to_bytes(self) -> bytes:
        head = CENTRAL.pack(
            self.sig,
            self.made_by,
            *_shared(self),
            len(self.name),
            len(self.extra),
            len(self.comment),
            self.disk,
            self.iattr,
            self.eattr,
            self.offset,
        )
        return head + self.name + self.extra + self.comment


def _shared(h: Record | Central) -> tuple[int, ...]:
    """The fields a local header and its directory entry both hold, in their order."""
    return (h.version, h.flags, h.method, h.mtime, h.mdate, h.crc, h.csize, h.size)


SHARED_FIELDS = ("version", "flags", "method", "mtime", "mdate", "crc", "csize", "size")


@dataclass
class End:
    """The end of central directory record (and, when ``zip64``, the ZIP64 records)."""

    disk: int = 0
    cd_disk: int = 0
    here: int = 0
    total: int = 0
    cd_size: int = 0
    cd_offset: int = 0
    comment: bytes = b""
    zip64: bool = False
    sig: bytes = b"PK\x05\x06"


@dataclass
class Zip:
    """A whole archive: ``prefix`` bytes, records, ``gap`` bytes, directory, end records."""

    records: list[Record]
    centrals: list[Central]
    end: End
    prefix: bytes = b""
    gap: bytes = b""
    extra_directory: bytes = b""  # bytes written after the directory, before the end records
    trailer: bytes = b""  # bytes after the end record

    def copy(self) -> Zip:
        return copy.deepcopy(self)

    def keep(self, suffixes: tuple[str, ...], limit: Optional[int] = None) -> Zip:
        """Only the members whose names end with one of ``suffixes`` (the first ``limit``),
        laid out again: a real wheel trimmed to a few of its own members."""
        kept = [i for i, c in enumerate(self.centrals) if c.name.decode().endswith(suffixes)]
        kept = kept[:limit]
        self.records = [self.records[i] for i in kept]
        self.centrals = [self.centrals[i] for i in kept]
        return self.relayout()

    def set_both(self, i: int, **fields: int) -> None:
        """Set header fields of member ``i`` in its local header and its directory entry alike
        (so that they agree: the damage is to what both say)."""
        for key, value in fields.items():
            assert key in SHARED_FIELDS, key
            setattr(self.records[i], key, value)
            setattr(self.centrals[i], key, value)

    def add_descriptor(self, i: int, descriptor: bytes, *, zero_local: bool = True) -> None:
        """Give member ``i`` a data descriptor (flag bit 3 in both headers), with the local
        header's CRC and sizes zeroed as streamed writers leave them; laid out again."""
        record = self.records[i]
        record.flags |= 0x08
        self.centrals[i].flags |= 0x08
        record.descriptor = descriptor
        if zero_local:
            record.crc = record.csize = record.size = 0
        self.relayout()

    def relayout(self) -> Zip:
        """Recompute local offsets, directory offset, size and counts from the content."""
        pos = len(self.prefix)
        for record, central in zip(self.records, self.centrals):
            central.offset = pos
            pos += len(record.to_bytes())
        pos += len(self.gap)
        self.end.cd_offset = pos
        self.end.cd_size = sum(len(c.to_bytes()) for c in self.centrals)
        self.end.here = self.end.total = len(self.centrals)
        return self

    def write(self) -> bytes:
        out = bytearray(self.prefix)
        for record in self.records:
            out += record.to_bytes()
        out += self.gap
        for central in self.centrals:
            out += central.to_bytes()
        out += self.extra_directory
        e = self.end
        if e.zip64:
            at = len(out)
            out += EOCD64.pack(
                b"PK\x06\x06", 44, 45, 45, 0, 0, e.here, e.total, e.cd_size, e.cd_offset
            )
            out += LOCATOR.pack(b"PK\x06\x07", 0, at, 1)
            here, total = 0xFFFF, 0xFFFF
            size, offset = 0xFFFFFFFF, 0xFFFFFFFF
        else:
            here, total, size, offset = e.here, e.total, e.cd_size, e.cd_offset
        out += EOCD.pack(
            e.sig, e.disk, e.cd_disk, here & 0xFFFF, total & 0xFFFF, size, offset, len(e.comment)
        )
        out += e.comment + self.trailer
        return bytes(out)


def parse(blob: bytes) -> Zip:
    """Parse a well-formed zip (no ZIP64 members; a ZIP64 end record is recognised)."""
    at = blob.rfind(b"PK\x05\x06")
    _, disk, cd_disk, here, total, cd_size, cd_offset, clen = EOCD.unpack_from(blob, at)
    end = End(disk, cd_disk, here, total, cd_size, cd_offset, blob[at + 22 : at + 22 + clen])
    if at >= 20 and blob[at - 20 : at - 16] == b"PK\x06\x07":
        (rec_at,) = struct.unpack_from("<Q", blob, at - 12)
        fields = EOCD64.unpack_from(blob, rec_at)
        end.here, end.total, end.cd_size, end.cd_offset = fields[6:10]
        end.zip64 = True
    centrals = []
    pos = end.cd_offset
    for _ in range(end.total):
        f = CENTRAL.unpack_from(blob, pos)
        nlen, xlen, clen2 = f[10], f[11], f[12]
        name_at = pos + CENTRAL.size
        centrals.append(
            Central(  # type: ignore[call-arg]
                *f[1:10],
                f[13],
                f[14],
                f[15],
                f[16],
                blob[name_at : name_at + nlen],
                blob[name_at + nlen : name_at + nlen + xlen],
                blob[name_at + nlen + xlen : name_at + nlen + xlen + clen2],
            )
        )
        pos = name_at + nlen + xlen + clen2
    records = []
    for c in centrals:
        f = LOCAL.unpack_from(blob, c.offset)
        nlen, xlen = f[9], f[10]
        data_at = c.offset + LOCAL.size + nlen + xlen
        data_end = data_at + c.csize
        descriptor = b""
        if c.flags & 0x08:
            size = 16 if blob[data_end : data_end + 4] == b"PK\x07\x08" else 12
            descriptor = blob[data_end : data_end + size]
        records.append(
            Record(
                *f[1:9],  # type: ignore[misc]
                name=blob[c.offset + LOCAL.size : c.offset + LOCAL.size + nlen],
                extra=blob[c.offset + LOCAL.size + nlen : data_at],
                data=blob[data_at:data_end],
                descriptor=descriptor,
            )
        )
    return Zip(records, centrals, end, prefix=blob[: centrals[0].offset] if centrals else b"")


def add_member(z: Zip, name: bytes, content: bytes, method: int = 8, flags: int = 0) -> Zip:
    """Append a member (deflated or stored), consistent in both headers."""
    if method == 8:
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        data = c.compress(content) + c.flush()
    else:
        data = content
    crc = zlib.crc32(content)
    z.records.append(
        Record(20, flags, method, 0, 0x21, crc, len(data), len(content), name, b"", data)
    )
    z.centrals.append(
        Central(
            20, 20, flags, method, 0, 0x21, crc, len(data), len(content), 0, 0, 0, 0, name, b"", b""
        )
    )
    return z.relayout()


def find(z: Zip, suffix: str) -> int:
    """Index of the first member whose name ends with ``suffix``."""
    for i, c in enumerate(z.centrals):
        if c.name.decode("utf-8", "replace").endswith(suffix):
            return i
    raise KeyError(suffix)


def boundaries(z: Zip) -> list[int]:
    """Every offset where one structure ends and the next begins (for truncation tests)."""
    out = [len(z.prefix)]
    pos = len(z.prefix)
    for r in z.records:
        pos += LOCAL.size
        out.append(pos)
        pos += len(r.name) + len(r.extra)
        out.append(pos)
        pos += len(r.data)
        out.append(pos)
        pos += len(r.descriptor)
        out.append(pos)
    pos += len(z.gap)
    for c in z.centrals:
        pos += len(c.to_bytes())
        out.append(pos)
    total = len(z.write())
    out.extend([total - len(z.end.comment) - 22, total - len(z.end.comment) - 2, total - 1])
    return sorted(set(o for o in out if 0 < o < total))


__all__ = [
    "SHARED_FIELDS",
    "Central",
    "End",
    "Record",
    "Zip",
    "add_member",
    "boundaries",
    "find",
    "parse",
]
