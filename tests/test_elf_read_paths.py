"""The reader's shortcuts (issue 16) keep what it reads and raises: the blocks a lazy open
fetches, the reads a byte source sees, which of two broken program headers is named, and the
dynamic tags taken as unsigned words."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

import elfbuild
from libcprobe import CorruptELFError, TruncatedELFError
from libcprobe._elf import ByteSource, open_elf, read_elf, read_elf_source

FIXTURES = Path(__file__).parent / "fixtures"
LIBC = FIXTURES / "debian" / "bookworm" / "amd64" / "libc6" / "libc.so.6"


class Recorded(ByteSource):
    __slots__ = ("blob", "reads")

    def __init__(self, blob: bytes) -> None:
        super().__init__("recorded", len(blob))
        self.blob = blob
        self.reads: list[tuple[int, int]] = []

    def read(self, offset: int, size: int) -> bytes:
        self.reads.append((offset, size))
        return self.blob[offset : offset + size]


def test_a_lazy_open_fetches_the_blocks_it_always_fetched(monkeypatch: pytest.MonkeyPatch) -> None:
    """Block 0 (e_ident, the header and the program headers), the block of PT_INTERP (read
    whole with its last byte), the two blocks PT_DYNAMIC spans in one pread, and the block of
    the two names: as before the shortcuts."""
    fetched: list[tuple[int, int]] = []
    pread = os.pread

    def recording(fd: int, size: int, offset: int) -> bytes:
        fetched.append((offset, size))
        return pread(fd, size, offset)

    monkeypatch.setattr(os, "pread", recording)  # the module _elf reads through
    with open_elf(LIBC, lazy=True) as elf:
        assert (elf.interpreter, elf.needed, elf.soname) == (
            "/lib64/ld-linux-x86-64.so.2",
            ("ld-linux-x86-64.so.2",),
            "libc.so.6",
        )
    assert fetched == [(0, 1024), (0x1A1800, 1024), (0x1D2800, 2048), (0x22400, 1024)]


def test_a_byte_source_sees_the_reads_it_always_saw() -> None:
    """The header in two reads, and PT_INTERP's last byte before the whole of it."""
    built = elfbuild.build(elfbuild.Spec())
    source = Recorded(built.data)
    read_elf_source(source)
    interp, size = built.fields["interp"], len("/lib/ld-musl-x86_64.so.1") + 1
    assert source.reads[:2] == [(0, 16), (16, 48)]
    last, whole = source.reads.index((interp + size - 1, 1)), source.reads.index((interp, size))
    assert last < whole


def _swap(data: bytearray, phoff: int, size: int, i: int, j: int) -> None:
    a, b = (
        data[phoff + i * size : phoff + (i + 1) * size],
        data[phoff + j * size : phoff + (j + 1) * size],
    )
    data[phoff + i * size : phoff + (i + 1) * size] = b
    data[phoff + j * size : phoff + (j + 1) * size] = a


@pytest.mark.parametrize("load_first", [False, True])
def test_the_first_broken_header_is_named(load_first: bool, tmp_path: Path) -> None:
    """A PT_INTERP past the end of the file and a PT_LOAD the kernel refuses: the error is the
    one of the header that comes first, whichever it is, lazy or not."""
    data = bytearray(elfbuild.build(elfbuild.Spec()).data)
    phoff, size = 64, 56  # elfbuild: PT_PHDR, PT_INTERP, PT_LOAD, PT_DYNAMIC, ...
    struct.pack_into("<Q", data, phoff + size + 8, len(data) + 100)  # PT_INTERP's p_offset
    memsz = struct.unpack_from("<Q", data, phoff + 2 * size + 40)[0]
    struct.pack_into("<Q", data, phoff + 2 * size + 32, memsz + 1)  # PT_LOAD's p_filesz
    if load_first:
        _swap(data, phoff, size, 1, 2)
    expected = (CorruptELFError, "p_filesz") if load_first else (TruncatedELFError, "PT_INTERP")
    with pytest.raises(expected[0], match=expected[1]):
        read_elf(bytes(data))
    path = tmp_path / "prog"
    path.write_bytes(data)
    with pytest.raises(expected[0], match=expected[1]), open_elf(path, lazy=True):
        pass


def test_dynamic_tags_are_signed_to_callers() -> None:
    """The reader holds the tags as unsigned words; first_dynamic and dynamic still see d_tag
    signed, as the gABI declares it."""
    built = elfbuild.build(elfbuild.Spec(needed=[], runpath=None, verneed=[], verdef=[]))
    data = bytearray(built.data)
    dyn = built.fields["dynamic"]
    struct.pack_into("<qQ", data, dyn, -1, 1234)  # the first entry, a tag of all ones
    elf = read_elf(bytes(data))
    assert elf.first_dynamic(-1) == 1234
    assert elf.first_dynamic(2**64 - 1) is None and elf.first_dynamic(2**63) is None
    assert elf.dynamic[0] == (-1, 1234)
