"""The ELF reader's bounds, each with a test: bytes read per file, structure counts (program
headers, dynamic entries, version chains, notes) and time per file. A root's bounds (symbolic
link hops and escapes, ``#!`` hops, ``/etc/ld.so.conf`` include loops) are in
test_root_bounds.py.

Wall-clock guards here (:func:`hang_guard`) only detect hangs; they are generous and are not
performance assertions.
"""

from __future__ import annotations

import os
import struct
import time
import tracemalloc
from pathlib import Path
from typing import Any, Optional

import pytest

import libcprobe
from libcprobe import CorruptELFError, ReadLimitError
from libcprobe._classify import classify
from libcprobe._elf import (
    MAX_BYTES_PER_FILE,
    MAX_DYNAMIC_ENTRIES,
    MAX_NOTE_SEGMENT,
    MAX_NOTES,
    MAX_PROGRAM_HEADERS,
    MAX_STRING,
    MAX_VERSION_ENTRIES,
    open_elf,
    read_elf,
)
from shared import hang_guard, musl_program

GIB = 1 << 30
PT_NULL, PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE = 0, 1, 2, 3, 4
DT_NULL, DT_NEEDED, DT_STRTAB, DT_STRSZ = 0, 1, 5, 10
DT_FLAGS_1, DT_VERDEF, DT_VERDEFNUM, DT_VERNEED, DT_VERNEEDNUM = (
    0x6FFFFFFB,
    0x6FFFFFFC,
    0x6FFFFFFD,
    0x6FFFFFFE,
    0x6FFFFFFF,
)


# -- helpers -------------------------------------------------------------------------------


def elf64(
    body: bytes,
    segments: list[tuple[int, int, int]],
    *,
    etype: int = 3,
    phnum: Optional[int] = None,
    load_flags: int = 5,
) -> bytes:
    """An ELF64 little-endian x86_64 file: header, program headers, then ``body``.

    The first program header is a ``PT_LOAD`` (flags ``load_flags``) mapping ``body`` at virtual
    address 0, so addresses in dynamic entries are offsets into ``body``; ``segments`` are more
    program headers as ``(p_type, offset in body, filesz)``."""
    phdrs = [(PT_LOAD, load_flags, 0, len(body)), *((t, 4, o, s) for t, o, s in segments)]
    body_off = (64 + 56 * len(phdrs) + 15) & ~15
    out = bytearray(body_off)
    out[0:16] = b"\x7fELF\x02\x01\x01" + bytes(9)
    count = len(phdrs) if phnum is None else phnum
    struct.pack_into("<HHIQQQIHHHHHH", out, 16, etype, 62, 1, 0, 64, 0, 0, 64, 56, count, 64, 0, 0)
    for i, (ptype, flags, off, size) in enumerate(phdrs):
        align = 0x1000 if ptype == PT_LOAD else 4
        struct.pack_into(
            "<IIQQQQQQ", out, 64 + 56 * i, ptype, flags, body_off + off, off, 0, size, size, align
        )
    return bytes(out) + body


def dyn(entries: list[tuple[int, int]]) -> bytes:
    return b"".join(struct.pack("<qQ", t, v) for t, v in entries)


class ReadCounter:
    """Counts the bytes ``os.pread`` returns for each file descriptor ``os.open`` opened."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sessions: list[list[Any]] = []  # [path, bytes]
        self._by_fd: dict[int, list[Any]] = {}
        real_open, real_pread = os.open, os.pread

        def counting_open(path: Any, flags: int, mode: int = 0o777, **kw: Any) -> int:
            fd = real_open(path, flags, mode, **kw)
            session = [os.fsdecode(path), 0]
            self.sessions.append(session)
            self._by_fd[fd] = session
            return fd

        def counting_pread(fd: int, size: int, offset: int) -> bytes:
            data = real_pread(fd, size, offset)
            self._by_fd[fd][1] += len(data)
            return data

        monkeypatch.setattr(os, "open", counting_open)
        monkeypatch.setattr(os, "pread", counting_pread)

    @property
    def most(self) -> int:
        return max((s[1] for s in self.sessions), default=0)


def sparse(path: Path, head: bytes, size: int = GIB, at: Optional[dict[int, bytes]] = None) -> Path:
    with open(path, "wb") as f:
        f.write(head)
        for offset, blob in (at or {}).items():
            f.seek(offset)
            f.write(blob)
        f.truncate(size)
    return path


# -- bytes read per file -------------------------------------------------------------------


def test_sparse_1gib_file_reads_little(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = sparse(tmp_path / "big", musl_program())
    counter = ReadCounter(monkeypatch)
    elf = read_elf(big)
    assert elf.file_size == GIB and elf.interpreter == "/lib/ld-musl-x86_64.so.1"
    assert libcprobe.inspect(big).ok
    libcprobe.detect(big)
    assert counter.sessions and counter.most <= MAX_BYTES_PER_FILE
    assert counter.sessions[0][1] < 64 * 1024  # headers only, not the holes


def test_read_only_segment_claiming_a_terabyte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A static file whose read-only PT_LOAD claims 2**40 bytes of a 1 GiB sparse file: the
    marker scan reads at most half the budget."""
    head = bytearray(elf64(b"\0" * 64, [], etype=2, load_flags=4))
    struct.pack_into("<QQ", head, 64 + 32, 1 << 40, 1 << 40)  # PT_LOAD filesz, memsz
    big = sparse(tmp_path / "big", bytes(head))
    counter = ReadCounter(monkeypatch)
    with open_elf(big) as elf:
        chunks = elf.readonly_data()
        assert sum(len(c) for _, c in chunks) <= MAX_BYTES_PER_FILE // 2
    with open_elf(big) as elf:
        assert classify(elf).family is None
    report = libcprobe.inspect(big)
    info = libcprobe.detect(big)
    assert report.ok and report.linkage == "static" and info.linkage == "static"
    assert counter.most <= MAX_BYTES_PER_FILE


def test_segments_claiming_huge_sizes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = dyn([(DT_FLAGS_1, 1), (DT_NULL, 0)])
    cases = {
        # PT_DYNAMIC of 2**40 bytes: only MAX_DYNAMIC_ENTRIES are read; DT_NULL ends the walk.
        "dynamic": (elf64(body, [(PT_DYNAMIC, 0, 1 << 40)]), None),
        "note": (elf64(body, [(PT_NOTE, 0, 1 << 40)]), CorruptELFError),
        "interp": (elf64(body, [(PT_INTERP, 0, 1 << 40)]), CorruptELFError),
    }
    counter = ReadCounter(monkeypatch)
    for name, (head, error) in cases.items():
        path = sparse(tmp_path / name, head)
        if error is None:
            assert read_elf(path).flags_1 == 1
        else:
            with pytest.raises(error):
                read_elf(path)
        assert libcprobe.inspect(path).ok is (error is None)
        libcprobe.detect(path)
    assert counter.most <= MAX_BYTES_PER_FILE


def test_many_distinct_note_segments_hit_the_read_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """17 PT_NOTE segments of 1 MiB each at different offsets: 17 MiB would be read, so the
    reader stops with ReadLimitError, having read at most MAX_BYTES_PER_FILE."""
    mib = 1 << 20
    count = MAX_BYTES_PER_FILE // mib + 1
    segments = [(PT_NOTE, k * mib, mib) for k in range(1, count + 1)]
    head = elf64(b"", segments)
    note = struct.pack("<III", 4, mib - 16, 1) + b"GNU\0"
    # elf64 puts the (empty) body at its end: note offsets are body-relative.
    base = len(head)
    path = sparse(
        tmp_path / "notes",
        head,
        size=base + (count + 1) * mib,
        at={base + k * mib: note for k in range(1, count + 1)},
    )
    counter = ReadCounter(monkeypatch)
    # Either bound may stop it first: the total of note bytes, or the per-file read cap.
    with pytest.raises((ReadLimitError, CorruptELFError)):
        read_elf(path)
    report = libcprobe.inspect(path)
    assert not report.ok and (
        "PT_NOTE" in str(report.error) or str(MAX_BYTES_PER_FILE) in str(report.error)
    )
    assert libcprobe.detect(path).family is None
    assert counter.most <= MAX_BYTES_PER_FILE


def test_many_strings_hit_the_read_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """6000 DT_NEEDED names of 4000 bytes, 4 KiB apart, in a string table: each name read
    touches new blocks (24 MiB in all), so the reader stops with ReadLimitError at
    MAX_BYTES_PER_FILE."""
    mib = 1 << 20
    size = 32 * mib
    entries = [(DT_STRTAB, mib), (DT_STRSZ, size - mib)]
    entries += [(DT_NEEDED, k * 4096) for k in range(6000)] + [(DT_NULL, 0)]
    blob = dyn(entries)
    head = bytearray(4096)
    head[0:16] = b"\x7fELF\x02\x01\x01" + bytes(9)
    struct.pack_into("<HHIQQQIHHHHHH", head, 16, 3, 62, 1, 0, 64, 0, 0, 64, 56, 2, 64, 0, 0)
    struct.pack_into("<IIQQQQQQ", head, 64, PT_LOAD, 4, 0, 0, 0, size, size, 4096)
    struct.pack_into("<IIQQQQQQ", head, 120, PT_DYNAMIC, 6, 4096, 4096, 0, len(blob), len(blob), 8)
    names = (b"n" * 4000 + bytes(96)) * 6000
    path = sparse(tmp_path / "strings", bytes(head) + blob, size=size, at={mib: names})
    counter = ReadCounter(monkeypatch)
    with hang_guard(5), pytest.raises(ReadLimitError):
        read_elf(path)
    assert counter.most <= MAX_BYTES_PER_FILE
    assert not libcprobe.inspect(path).ok
    assert libcprobe.detect(path).family is None
    assert counter.most <= MAX_BYTES_PER_FILE


def test_large_static_pie_is_scanned_once(tmp_path: Path) -> None:
    size = 20 << 20
    head = bytearray(elf64(b"\0" * 64, [], etype=3, load_flags=4))
    struct.pack_into("<QQ", head, 64 + 32, size, size)
    path = sparse(tmp_path / "static-pie", bytes(head), size=size)
    report = libcprobe.inspect(path)
    assert report.ok, report.error
    assert report.linkage == "static"


# -- structure counts ------------------------------------------------------------------------


def test_program_header_count_bound() -> None:
    ok = elf64(
        b"", [(PT_NULL, 0, 0)] * (MAX_PROGRAM_HEADERS - 1), etype=1
    )  # ET_REL: the kernel's rules for programs (64 KiB of headers) do not apply
    with hang_guard(5):
        assert len(read_elf(ok).program_headers) == MAX_PROGRAM_HEADERS
    too_many = elf64(b"", [(PT_NULL, 0, 0)] * MAX_PROGRAM_HEADERS, etype=1)
    with pytest.raises(CorruptELFError, match="program headers"):
        read_elf(too_many)
    # A huge e_phnum with a short table is refused before reading it.
    with pytest.raises(CorruptELFError, match="program headers"):
        read_elf(elf64(b"", [], phnum=0xFFFE, etype=1))


def test_extended_program_header_count_is_bounded() -> None:
    """e_phnum == PN_XNUM takes the count from section 0's sh_info (up to 2**32-1)."""
    data = bytearray(elf64(b"\0" * 64, [], phnum=0xFFFF, etype=4))  # a core file
    shoff = len(data) - 64
    struct.pack_into("<Q", data, 40, shoff)  # e_shoff
    struct.pack_into("<I", data, shoff + 44, 0xFFFFFFFF)  # sh_info
    with pytest.raises(CorruptELFError, match="program headers"):
        read_elf(bytes(data))


def test_dynamic_entry_bound() -> None:
    def file(n: int) -> bytes:
        body = dyn([(DT_FLAGS_1, 8)] * n)  # no DT_NULL: the segment size decides
        return elf64(body, [(PT_DYNAMIC, 0, len(body))])

    elf = read_elf(file(MAX_DYNAMIC_ENTRIES))
    assert len(elf.dynamic) == MAX_DYNAMIC_ENTRIES and elf.flags_1 == 8
    with pytest.raises(CorruptELFError, match="entries"):
        read_elf(file(MAX_DYNAMIC_ENTRIES + 1))


def _verneed_file(entries: int, aux_per_entry: int, aux_chain: int, count: int) -> bytes:
    """A DT_VERNEED table of ``entries`` Elf_Verneed (each followed by ``aux_chain`` Vernaux)
    claiming ``aux_per_entry`` aux entries each; DT_VERNEEDNUM = ``count``."""
    strtab = b"\0libc.so.6\0GLIBC_2.17\0"
    table = bytearray()
    step = 16 + 16 * aux_chain
    for i in range(entries):
        table += struct.pack("<HHIII", 1, aux_per_entry, 1, 16, 0 if i == entries - 1 else step)
        for j in range(aux_chain):
            table += struct.pack("<IHHII", 0, 0, 2, 11, 0 if j == aux_chain - 1 else 16)
    dyn_off = 0
    n_dyn = 6
    str_off = dyn_off + 16 * n_dyn
    table_off = (str_off + len(strtab) + 15) & ~15
    entries_dyn = dyn(
        [
            (DT_STRTAB, str_off),
            (DT_STRSZ, len(strtab)),
            (DT_VERNEED, table_off),
            (DT_VERNEEDNUM, count),
            (DT_NULL, 0),
            (DT_NULL, 0),
        ]
    )
    body = bytearray(table_off + len(table))
    body[0 : len(entries_dyn)] = entries_dyn
    body[str_off : str_off + len(strtab)] = strtab
    body[table_off:] = table
    return elf64(bytes(body), [(PT_DYNAMIC, 0, len(entries_dyn))])


def test_version_need_chain_bounds() -> None:
    # A long, well-formed chain with a huge DT_VERNEEDNUM: walked at most MAX_VERSION_ENTRIES.
    with hang_guard(5):
        elf = read_elf(_verneed_file(MAX_VERSION_ENTRIES + 500, 1, 1, 10**9))
    assert len(elf.version_needs) == MAX_VERSION_ENTRIES
    assert elf.glibc_requires == (2, 17)
    # One entry claiming 65535 aux entries with a chain of 5000: the aux budget stops it.
    with hang_guard(5), pytest.raises(CorruptELFError, match="aux chain"):
        read_elf(_verneed_file(1, 0xFFFF, MAX_VERSION_ENTRIES + 10, 1))
    # The aux budget is shared by all entries.
    with pytest.raises(CorruptELFError, match="aux chain"):
        read_elf(_verneed_file(3, 2000, 2000, 3))


def test_version_definition_chain_bound() -> None:
    strtab = b"\0libx.so\0"
    n = MAX_VERSION_ENTRIES + 100
    table = bytearray()
    for i in range(n):
        table += struct.pack("<HHHHIII", 1, 0, i + 1, 1, 0, 20, 0 if i == n - 1 else 28)
        table += struct.pack("<II", 1, 0)
    str_off = 16 * 5
    table_off = (str_off + len(strtab) + 15) & ~15
    entries = dyn(
        [
            (DT_STRTAB, str_off),
            (DT_STRSZ, len(strtab)),
            (DT_VERDEF, table_off),
            (DT_VERDEFNUM, 10**9),
            (DT_NULL, 0),
        ]
    )
    body = bytearray(table_off + len(table))
    body[: len(entries)] = entries
    body[str_off : str_off + len(strtab)] = strtab
    body[table_off:] = table
    with hang_guard(5):
        elf = read_elf(elf64(bytes(body), [(PT_DYNAMIC, 0, len(entries))]))
    assert len(elf.version_definitions) == MAX_VERSION_ENTRIES


def test_note_count_and_size_bounds() -> None:
    def notes(n: int) -> bytes:
        body = struct.pack("<III", 0, 0, 1) * n
        return elf64(body, [(PT_NOTE, 0, len(body))])

    assert len(read_elf(notes(MAX_NOTES)).notes) == MAX_NOTES
    with pytest.raises(CorruptELFError, match="notes"):
        read_elf(notes(MAX_NOTES + 1))
    big = struct.pack("<III", 4, MAX_NOTE_SEGMENT, 1) + b"GNU\0" + bytes(MAX_NOTE_SEGMENT)
    with pytest.raises(CorruptELFError, match="PT_NOTE"):
        read_elf(elf64(big, [(PT_NOTE, 0, len(big))]))


def test_string_bounds() -> None:
    unterminated = b"\0" + b"a" * (MAX_STRING + 100)
    body = dyn([(DT_NEEDED, 1), (DT_STRTAB, 48), (DT_NULL, 0)]) + unterminated
    with pytest.raises(CorruptELFError, match="NUL-terminated"):
        read_elf(elf64(body, [(PT_DYNAMIC, 0, 48)]))
    interp = b"/" * (MAX_STRING + 1)
    with pytest.raises(CorruptELFError, match="PT_INTERP"):
        read_elf(elf64(interp, [(PT_INTERP, 0, len(interp))]))


def test_note_bytes_held_per_file_are_bounded() -> None:
    desc = MAX_NOTE_SEGMENT - 16
    note = struct.pack("<III", 4, desc, 1) + b"GNU\0" + b"A" * desc
    data = elf64(note, [(PT_NOTE, 0, len(note))] * 64)  # 64 MiB held; 1024 would be 1 GiB
    tracemalloc.start()
    try:
        elf = read_elf(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(elf.notes) == 1  # the 64 headers name one segment: it is read once
    assert peak <= MAX_BYTES_PER_FILE, f"{peak} bytes held for a {len(data)}-byte file"


# -- time per file ---------------------------------------------------------------------------


def test_a_file_at_every_bound_parses_in_bounded_time(tmp_path: Path) -> None:
    """MAX_PROGRAM_HEADERS headers, MAX_DYNAMIC_ENTRIES entries each naming a 4 KiB string,
    MAX_NOTES notes: structurally valid, so everything is parsed."""
    name = b"x" * (MAX_STRING - 1) + b"\0"
    n_dyn = MAX_DYNAMIC_ENTRIES - 1
    str_off = 16 * (n_dyn + 1)
    notes_off = str_off + 1 + len(name)
    notes_off = (notes_off + 3) & ~3
    note_blob = struct.pack("<III", 4, 4, 1) + b"GNU\0" + b"\0\0\0\0"
    notes = note_blob * (MAX_NOTES // 4)
    entries = dyn(
        [(DT_NEEDED, 1)] * (n_dyn - 2) + [(DT_STRTAB, str_off), (DT_STRSZ, 1 + len(name))]
    )
    body = bytearray(notes_off + len(notes) * 4)
    body[: len(entries)] = entries
    body[str_off + 1 : str_off + 1 + len(name)] = name
    for k in range(4):
        body[notes_off + k * len(notes) : notes_off + (k + 1) * len(notes)] = notes
    segments = [
        (PT_INTERP, str_off + 1, 64),
        (PT_DYNAMIC, 0, len(entries) + 16),
        *[(PT_NOTE, notes_off + k * len(notes), len(notes)) for k in range(4)],
    ]
    segments += [(PT_LOAD, 0, len(body))] * (MAX_PROGRAM_HEADERS - 1 - len(segments))
    data = elf64(bytes(body), segments, etype=1)  # ET_REL: past the kernel's program bounds
    path = tmp_path / "everything"
    path.write_bytes(data)
    start = time.monotonic()
    with hang_guard(5):
        elf = read_elf(data)
        assert len(elf.program_headers) == MAX_PROGRAM_HEADERS
        assert len(elf.needed) == n_dyn - 2 and len(elf.notes) == MAX_NOTES
        assert libcprobe.inspect(path).ok
        libcprobe.detect(path)
    assert time.monotonic() - start < 5
