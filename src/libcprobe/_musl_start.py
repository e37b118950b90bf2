"""The first bytes of musl's ``_start`` per architecture (generated: do not edit).

Written by ``scripts/derive-musl-start`` from Debian's ``musl-dev`` packages: ``_start`` of
``crt1.o`` and ``rcrt1.o`` (musl's ``arch/<arch>/crt_arch.h``), with every byte a relocation
rewrites as ``??`` and, on RISC-V, instructions the linker may shorten (``R_RISCV_RELAX``) as a
gap ``{min,max}`` of that many bytes; ``?N`` is a byte whose high nibble a relocation rewrites.
Each entry: e_machine, ELF class, little-endian, pattern, where it comes from. Debian builds no
big-endian ppc64 or mips64 musl: "big-endian from" marks a pattern derived from the little-endian
one by reversing each 4-byte instruction word (on AArch64, whose instructions are little-endian
in either byte order, the bytes are the same).
"""

from __future__ import annotations

START_PATTERNS: tuple[tuple[int, int, bool, str, str], ...] = (
    # musl-dev 1.2.3-1 i386 crt1.o (sha256 e7e49904a302b4c9)
    # musl-dev 1.2.3-1 i386 rcrt1.o (sha256 e7e49904a302b4c9)
    # musl-dev 1.2.5-3.1~deb13u1 i386 crt1.o (sha256 7c6500215eeb2d74)
    # musl-dev 1.2.5-3.1~deb13u1 i386 rcrt1.o (sha256 7c6500215eeb2d74)
    # zig 0.17.1 lib/libc/musl crt1.o (x86-linux-musl)
    (
        3,
        32,
        True,
        ("31 ed 89 e0 83 e4 f0 50 50 e8 00 00 00 00 81 04 24 ?? ?? ?? ?? 50 e8"),
        "musl-dev 1.2.3-1 i386 crt1.o",
    ),
    # big-endian from musl-dev 1.2.3-1 mips64el crt1.o (sha256 c312b7b1b896ca37)
    # big-endian from musl-dev 1.2.3-1 mips64el rcrt1.o (sha256 c312b7b1b896ca37)
    (
        8,
        64,
        False,
        (
            "04 11 00 07 00 00 f0 25 ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? "
            "?? ?? ?? ?? ?? ?? ?? ?? df fc 00 00 03 fc e0 2f 03 a0 20 25 df e5 00 10 "
            "00 bc 28 2d df f9 00 08 03 3c c8 2d 24 01 ff f0 03 a1 e8 24 03 20 f8 09 "
            "00 00 00 00"
        ),
        "big-endian from musl-dev 1.2.3-1 mips64el crt1.o",
    ),
    # musl-dev 1.2.3-1 mips64el crt1.o (sha256 c312b7b1b896ca37)
    # musl-dev 1.2.3-1 mips64el rcrt1.o (sha256 c312b7b1b896ca37)
    # zig 0.17.1 lib/libc/musl crt1.o (mips64el-linux-muslabi64)
    (
        8,
        64,
        True,
        (
            "07 00 11 04 25 f0 00 00 ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? "
            "?? ?? ?? ?? ?? ?? ?? ?? 00 00 fc df 2f e0 fc 03 25 20 a0 03 10 00 e5 df "
            "2d 28 bc 00 08 00 f9 df 2d c8 3c 03 f0 ff 01 24 24 e8 a1 03 09 f8 20 03 "
            "00 00 00 00"
        ),
        "musl-dev 1.2.3-1 mips64el crt1.o",
    ),
    # big-endian from musl-dev 1.2.3-1 ppc64el crt1.o (sha256 40441262fe169567)
    # big-endian from musl-dev 1.2.3-1 ppc64el rcrt1.o (sha256 40441262fe169567)
    # big-endian from musl-dev 1.2.5-3.1~deb13u1 ppc64el crt1.o (sha256 99d343084123cc21)
    # big-endian from musl-dev 1.2.5-3.1~deb13u1 ppc64el rcrt1.o (sha256 99d343084123cc21)
    (
        21,
        64,
        False,
        (
            "?? ?? ?? ?? ?? ?? ?? ?? 80 8c 00 28 7c 84 62 14 7c 23 0b 78 78 21 06 e4 "
            "38 00 00 00 f8 01 ff e1 7c 08 03 a6"
        ),
        "big-endian from musl-dev 1.2.3-1 ppc64el crt1.o",
    ),
    # musl-dev 1.2.3-1 ppc64el crt1.o (sha256 40441262fe169567)
    # musl-dev 1.2.3-1 ppc64el rcrt1.o (sha256 40441262fe169567)
    # musl-dev 1.2.5-3.1~deb13u1 ppc64el crt1.o (sha256 99d343084123cc21)
    # musl-dev 1.2.5-3.1~deb13u1 ppc64el rcrt1.o (sha256 99d343084123cc21)
    (
        21,
        64,
        True,
        (
            "?? ?? ?? ?? ?? ?? ?? ?? 28 00 8c 80 14 62 84 7c 78 0b 23 7c e4 06 21 78 "
            "00 00 00 38 e1 ff 01 f8 a6 03 08 7c"
        ),
        "musl-dev 1.2.3-1 ppc64el crt1.o",
    ),
    # zig 0.17.1 lib/libc/musl crt1.o (powerpc64le-linux-musl)
    (
        21,
        64,
        True,
        (
            "?? ?? ?? ?? ?? ?? ?? ?? 2c 00 8c 80 14 62 84 7c 78 0b 23 7c e4 06 21 78 "
            "00 00 00 38 e1 ff 01 f8 a6 03 08 7c"
        ),
        "zig 0.17.1 lib/libc/musl crt1.o (powerpc64le-linux-musl)",
    ),
    # musl-dev 1.2.3-1 s390x crt1.o (sha256 df31f96febb94b27)
    # musl-dev 1.2.3-1 s390x rcrt1.o (sha256 df31f96febb94b27)
    # musl-dev 1.2.5-3.1~deb13u1 s390x crt1.o (sha256 8fc6480922d04cbe)
    # musl-dev 1.2.5-3.1~deb13u1 s390x rcrt1.o (sha256 8fc6480922d04cbe)
    # zig 0.17.1 lib/libc/musl crt1.o (s390x-linux-musl)
    (
        22,
        64,
        False,
        (
            "b9 04 00 2f c0 30 00 00 00 12 e3 30 30 00 00 18 a7 fb ff 60 a7 09 00 00 "
            "e3 00 f0 00 00 24 c0 f4"
        ),
        "musl-dev 1.2.3-1 s390x crt1.o",
    ),
    # musl-dev 1.2.3-1 armel crt1.o (sha256 749e86bed4d13960)
    # musl-dev 1.2.3-1 armel rcrt1.o (sha256 749e86bed4d13960)
    # musl-dev 1.2.5-3.1~deb13u1 armel crt1.o (sha256 b46bb747728b114c)
    # musl-dev 1.2.5-3.1~deb13u1 armel rcrt1.o (sha256 b46bb747728b114c)
    # zig 0.17.1 lib/libc/musl crt1.o (arm-linux-musleabihf)
    (
        40,
        32,
        True,
        ("00 b0 a0 e3 00 e0 a0 e3 10 10 9f e5 01 10 8f e0 0d 00 a0 e1 0f c0 c0 e3 0c d0 a0 e1"),
        "musl-dev 1.2.3-1 armel crt1.o",
    ),
    # musl-dev 1.2.3-1 armhf crt1.o (sha256 3a9dbb8ae66716f1)
    # musl-dev 1.2.3-1 armhf rcrt1.o (sha256 3a9dbb8ae66716f1)
    # musl-dev 1.2.5-3.1~deb13u1 armhf crt1.o (sha256 db485234c01cb988)
    # musl-dev 1.2.5-3.1~deb13u1 armhf rcrt1.o (sha256 db485234c01cb988)
    # zig 0.17.1 lib/libc/musl crt1.o (thumb-linux-musleabihf)
    (
        40,
        32,
        True,
        ("4f f0 00 0b 4f f0 00 0e 03 49 79 44 68 46 20 f0 0f 0c e5 46"),
        "musl-dev 1.2.3-1 armhf crt1.o",
    ),
    # musl-dev 1.2.2-1 amd64 crt1.o (sha256 b017792ad6ba3650)
    # musl-dev 1.2.2-1 amd64 rcrt1.o (sha256 b017792ad6ba3650)
    # musl-dev 1.2.5-3.1~deb13u1 amd64 crt1.o (sha256 a3f7d47e452129bb)
    # musl-dev 1.2.5-3.1~deb13u1 amd64 rcrt1.o (sha256 a3f7d47e452129bb)
    # zig 0.17.1 lib/libc/musl crt1.o (x86_64-linux-musl)
    (
        62,
        64,
        True,
        ("48 31 ed 48 89 e7 48 8d 35 ?? ?? ?? ?? 48 83 e4 f0 e8"),
        "musl-dev 1.2.2-1 amd64 crt1.o",
    ),
    # big-endian from musl-dev 1.2.3-1 arm64 crt1.o (sha256 55c2ca4bc3041c8e)
    # big-endian from musl-dev 1.2.3-1 arm64 rcrt1.o (sha256 55c2ca4bc3041c8e)
    # big-endian from musl-dev 1.2.5-3.1~deb13u1 arm64 crt1.o (sha256 384ea029e3694baa)
    # big-endian from musl-dev 1.2.5-3.1~deb13u1 arm64 rcrt1.o (sha256 384ea029e3694baa)
    (
        183,
        64,
        False,
        ("1d 00 80 d2 1e 00 80 d2 e0 03 00 91 ?? ?? ?? ?? ?? ?? ?? ?? 1f ec 7c 92"),
        "big-endian from musl-dev 1.2.3-1 arm64 crt1.o",
    ),
    # musl-dev 1.2.3-1 arm64 crt1.o (sha256 55c2ca4bc3041c8e)
    # musl-dev 1.2.3-1 arm64 rcrt1.o (sha256 55c2ca4bc3041c8e)
    # musl-dev 1.2.5-3.1~deb13u1 arm64 crt1.o (sha256 384ea029e3694baa)
    # musl-dev 1.2.5-3.1~deb13u1 arm64 rcrt1.o (sha256 384ea029e3694baa)
    # zig 0.17.1 lib/libc/musl crt1.o (aarch64-linux-musl)
    (
        183,
        64,
        True,
        ("1d 00 80 d2 1e 00 80 d2 e0 03 00 91 ?? ?? ?? ?? ?? ?? ?? ?? 1f ec 7c 92"),
        "musl-dev 1.2.3-1 arm64 crt1.o",
    ),
    # zig 0.17.1 lib/libc/musl crt1.o (riscv64-linux-musl)
    (
        243,
        64,
        True,
        ("97 ?1 ?? ?? 93 81 ?1 ?? 01 44 81 40 0a 85 97 ?5 ?? ?? 93 85 ?5 ?? 13 71 01 ff"),
        "zig 0.17.1 lib/libc/musl crt1.o (riscv64-linux-musl)",
    ),
    # musl-dev 1.2.5-3.1~deb13u1 riscv64 crt1.o (sha256 1666931c146dd7fe)
    # musl-dev 1.2.5-3.1~deb13u1 riscv64 rcrt1.o (sha256 1666931c146dd7fe)
    (
        243,
        64,
        True,
        ("97 ?1 ?? ?? 93 81 ?1 ?? 0a 85 {4,8} 13 71 01 ff"),
        "musl-dev 1.2.5-3.1~deb13u1 riscv64 crt1.o",
    ),
    # zig 0.17.1 lib/libc/musl crt1.o (loongarch64-linux-musl)
    (
        258,
        64,
        True,
        ("16 00 15 00 64 00 15 00 ?? ?? ?? ?? ?? ?? ?? ?? 03 00 83 00"),
        "zig 0.17.1 lib/libc/musl crt1.o (loongarch64-linux-musl)",
    ),
)
