"""Executables the kernel refuses (fs/binfmt_elf.c load_elf_binary / load_elf_phdrs) are corrupt:
an error row naming the rule, exit status 1. Each case patches one field of a real program."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Callable

import pytest

import libcprobe
from libcprobe import CorruptELFError
from libcprobe._cli import main
from libcprobe._elf import read_elf

FIXTURES = Path(__file__).parent / "fixtures"
DYNAMIC = FIXTURES / "built" / "musl-gcc-dynamic" / "hello"  # ELF64 LE, PT_INTERP
STATIC = FIXTURES / "built" / "musl-gcc-static" / "hello"
I386 = FIXTURES / "built" / "gcc-m32-dynamic" / "hello"  # ELF32


def _phdrs(data: bytes | bytearray) -> list[tuple[int, int]]:
    """(offset of the header, p_type) of each program header."""
    is64 = data[4] == 2
    phoff = struct.unpack_from("<Q" if is64 else "<I", data, 32 if is64 else 28)[0]
    phentsize, phnum = struct.unpack_from("<HH", data, 54 if is64 else 42)
    return [
        (phoff + i * phentsize, struct.unpack_from("<I", data, phoff + i * phentsize)[0])
        for i in range(phnum)
    ]


def _interp_header(data: bytes | bytearray) -> int:
    return next(at for at, t in _phdrs(data) if t == 3)


def _unterminated_interp(data: bytearray) -> None:
    at = _interp_header(data)
    is64 = data[4] == 2
    off, size = (
        (struct.unpack_from("<Q", data, at + 8)[0], struct.unpack_from("<Q", data, at + 32)[0])
        if is64
        else (
            struct.unpack_from("<I", data, at + 4)[0],
            struct.unpack_from("<I", data, at + 16)[0],
        )
    )
    assert data[off + size - 1] == 0
    data[off + size - 1] = ord("x")


def _interp_of_one_byte(data: bytearray) -> None:
    at = _interp_header(data)
    if data[4] == 2:
        struct.pack_into("<Q", data, at + 32, 1)
    else:
        struct.pack_into("<I", data, at + 16, 1)


def _pn_xnum(data: bytearray) -> None:
    struct.pack_into("<H", data, 56 if data[4] == 2 else 44, 0xFFFF)


def _no_program_headers(data: bytearray) -> None:
    struct.pack_into("<H", data, 56 if data[4] == 2 else 44, 0)


def _load_filesz_over_memsz(data: bytearray) -> None:
    at = next(at for at, t in _phdrs(data) if t == 1)
    if data[4] == 2:
        memsz = struct.unpack_from("<Q", data, at + 40)[0]
        struct.pack_into("<Q", data, at + 32, memsz + 1)
    else:
        memsz = struct.unpack_from("<I", data, at + 20)[0]
        struct.pack_into("<I", data, at + 16, memsz + 1)


CASES: dict[str, tuple[Callable[[bytearray], None], str]] = {
    "interp-not-nul-terminated": (_unterminated_interp, "PT_INTERP is not NUL-terminated"),
    "interp-one-byte": (_interp_of_one_byte, "PT_INTERP is 1 bytes"),
    "pn-xnum": (_pn_xnum, "PN_XNUM"),
    "no-program-headers": (_no_program_headers, "program header table is 0 bytes"),
    "filesz-over-memsz": (_load_filesz_over_memsz, "p_filesz"),
}


@pytest.mark.parametrize("program", [DYNAMIC, I386], ids=["x86_64", "i386"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_kernel_refuses_it_so_it_is_corrupt(program: Path, case: str, tmp_path: Path) -> None:
    patch, rule = CASES[case]
    data = bytearray(program.read_bytes())
    patch(data)
    with pytest.raises(CorruptELFError, match="execve refuses it") as info:
        read_elf(bytes(data))
    assert rule in str(info.value)
    path = tmp_path / "prog"
    path.write_bytes(data)
    report = libcprobe.inspect(path)
    assert report.error is not None and rule in report.error
    assert main(["inspect", str(path)]) == 1


def test_pn_xnum_refused_even_with_the_count_in_section_zero() -> None:
    """The gABI puts the real count in section 0's sh_info, but load_elf_phdrs uses e_phnum
    as it is (65535 entries, far over 64 KiB): no kernel runs such a program."""
    data = bytearray(STATIC.read_bytes())
    shoff = struct.unpack_from("<Q", data, 40)[0]
    phnum = struct.unpack_from("<H", data, 56)[0]
    assert shoff
    struct.pack_into("<I", data, shoff + 44, phnum)
    struct.pack_into("<H", data, 56, 0xFFFF)
    with pytest.raises(CorruptELFError, match="PN_XNUM"):
        read_elf(bytes(data))


def test_the_unpatched_programs_are_fine() -> None:
    for program in (DYNAMIC, STATIC, I386):
        assert libcprobe.inspect(program).error is None


def test_rules_are_for_programs_and_libraries_only() -> None:
    """A relocatable object or core file is not loaded by execve: its headers are not judged
    by the kernel's rules (a core file may use PN_XNUM)."""
    data = bytearray(DYNAMIC.read_bytes())
    struct.pack_into("<H", data, 16, 1)  # ET_REL
    _unterminated_interp(data)
    assert read_elf(bytes(data)).interpreter is not None
