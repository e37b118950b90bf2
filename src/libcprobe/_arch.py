"""Map an ELF file's machine, class, byte order and flags to the architecture name used in
wheel platform tags (``sysconfig.get_platform()`` / ``uname -m`` spelling)."""

from __future__ import annotations

TYPE_CHECKING = False  # typing and collections.abc only for type checkers: see _records.py
if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional

# e_machine values, from the System V gABI "Machine" table (elf.h).
EM_SPARC = 2
EM_386 = 3
EM_68K = 4
EM_MIPS = 8
EM_PARISC = 15
EM_PPC = 20
EM_PPC64 = 21
EM_S390 = 22
EM_ARM = 40
EM_SH = 42
EM_SPARCV9 = 43
EM_IA_64 = 50
EM_X86_64 = 62
EM_AARCH64 = 183
EM_RISCV = 243
EM_LOONGARCH = 258
EM_ALPHA = 0x9026

# ARM EABI e_flags (ARM ELF ABI, "ELF Header"): the EABI version lives in the top byte;
# EF_ARM_ABI_FLOAT_HARD marks the hard-float procedure call standard (Debian armhf).
EF_ARM_EABIMASK = 0xFF000000
EF_ARM_EABI_VER5 = 0x05000000
EF_ARM_ABI_FLOAT_HARD = 0x00000400

# Machines whose name depends on nothing but e_machine.
_SIMPLE: dict[int, str] = {
    EM_386: "i686",
    EM_68K: "m68k",
    EM_PARISC: "parisc",
    EM_SH: "sh4",
    EM_SPARC: "sparc",
    EM_SPARCV9: "sparc64",
    EM_IA_64: "ia64",
    EM_ALPHA: "alpha",
}


def arch_name(machine: int, elf_class: int, little_endian: bool, flags: int) -> Optional[str]:
    """The wheel-tag architecture of an ELF file, or None for a machine not in the table.

    - x86_64 code in a 32-bit ELF file is the x32 ABI: ``"x32"``, never ``"x86_64"``.
    - 32-bit ARM is ``"armv7l"`` only for the EABI5 hard-float ABI (PEP 599 defines armv7l
      wheels as hard-float); soft-float ARM (Debian armel) is ``"armv5tel"``. This is the
      name that decides which wheels an *interpreter* may load (packaging's rule); the CPU an
      object is built for is :func:`cpu_arch_name`.
    - 64-bit MIPS is ``"mips64"`` in either byte order, as ``uname -m`` reports it.
    """
    is64 = elf_class == 64
    if machine == EM_X86_64:
        return "x86_64" if is64 else "x32"
    if machine == EM_AARCH64:
        return "aarch64" if is64 else "aarch64_ilp32"
    if machine == EM_ARM:
        if not little_endian:
            return "armeb"
        if is_arm_hard_float(flags):
            return "armv7l"
        return "armv5tel"
    if machine == EM_PPC64:
        return "ppc64le" if little_endian else "ppc64"
    if machine == EM_PPC:
        return "ppcle" if little_endian else "ppc"
    if machine == EM_S390:
        return "s390x" if is64 else "s390"
    if machine == EM_RISCV:
        return "riscv64" if is64 else "riscv32"
    if machine == EM_LOONGARCH:
        return "loongarch64" if is64 else "loongarch32"
    if machine == EM_MIPS:
        return "mips64" if is64 else "mips"
    return _SIMPLE.get(machine)


# Tag_CPU_arch of the ARM build attributes ("Addenda to, and Errata in, the ABI for the Arm
# Architecture", IHI 0045, section "Build attributes"; readelf -A prints the same names) ->
# the CPU architecture as Linux's uname -m spells it for a 32-bit ARM process. v8 and later
# CPUs running 32-bit code are "armv8l"; M-profile values are named by their base architecture.
ARM_CPU_ARCH_NAMES: dict[int, str] = {
    1: "armv4l",  # v4
    2: "armv4tl",  # v4T
    3: "armv5tl",  # v5T
    4: "armv5tel",  # v5TE
    5: "armv5tejl",  # v5TEJ
    6: "armv6l",  # v6
    7: "armv6l",  # v6KZ
    8: "armv6l",  # v6T2
    9: "armv6l",  # v6K
    10: "armv7l",  # v7
    11: "armv6l",  # v6-M
    12: "armv6l",  # v6S-M
    13: "armv7l",  # v7E-M
    14: "armv8l",  # v8-A
    15: "armv8l",  # v8-R
    16: "armv8l",  # v8-M.baseline
    17: "armv8l",  # v8-M.mainline
    18: "armv8l",  # v8.1-A
    19: "armv8l",  # v8.2-A
    20: "armv8l",  # v8.3-A
    21: "armv8l",  # v8.1-M.mainline
    22: "armv8l",  # v9-A
}


def cpu_arch_name(
    machine: int, elf_class: int, little_endian: bool, flags: int, arm_cpu_arch: Optional[int]
) -> Optional[str]:
    """The CPU architecture an object is built for: :func:`arch_name`, except 32-bit
    little-endian ARM with build attributes, which is named by its ``Tag_CPU_arch`` (an ARMv7
    soft-float object is ``"armv7l"``, an ARMv6 hard-float one ``"armv6l"``)."""
    if machine == EM_ARM and little_endian and arm_cpu_arch in ARM_CPU_ARCH_NAMES:
        return ARM_CPU_ARCH_NAMES[arm_cpu_arch]
    return arch_name(machine, elf_class, little_endian, flags)


def is_arm_hard_float(flags: int) -> bool:
    """True for the ARM EABI version 5 hard-float ABI (what ``packaging`` calls armhf)."""
    return (flags & EF_ARM_EABIMASK) == EF_ARM_EABI_VER5 and bool(flags & EF_ARM_ABI_FLOAT_HARD)
