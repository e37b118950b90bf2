"""Every bound libcprobe documents, each with a test: bytes read per file, structure counts
(program headers, dynamic entries, version chains, notes), symbolic link hops and escapes from a
root, ``#!`` hops, ``/etc/ld.so.conf`` include loops, and time per file.

Wall-clock guards here (:func:`hang_guard`) only detect hangs; they are generous and are not
performance assertions.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import struct
import time
import tracemalloc
from pathlib import Path
from typing import Any, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import elfbuild
import libcprobe
from libcprobe import CorruptELFError, Family, ReadLimitError, RootError
from libcprobe._classify import classify
from libcprobe._detect import MAX_SHEBANG_HOPS
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
from libcprobe._rootfs import MAX_LD_SO_CONF_FILES, MAX_SYMLINK_HOPS, resolve_in_root
from shared import hang_guard

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
MUSL_LIBC_RODATA = b"\0musl libc (x86_64)\0Version %s\0\x009.8.7\0"


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


class OpenRecorder:
    """Records every path opened through ``os.open`` or ``builtins.open``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.paths: list[str] = []
        real_os_open, real_open = os.open, builtins.open

        def os_open(path: Any, *args: Any, **kwargs: Any) -> int:
            self.paths.append(_opened_path(os.fsdecode(path), args, kwargs))
            return real_os_open(path, *args, **kwargs)

        def py_open(file: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(file, (str, bytes, os.PathLike)):
                self.paths.append(os.fsdecode(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(os, "open", os_open)
        monkeypatch.setattr(builtins, "open", py_open)


def _opened_path(path: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """What an ``os.open`` call opens, as a host path: a name under ``dir_fd`` is joined to
    that directory; ``/proc/self/fd/N`` is the file descriptor N refers to; an ``O_PATH``
    probe (which opens nothing for reading, and may be a symlink itself) is its directory."""
    dir_fd = kwargs.get("dir_fd")
    flags = args[0] if args else kwargs.get("flags", 0)
    if path.startswith("/proc/self/fd/"):
        return os.readlink(path)
    if dir_fd is None:
        return path
    directory = os.readlink(f"/proc/self/fd/{dir_fd}")
    if flags & getattr(os, "O_PATH", 0):
        return directory
    return os.path.join(directory, path)


def sparse(path: Path, head: bytes, size: int = GIB, at: Optional[dict[int, bytes]] = None) -> Path:
    with open(path, "wb") as f:
        f.write(head)
        for offset, blob in (at or {}).items():
            f.seek(offset)
            f.write(blob)
        f.truncate(size)
    return path


def musl_program(interp: str = "/lib/ld-musl-x86_64.so.1") -> bytes:
    return elfbuild.build(elfbuild.Spec(interp=interp, verneed=[])).data


def musl_libc(rodata: bytes = MUSL_LIBC_RODATA) -> bytes:
    return elfbuild.build(
        elfbuild.Spec(
            interp=None,
            needed=[],
            runpath=None,
            verneed=[],
            flags_1=0,
            notes=[],
            extra_rodata=rodata,
        )
    ).data


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
    """6000 DT_NEEDED names 4 KiB apart in a sparse string table: each name read touches new
    blocks (24 MiB in all), so the reader stops with ReadLimitError at MAX_BYTES_PER_FILE."""
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
    path = sparse(tmp_path / "strings", bytes(head) + blob, size=size)
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


# -- symbolic links in a root ----------------------------------------------------------------


def _chain(directory: Path, length: int) -> str:
    """link0 -> link1 -> ... -> link{length-1} -> target (a file); returns link0's name."""
    (directory / "target").write_bytes(b"x")
    for i in range(length):
        nxt = f"link{i + 1}" if i + 1 < length else "target"
        (directory / f"link{i}").symlink_to(nxt)
    return "link0"


def test_symlink_chain_bounds(tmp_path: Path) -> None:
    ok = tmp_path / "ok"
    ok.mkdir()
    assert resolve_in_root(str(ok), "/" + _chain(ok, MAX_SYMLINK_HOPS)) == str(ok / "target")
    long = tmp_path / "long"
    long.mkdir()
    with hang_guard(5), pytest.raises(RootError, match="symbolic links"):
        resolve_in_root(str(long), "/" + _chain(long, 50))


@pytest.mark.parametrize(
    "links",
    [
        {"a": "a"},
        {"a": "b", "b": "a"},
        {"a": "/a"},
        {"a": "./a"},
        {"a": "../../a"},
        {"a": "d/../a"},
        {"d": ".", "a": "d/d/d/d/a"},
    ],
)
def test_symlink_loops_end_in_root_error(tmp_path: Path, links: dict[str, str]) -> None:
    (tmp_path / "d").mkdir(exist_ok=True)
    for name, target in links.items():
        if name == "d":
            (tmp_path / "d").rmdir()
        (tmp_path / name).symlink_to(target)
    with hang_guard(5), pytest.raises(RootError):
        resolve_in_root(str(tmp_path), "/a")
    # detect() on the loop: RootError for an explicit executable, skipped in a root scan.
    with pytest.raises(RootError):
        libcprobe.detect("/a", root=tmp_path)
    assert libcprobe.detect(root=tmp_path).family is None


def _escape_root(tmp_path: Path) -> tuple[Path, Path]:
    """A root whose program is musl-linked and a real musl libc (version 9.8.7) OUTSIDE it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "libc.so").write_bytes(musl_libc())
    (outside / "lib").mkdir()
    (outside / "lib/ld-musl-x86_64.so.1").write_bytes(musl_libc())
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/python3").write_bytes(musl_program())
    return root, outside


ESCAPES = {
    "absolute": lambda root, out: {"lib/ld-musl-x86_64.so.1": str(out / "libc.so")},
    "dotdot": lambda root, out: {
        "lib/ld-musl-x86_64.so.1": "../" * 30 + str(out / "libc.so").lstrip("/")
    },
    "dotdot-short": lambda root, out: {"lib/ld-musl-x86_64.so.1": "../../outside/libc.so"},
    "dir-absolute": lambda root, out: {"lib": str(out / "lib")},
    "dir-dotdot": lambda root, out: {"lib": "../outside/lib"},
    "via-usr": lambda root, out: {"usr/lib": "../../outside", "lib": "usr/lib/lib"},
    "proc-root": lambda root, out: {"lib": "/proc/self/root" + str(out / "lib")},
}


@pytest.mark.parametrize("kind", sorted(ESCAPES))
def test_symlinks_never_lead_out_of_the_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    root, outside = _escape_root(tmp_path)
    for link, target in ESCAPES[kind](root, outside).items():
        (root / link).parent.mkdir(parents=True, exist_ok=True)
        (root / link).symlink_to(target)
    opened = OpenRecorder(monkeypatch)
    info = libcprobe.detect(root=root)
    monkeypatch.undo()
    assert info.family is Family.MUSL  # from PT_INTERP's name
    assert info.version != (9, 8, 7) and info.version is None
    real_root = os.path.realpath(root)
    for path in opened.paths:
        real = os.path.realpath(path)
        assert os.path.commonpath([real_root, real]) == real_root, f"opened {path}"
    assert all(e.path is None or str(outside) not in e.path for e in info.evidence)


def test_interpreter_path_climbing_out_of_the_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, outside = _escape_root(tmp_path)
    climbing = "/.." * 30 + str(outside / "libc.so")
    (root / "usr/bin/python3").write_bytes(musl_program(interp=climbing))
    (root / "bin").mkdir()
    (root / "bin/sh").write_text("#!" + "/.." * 30 + str(outside / "libc.so") + "\n")
    opened = OpenRecorder(monkeypatch)
    info = libcprobe.detect(root=root)
    script = libcprobe.detect("/bin/sh", root=root)
    monkeypatch.undo()
    assert info.version is None and script.version is None
    real_root = os.path.realpath(root)
    assert all(
        os.path.commonpath([real_root, os.path.realpath(p)]) == real_root for p in opened.paths
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    links=st.dictionaries(
        st.sampled_from(["a", "b", "d/c", "d/e"]),
        st.lists(st.sampled_from(["..", ".", "a", "b", "d", "c", "e", "", "x"]), max_size=6).map(
            lambda parts: "/".join(parts) or "."
        ),
        max_size=4,
    ),
    absolute=st.booleans(),
    path=st.lists(st.sampled_from(["..", "a", "b", "d", "c", "e", "x"]), min_size=1, max_size=6),
)
def test_resolution_never_leaves_the_root(
    tmp_path_factory: pytest.TempPathFactory,
    links: dict[str, str],
    absolute: bool,
    path: list[str],
) -> None:
    """Property: whatever the links, a resolved path that exists lies inside the root."""
    base = tmp_path_factory.mktemp("prop")
    (base / "secret").write_bytes(b"outside")
    root = base / "root"
    (root / "d").mkdir(parents=True)
    (root / "x").write_bytes(b"inside")
    for name, target in links.items():
        with contextlib.suppress(FileExistsError):
            (root / name).symlink_to(("/" if absolute else "") + target)
    try:
        host = resolve_in_root(str(root), "/".join(path))
    except RootError:
        return
    if os.path.exists(host):
        real = os.path.realpath(host)
        assert os.path.commonpath([os.path.realpath(root), real]) == os.path.realpath(root)


# -- #! hops ---------------------------------------------------------------------------------


def test_shebang_loops_and_chains_in_a_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "lib").mkdir()
    (root / "lib/ld-musl-x86_64.so.1").write_bytes(musl_libc())
    (root / "usr/bin/python3").write_text("#!/usr/bin/python3\n")  # itself
    with hang_guard(5):
        info = libcprobe.detect("/usr/bin/python3", root=root)
    scripts = [e for e in info.evidence if "is a script" in e.detail]
    assert info.family is None and len(scripts) == MAX_SHEBANG_HOPS
    # A chain within the limit reaches the program; a longer one gives up.
    (root / "usr/bin/real").write_bytes(musl_program())
    for length, found in ((MAX_SHEBANG_HOPS, True), (MAX_SHEBANG_HOPS + 3, False)):
        for i in range(length):
            nxt = f"/usr/bin/s{i + 1}" if i + 1 < length else "/usr/bin/real"
            (root / f"usr/bin/s{i}").write_text(f"#!{nxt}\n")
        libcprobe.clear_cache()
        info = libcprobe.detect("/usr/bin/s0", root=root)
        assert (info.family is Family.MUSL) is found, info.evidence
        assert (info.version == (9, 8, 7)) is found


def test_shebang_loops_on_the_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a").write_text(f"#!{tmp_path / 'b'}\n")
    (tmp_path / "b").write_text(f"#!{tmp_path / 'a'} -x\n")
    opened = OpenRecorder(monkeypatch)
    with hang_guard(5):
        info = libcprobe.detect(tmp_path / "a")
    monkeypatch.undo()
    assert info.family is None
    assert len(opened.paths) <= 2 * (MAX_SHEBANG_HOPS + 1)


def test_env_shebang_in_a_root_looks_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "lib").mkdir()
    (root / "lib/ld-musl-x86_64.so.1").write_bytes(musl_libc())
    (root / "usr/bin/python3").write_text("#!/usr/bin/env only-in-this-root\n")
    (root / "usr/bin/only-in-this-root").write_bytes(musl_program())
    info = libcprobe.detect("/usr/bin/python3", root=root)
    assert info.family is Family.MUSL and info.version == (9, 8, 7)


# -- /etc/ld.so.conf in a root ---------------------------------------------------------------


def _glibc_root(tmp_path: Path) -> Path:
    """A root with a glibc library (no PT_INTERP: no loader to read), so libc.so.6 is looked up
    through /etc/ld.so.conf; the only libc.so.6 sits in /opt/deep, named by an included file."""
    root = tmp_path / "root"
    for d in ("usr/bin", "etc/ld.so.conf.d", "opt/deep"):
        (root / d).mkdir(parents=True)
    program = elfbuild.Spec(interp=None, needed=["libc.so.6"])
    (root / "usr/bin/python3").write_bytes(elfbuild.build(program).data)
    libc = elfbuild.Spec(
        interp=None,
        needed=[],
        soname="libc.so.6",
        runpath=None,
        verneed=[],
        verdef=["libc.so.6", "GLIBC_2.2.5"],
        extra_rodata=b"\0GNU C Library (test) stable release version 2.91.\n\0",
    )
    (root / "opt/deep/libc.so.6").write_bytes(elfbuild.build(libc).data)
    return root


def test_ld_so_conf_include_loops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _glibc_root(tmp_path)
    conf = root / "etc/ld.so.conf.d"
    (root / "etc/ld.so.conf").write_text(
        "include /etc/ld.so.conf\ninclude /etc/ld.so.conf.d/*.conf\ninclude ld.so.conf\n"
    )
    (conf / "a.conf").write_text("include /etc/ld.so.conf.d/b.conf\ninclude /etc/ld.so.conf\n")
    (conf / "b.conf").write_text("include /etc/ld.so.conf.d/*.conf\n/opt/deep\n")
    for i in range(100):  # more files than MAX_LD_SO_CONF_FILES, all including each other
        (conf / f"x{i:03d}.conf").write_text("include /etc/ld.so.conf.d/*.conf\n")
    (conf / "self.conf").symlink_to("self.conf")
    opened = OpenRecorder(monkeypatch)
    with hang_guard(5):
        info = libcprobe.detect(root=root)
    monkeypatch.undo()
    conf_reads = [p for p in opened.paths if p.endswith(".conf")]
    assert len(conf_reads) <= MAX_LD_SO_CONF_FILES
    assert info.family is Family.GLIBC and info.version == (2, 91)
    assert info.library == "/opt/deep/libc.so.6"


def test_ld_so_conf_with_many_distinct_lines_is_fast(tmp_path: Path) -> None:
    root = _glibc_root(tmp_path)
    (root / "etc/ld.so.conf").write_text("include /etc/ld.so.conf.d/*.conf\n")
    for i in range(8):
        lines, size, n = [], 0, 0
        while size < 64 * 1024 - 32:
            line = f"/d{i}_{n:x}"
            lines.append(line)
            size += len(line) + 1
            n += 1
        (root / f"etc/ld.so.conf.d/{i}.conf").write_text("\n".join(lines) + "\n")
    with hang_guard(1.5):
        info = libcprobe.detect(root=root)
    assert info.family is Family.GLIBC
