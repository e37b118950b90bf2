"""Build small, structurally valid ELF files in memory, for corruption and property tests.

Every structure libcprobe's reader parses is present: PT_INTERP, PT_DYNAMIC (needed, soname,
rpath, runpath, flags_1, the string table, DT_VERNEED and DT_VERDEF chains) and PT_NOTE, all in
one PT_LOAD whose virtual addresses differ from file offsets (so the vaddr mapping is
exercised). ``Built.fields`` gives the file offset of each field a test may want to corrupt.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Optional

BASE = 0x10000  # vaddr = BASE + file offset

DT = {
    "NEEDED": 1,
    "STRTAB": 5,
    "STRSZ": 10,
    "SONAME": 14,
    "RPATH": 15,
    "RUNPATH": 29,
    "FLAGS_1": 0x6FFFFFFB,
    "VERDEF": 0x6FFFFFFC,
    "VERDEFNUM": 0x6FFFFFFD,
    "VERNEED": 0x6FFFFFFE,
    "VERNEEDNUM": 0x6FFFFFFF,
}


@dataclass
class Spec:
    elf_class: int = 64
    little: bool = True
    machine: int = 62
    flags: int = 0
    etype: int = 3
    interp: Optional[str] = "/lib/ld-musl-x86_64.so.1"
    needed: list[str] = field(default_factory=lambda: ["libc.so"])
    soname: Optional[str] = None
    rpath: Optional[str] = None
    runpath: Optional[str] = "$ORIGIN/../lib"
    flags_1: int = 0x08000000
    verneed: list[tuple[str, list[str]]] = field(
        default_factory=lambda: [("libc.so.6", ["GLIBC_2.2.5", "GLIBC_2.17"])]
    )
    verdef: list[str] = field(default_factory=list)
    notes: list[tuple[str, int, bytes]] = field(
        default_factory=lambda: [("GNU", 1, struct.pack("<4I", 0, 3, 2, 0))]
    )
    extra_rodata: bytes = b""


@dataclass
class Built:
    data: bytes
    fields: dict[str, int]


class _Strtab:
    def __init__(self) -> None:
        self.blob = bytearray(b"\0")
        self.index: dict[str, int] = {}

    def add(self, text: str) -> int:
        if text not in self.index:
            self.index[text] = len(self.blob)
            self.blob += text.encode() + b"\0"
        return self.index[text]


def build(spec: Spec) -> Built:
    e = "<" if spec.little else ">"
    is64 = spec.elf_class == 64
    ehsize, phentsize, dynsize = (64, 56, 16) if is64 else (52, 32, 8)
    fields: dict[str, int] = {}
    strtab = _Strtab()
    dyn: list[tuple[int, int]] = []
    for name in spec.needed:
        dyn.append((DT["NEEDED"], strtab.add(name)))
    for tag, value in (("SONAME", spec.soname), ("RPATH", spec.rpath), ("RUNPATH", spec.runpath)):
        if value is not None:
            dyn.append((DT[tag], strtab.add(value)))
    for file, names in spec.verneed:
        strtab.add(file)
        for n in names:
            strtab.add(n)
    for n in spec.verdef:
        strtab.add(n)

    nphdr = 4 + (1 if spec.notes else 0)
    cursor = ehsize + nphdr * phentsize
    layout: dict[str, tuple[int, bytes]] = {}

    def place(name: str, blob: bytes, align: int = 8) -> int:
        nonlocal cursor
        cursor = (cursor + align - 1) & ~(align - 1)
        layout[name] = (cursor, blob)
        cursor += len(blob)
        return cursor - len(blob)

    interp_off = place("interp", (spec.interp or "").encode() + b"\0", 1)
    str_off = place("strtab", bytes(strtab.blob), 1)

    verneed = bytearray()
    for i, (file, names) in enumerate(spec.verneed):
        last = i == len(spec.verneed) - 1
        verneed += struct.pack(
            e + "HHIII", 1, len(names), strtab.index[file], 16, 0 if last else 16 + 16 * len(names)
        )
        for j, n in enumerate(names):
            verneed += struct.pack(
                e + "IHHII", 0, 0, 2 + j, strtab.index[n], 0 if j == len(names) - 1 else 16
            )
    verneed_off = place("verneed", bytes(verneed), 4) if spec.verneed else 0

    verdef = bytearray()
    for i, n in enumerate(spec.verdef):
        last = i == len(spec.verdef) - 1
        verdef += struct.pack(
            e + "HHHHIII", 1, 1 if i == 0 else 0, i + 1, 1, 0, 20, 0 if last else 28
        )
        verdef += struct.pack(e + "II", strtab.index[n], 0)
    verdef_off = place("verdef", bytes(verdef), 4) if spec.verdef else 0

    notes = bytearray()
    for name, ntype, desc in spec.notes:
        raw_name = name.encode() + b"\0"
        notes += struct.pack(e + "III", len(raw_name), len(desc), ntype)
        notes += raw_name + b"\0" * (-len(raw_name) % 4)
        notes += desc + b"\0" * (-len(desc) % 4)
    notes_off = place("notes", bytes(notes), 4) if spec.notes else 0
    rodata_off = place("rodata", spec.extra_rodata, 1)

    dyn.append((DT["STRTAB"], BASE + str_off))
    dyn.append((DT["STRSZ"], len(strtab.blob)))
    if spec.verneed:
        dyn += [(DT["VERNEED"], BASE + verneed_off), (DT["VERNEEDNUM"], len(spec.verneed))]
    if spec.verdef:
        dyn += [(DT["VERDEF"], BASE + verdef_off), (DT["VERDEFNUM"], len(spec.verdef))]
    if spec.flags_1:
        dyn.append((DT["FLAGS_1"], spec.flags_1))
    dyn.append((0, 0))
    dyn_fmt = e + ("qQ" if is64 else "iI")
    dyn_blob = b"".join(struct.pack(dyn_fmt, t, v) for t, v in dyn)
    dyn_off = place("dynamic", dyn_blob, 8)
    total = cursor

    out = bytearray(total)
    ident = b"\x7fELF" + bytes([2 if is64 else 1, 1 if spec.little else 2, 1, 0]) + bytes(8)
    out[0:16] = ident
    phoff = ehsize
    if is64:
        struct.pack_into(
            e + "HHIQQQIHHHHHH",
            out,
            16,
            spec.etype,
            spec.machine,
            1,
            BASE,
            phoff,
            0,
            spec.flags,
            ehsize,
            phentsize,
            nphdr,
            64,
            0,
            0,
        )
    else:
        struct.pack_into(
            e + "HHIIIIIHHHHHH",
            out,
            16,
            spec.etype,
            spec.machine,
            1,
            BASE,
            phoff,
            0,
            spec.flags,
            ehsize,
            phentsize,
            nphdr,
            40,
            0,
            0,
        )
    fields["e_phoff"] = 32 if is64 else 28
    fields["e_phnum"] = 56 if is64 else 44
    fields["e_phentsize"] = 54 if is64 else 42
    fields["ei_class"] = 4
    fields["ei_data"] = 5

    phdrs = [
        (6, 4, phoff, nphdr * phentsize, 8),  # PT_PHDR
        (3, 4, interp_off, len(layout["interp"][1]), 1),  # PT_INTERP
        (1, 5, 0, total, 0x1000),  # PT_LOAD R+X
        (2, 6, dyn_off, len(dyn_blob), 8),  # PT_DYNAMIC
    ]
    if spec.notes:
        phdrs.append((4, 4, notes_off, len(notes), 4))
    for i, (ptype, pflags, off, size, align) in enumerate(phdrs):
        at = phoff + i * phentsize
        if is64:
            struct.pack_into(
                e + "IIQQQQQQ",
                out,
                at,
                ptype,
                pflags,
                off,
                BASE + off,
                BASE + off,
                size,
                size,
                align,
            )
            fields[f"phdr{i}.offset"] = at + 8
            fields[f"phdr{i}.filesz"] = at + 32
        else:
            struct.pack_into(
                e + "IIIIIIII",
                out,
                at,
                ptype,
                off,
                BASE + off,
                BASE + off,
                size,
                size,
                pflags,
                align,
            )
            fields[f"phdr{i}.offset"] = at + 4
            fields[f"phdr{i}.filesz"] = at + 16
    if spec.interp is None:  # drop PT_INTERP by turning it into PT_NULL
        struct.pack_into(e + "I", out, phoff + phentsize, 0)
    for name, (off, blob) in layout.items():
        out[off : off + len(blob)] = blob
        fields[name] = off
    fields["dynamic"] = dyn_off
    fields["verneed"] = verneed_off
    fields["verdef"] = verdef_off
    fields["notes"] = notes_off
    fields["rodata"] = rodata_off
    fields["dyn_entry_size"] = dynsize
    return Built(bytes(out), fields)
