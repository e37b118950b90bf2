"""Wheel-tag architecture names from e_machine, class, byte order and flags (synthetic headers
for the machines Debian main has no packages for)."""

from __future__ import annotations

import pytest

import elfbuild
from libcprobe._arch import arch_name
from libcprobe._elf import read_elf

CASES = [
    # (e_machine, class, little, e_flags, name)
    (258, 64, True, 0x43, "loongarch64"),  # EM_LOONGARCH, LP64D
    (62, 32, True, 0, "x32"),
    (62, 64, True, 0, "x86_64"),
    (3, 32, True, 0, "i686"),
    (40, 32, True, 0x05000400, "armv7l"),  # EABI5, hard-float
    (40, 32, True, 0x05000200, "armv5tel"),  # EABI5, soft-float (Debian armel)
    (40, 32, True, 0x00000400, "armv5tel"),  # hard-float bit without EABI5 is not armhf
    (21, 64, False, 0, "ppc64"),
    (21, 64, True, 0, "ppc64le"),
    (22, 64, False, 0, "s390x"),
    (243, 64, True, 0x5, "riscv64"),
    (8, 64, True, 0, "mips64"),
    (8, 64, False, 0, "mips64"),
    (183, 64, True, 0, "aarch64"),
    (0x1234, 64, True, 0, None),
]


@pytest.mark.parametrize(("machine", "elf_class", "little", "flags", "name"), CASES)
def test_arch_names(
    machine: int, elf_class: int, little: bool, flags: int, name: str | None
) -> None:
    assert arch_name(machine, elf_class, little, flags) == name
    data = elfbuild.build(
        elfbuild.Spec(machine=machine, elf_class=elf_class, little=little, flags=flags)
    ).data
    assert read_elf(data).arch == name
