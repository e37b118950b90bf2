"""The reader's interface for the other layers (libcprobe._elf): the byte-source protocol
(``ByteSource``, ``read_elf_source``), the program-header reader, and the safe opening of a
path or of a descriptor (``open_regular_file``, ``open_elf_fd``)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from libcprobe import FileAccessError, NotELFError, TruncatedELFError
from libcprobe._elf import (
    ByteSource,
    open_elf_fd,
    open_regular_file,
    read_elf,
    read_elf_source,
    read_program_headers,
)

FIXTURES = Path(__file__).parent / "fixtures"
LIBC = FIXTURES / "debian" / "bookworm" / "amd64" / "libc6" / "libc.so.6"


class Recorded(ByteSource):
    """All of a file's bytes, recording each read."""

    __slots__ = ("blob", "reads")

    def __init__(self, blob: bytes, name: str = "recorded") -> None:
        super().__init__(name, len(blob))
        self.blob = blob
        self.reads: list[tuple[int, int]] = []

    def read(self, offset: int, size: int) -> bytes:
        self.reads.append((offset, size))
        return self.blob[offset : offset + size]


def _facts(path: Path) -> tuple[object, ...]:
    elf = read_elf(path)
    return (elf.arch, elf.needed, elf.soname, elf.version_definitions, elf.program_headers)


def test_a_source_gives_the_facts_of_the_file() -> None:
    source = Recorded(LIBC.read_bytes(), "libc")
    elf = read_elf_source(source)
    got = (elf.arch, elf.needed, elf.soname, elf.version_definitions, elf.program_headers)
    assert got == _facts(LIBC) and elf.path == "libc"
    assert all(off >= 0 and off + size <= source.size for off, size in source.reads)
    assert elf.readonly_data(4096)  # string scans go through ByteSource.scan (read by default)


def test_reads_past_the_end_never_reach_the_source() -> None:
    source = Recorded(LIBC.read_bytes()[:64])  # the header alone: the phdr table is past it
    with pytest.raises(TruncatedELFError):
        read_elf_source(source)
    assert all(off + size <= 64 for off, size in source.reads)


def test_a_short_read_is_truncation() -> None:
    class Short(Recorded):
        def read(self, offset: int, size: int) -> bytes:
            return super().read(offset, size)[: max(size - 1, 0)]

    with pytest.raises(TruncatedELFError, match="could not be read"):
        read_elf_source(Short(LIBC.read_bytes()))


def test_what_a_source_raises_propagates() -> None:
    class Asks(Exception):
        pass

    class Partial(Recorded):
        def read(self, offset: int, size: int) -> bytes:
            if offset >= 4096:
                raise Asks(offset)
            return super().read(offset, size)

    with pytest.raises(Asks):
        read_elf_source(Partial(LIBC.read_bytes()))


def test_program_headers_alone() -> None:
    source = Recorded(LIBC.read_bytes())
    assert read_program_headers(source) == read_elf(LIBC).program_headers
    table_end = max(off + size for off, size in source.reads)
    assert table_end < 4096  # the header and the table: no segment was read
    with pytest.raises(NotELFError):
        read_program_headers(Recorded(b"\0" * 64))


def test_open_regular_file(tmp_path: Path) -> None:
    fd = open_regular_file(str(LIBC))
    try:
        assert os.read(fd, 4) == b"\x7fELF"
        assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
    finally:
        os.close(fd)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(FileAccessError, match="not a regular file"):
        open_regular_file(str(fifo))  # never opened: opening a FIFO would block
    with pytest.raises(FileAccessError, match="cannot read as ELF: a directory"):
        open_regular_file(str(tmp_path))
    with pytest.raises(FileAccessError, match="cannot read as a zip: a directory"):
        open_regular_file(str(tmp_path), "a zip")
    with pytest.raises(FileAccessError, match="no such file"):
        open_regular_file(str(tmp_path / "missing"))
    with pytest.raises(FileAccessError, match="NUL"):
        open_regular_file("a\0b")


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_open_elf_fd_owns_the_descriptor(tmp_path: Path) -> None:
    fd = os.open(LIBC, os.O_RDONLY)
    with open_elf_fd(fd, "libc in a root") as elf:
        assert elf.path == "libc in a root" and elf.readonly_data(4096)
    assert not _is_open(fd)
    (tmp_path / "text").write_text("not ELF")
    fd = os.open(tmp_path / "text", os.O_RDONLY)
    with pytest.raises(NotELFError), open_elf_fd(fd, "text"):
        pass
    assert not _is_open(fd)
    fd = os.open(tmp_path, os.O_RDONLY)
    with pytest.raises(FileAccessError, match="a directory"), open_elf_fd(fd, "dir"):
        pass
    assert not _is_open(fd)
