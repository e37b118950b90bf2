"""Two facts the wheel audit needs beyond what :mod:`libcprobe._elf` parses, read from an open
:class:`~libcprobe._elf.ELFFile`:

- the x86 ISA level a file requires, from the ``GNU_PROPERTY_X86_ISA_1_NEEDED`` property of
  its ``NT_GNU_PROPERTY_TYPE_0`` note (x86-64 psABI, "Program Property"; binutils
  ``include/elf/common.h``);
- the undefined, non-weak dynamic symbols it imports whose names match a pattern (the policy's
  blacklisted symbols, musl 1.2's 64-bit ``time_t`` symbols), from the dynamic symbol table
  reached through ``DT_SYMTAB``, its size from ``DT_HASH`` or ``DT_GNU_HASH`` (section headers
  are never used). The string table is searched first; the symbol table is read only when a
  matching name is in it.

Every offset and count comes from the file and is bounded before use; a broken table gives
"nothing found", never an exception.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Iterator
from typing import Optional

from .._elf import MAX_STRING, ELFFile
from .._errors import LibcprobeError

__all__ = ["MAX_SYMBOLS", "imported_symbols", "imports_in", "isa_level", "names_in_table"]

NT_GNU_PROPERTY_TYPE_0 = 5
GNU_PROPERTY_X86_ISA_1_NEEDED = 0xC0008002
# GNU_PROPERTY_X86_ISA_1_{BASELINE,V2,V3,V4}: bit -> the level's name (x86-64 psABI).
_ISA_BITS = ((8, "x86-64-v4"), (4, "x86-64-v3"), (2, "x86-64-v2"))
EM_386 = 3
EM_X86_64 = 62

DT_HASH = 4
DT_STRTAB = 5
DT_SYMTAB = 6
DT_STRSZ = 10
DT_GNU_HASH = 0x6FFFFEF5
SHN_UNDEF = 0
STB_WEAK = 2
#: Most dynamic symbols read from one file.
MAX_SYMBOLS = 1 << 18
_MAX_STRTAB = 8 << 20
_MAX_BUCKETS = 1 << 20
# Elf64_Sym is st_name, st_info, st_other, st_shndx, st_value, st_size (24 bytes); Elf32_Sym is
# st_name, st_value, st_size, st_info, st_other, st_shndx (16 bytes) (gABI "Symbol Table"):
# the struct format of st_name, st_info and st_shndx, the entry size, where st_shndx is.
_SYMBOL_FIELDS = {64: ("IBxH16x", 24, 6), 32: ("I8xBxH", 16, 14)}


def isa_level(elf: ELFFile) -> Optional[str]:
    """``"x86-64-v2"`` … ``"x86-64-v4"`` when the file's GNU property note says it needs that
    level; None for the baseline, for no note and for other architectures."""
    if elf.machine not in (EM_X86_64, EM_386):
        return None
    prefix = "<" if elf.little_endian else ">"
    step = 8 if elf.elf_class == 64 else 4
    for note in elf.notes:
        if note.name != "GNU" or note.type != NT_GNU_PROPERTY_TYPE_0:
            continue
        desc, pos = note.desc, 0
        while pos + 8 <= len(desc):
            pr_type, pr_datasz = struct.unpack_from(prefix + "II", desc, pos)
            data_at = pos + 8
            if pr_type == GNU_PROPERTY_X86_ISA_1_NEEDED and pr_datasz == 4:
                if data_at + 4 > len(desc):
                    return None
                (bits,) = struct.unpack_from(prefix + "I", desc, data_at)
                for bit, name in _ISA_BITS:
                    if bits & bit:
                        return name
                return None
            pos = data_at + ((pr_datasz + step - 1) // step) * step
    return None


def imported_symbols(
    elf: ELFFile, names: frozenset[bytes], pattern: Optional[re.Pattern[bytes]] = None
) -> tuple[str, ...]:
    """The undefined, non-weak dynamic symbols the file imports that are in ``names`` or match
    ``pattern`` (whole names; ``pattern.search`` must find one in the string table for the
    symbol table to be read), sorted. Needs the file open (or bytes input)."""
    try:
        return _imported(elf, names, pattern)
    except (LibcprobeError, struct.error, ValueError):
        return ()


def _first(elf: ELFFile) -> dict[int, int]:
    # The first entry of each tag read here (as ld.so takes them).
    out: dict[int, int] = {}
    for tag in (DT_HASH, DT_STRTAB, DT_SYMTAB, DT_STRSZ, DT_GNU_HASH):
        value = elf.first_dynamic(tag)
        if value is not None:
            out[tag] = value
    return out


def _table(elf: ELFFile, vaddr: int, size: int) -> Optional[bytes]:
    where = elf.vaddr_to_offset(vaddr)
    if where is None:
        return None
    offset, room = where
    size = min(size, room)
    raw = elf.read_range(offset, offset + size)
    return raw if len(raw) == size else None


def _imported(
    elf: ELFFile, names: frozenset[bytes], pattern: Optional[re.Pattern[bytes]]
) -> tuple[str, ...]:
    dyn = _first(elf)
    if DT_SYMTAB not in dyn or DT_STRTAB not in dyn:
        return ()
    # The table the reader already read for the names, else read here (bounded).
    strtab = elf.dynamic_string_table() or _table(
        elf, dyn[DT_STRTAB], min(dyn.get(DT_STRSZ, _MAX_STRTAB), _MAX_STRTAB)
    )
    if strtab is None:
        return ()
    wanted = names_in_table(names, strtab)
    if not wanted and (pattern is None or pattern.search(strtab) is None):
        return ()
    count = _symbol_count(elf, dyn)
    if not count:
        return ()
    entsize = _SYMBOL_FIELDS[elf.elf_class][1]
    symtab = _table(elf, dyn[DT_SYMTAB], count * entsize)
    if symtab is None:
        return ()
    return tuple(
        sorted(imports_in(symtab, strtab, elf.elf_class, elf.little_endian, wanted, pattern))
    )


#: Past this many names, names_in_table first rules most of them out by their last bytes
#: (in a table of at most _SPLIT_MAX bytes: splitting a larger one costs more memory).
_FEW_NAMES = 8
_TAIL = 6
_SPLIT_MAX = 256 * 1024


def names_in_table(names: frozenset[bytes], strtab: bytes) -> set[bytes]:
    """The ``names`` a string table holds: followed by a NUL, at a string's start or inside
    a longer one (linkers share tails). Checked before any symbol is read: one search of the
    table per name, or for many names (a library's blacklist: libz's has 41), one split of it
    and a search only for a name some string ends as, or whole strings are."""
    if len(names) <= _FEW_NAMES or len(strtab) > _SPLIT_MAX:
        return {n for n in names if n + b"\0" in strtab}
    strings = strtab.split(b"\0")[:-1]  # the last piece has no NUL after it
    found = set(names.intersection(strings))
    tails = {t[-_TAIL:] for t in strings}
    for name in names - found:
        if (len(name) < _TAIL or name[-_TAIL:] in tails) and name + b"\0" in strtab:
            found.add(name)
    return found


def imports_in(
    symtab: bytes,
    strtab: bytes,
    elf_class: int,
    little_endian: bool,
    names: Iterable[bytes],
    pattern: Optional[re.Pattern[bytes]],
) -> set[str]:
    """The names of the undefined, non-weak symbols of a symbol table (its bytes) that are in
    ``names`` or match ``pattern`` (whole names). A name the string table holds in a few places
    is looked up by searching the symbol table's bytes for each offset; past that, and for the
    pattern, one pass over the undefined symbols reads each one's name. A table cut inside an
    entry (at the end of its segment) gives nothing, as when it was unpacked whole."""
    fields, entsize, shndx_at = _SYMBOL_FIELDS[elf_class]
    if len(symtab) % entsize:
        return set()
    e = "<" if little_endian else ">"
    symbol = struct.Struct(e + fields)
    wanted = set(names)
    at_names = _name_offsets(strtab, wanted)
    found = set()
    if at_names is not None:
        u32 = struct.Struct(e + "I")
        for at, name in at_names.items():
            text = name.decode("utf-8", "surrogateescape")
            if text not in found and any(
                _imported_at(symtab, symbol, index, len(strtab))
                for index in _entries_at(symtab, entsize, u32.pack(at))
            ):
                found.add(text)
        wanted = set()
    if wanted or pattern is not None:
        for index in _undefined(symtab, entsize, shndx_at):
            hit = _name_of(symtab, symbol, index, strtab, wanted, pattern)
            if hit is not None:
                found.add(hit.decode("utf-8", "surrogateescape"))
    return found


def _name_of(
    symtab: bytes,
    symbol: struct.Struct,
    index: int,
    strtab: bytes,
    wanted: set[bytes],
    pattern: Optional[re.Pattern[bytes]],
) -> Optional[bytes]:
    """The name of symbol ``index`` when it is imported and in ``wanted`` or matches
    ``pattern``; else None. The NUL is looked for only as far as the longest wanted name
    reaches, or for the pattern up to ``MAX_STRING`` bytes, the reader's bound on a name
    (a longer one is no name: else a hostile table of one 8 MiB run made every symbol's name
    8 MiB long, for the NUL search and the pattern alike, and took hours)."""
    offset = _imported_at(symtab, symbol, index, len(strtab))
    if not offset:
        return None
    longest = max(map(len, wanted), default=0)
    room = offset + (max(longest, MAX_STRING) if pattern is not None else longest) + 1
    end = strtab.find(b"\0", offset, room)
    if end < 0:
        return None
    if pattern is not None and pattern.fullmatch(strtab, offset, end):
        return strtab[offset:end]
    if not wanted:
        return None
    name = strtab[offset:end]
    return name if name in wanted else None


#: Past this many places where wanted names lie in the string table, imports_in makes one pass
#: over the symbols instead of a search of the symbol table per place (a hostile table may
#: hold a name 10^5 times: that many searches of 6 MiB took minutes).
_FEW_OFFSETS = 8


def _name_offsets(strtab: bytes, names: set[bytes]) -> Optional[dict[int, bytes]]:
    """The offsets where one of ``names`` and its NUL lie in the string table (linkers share
    tails, so a name may lie in more than one), mapped to the name; None past _FEW_OFFSETS."""
    out: dict[int, bytes] = {}
    for name in sorted(names):
        wanted = name + b"\0"
        at = strtab.find(wanted, 1)
        while at >= 0:
            if len(out) == _FEW_OFFSETS:
                return None
            out.setdefault(at, name)
            at = strtab.find(wanted, at + 1)
    return out


def _imported_at(symtab: bytes, symbol: struct.Struct, index: int, strtab_size: int) -> int:
    """The ``st_name`` of symbol ``index`` when it is undefined, not weak, and names a string
    of the table; else 0."""
    name, info, shndx = symbol.unpack_from(symtab, index * symbol.size)
    if shndx != SHN_UNDEF or info >> 4 == STB_WEAK or not 0 < name < strtab_size:
        return 0
    return int(name)


def _entries_at(symtab: bytes, entsize: int, key: bytes) -> Iterator[int]:
    """The symbols whose ``st_name`` (the first word of an entry) is ``key``, found with a
    search of the symbol table's bytes."""
    hit = symtab.find(key)
    while hit >= 0:  # at most one step per entry: a hit inside one skips to the next
        if hit % entsize == 0:
            yield hit // entsize
        hit = symtab.find(key, (hit // entsize + 1) * entsize)


def _undefined(symtab: bytes, entsize: int, shndx_at: int) -> Iterator[int]:
    """The symbols whose ``st_shndx`` is ``SHN_UNDEF``: both its bytes zero, whatever the byte
    order, found with searches of the column of each byte (a library's few imports among
    thousands of definitions cost no loop over the definitions)."""
    low, high = symtab[shndx_at::entsize], symtab[shndx_at + 1 :: entsize]
    index = low.find(0)
    while index >= 0:
        if not high[index]:
            yield index
        index = low.find(0, index + 1)


def _symbol_count(elf: ELFFile, dyn: dict[int, int]) -> int:
    """The number of dynamic symbols: ``nchain`` of ``DT_HASH``, or one past the last symbol
    a ``DT_GNU_HASH`` chain reaches."""
    e = "<" if elf.little_endian else ">"
    if DT_HASH in dyn:
        head = _table(elf, dyn[DT_HASH], 8)
        if head is not None:
            nchain: int = struct.unpack(e + "II", head)[1]
            return min(nchain, MAX_SYMBOLS)
    if DT_GNU_HASH not in dyn:
        return 0
    head = _table(elf, dyn[DT_GNU_HASH], 16)
    if head is None:
        return 0
    fields: tuple[int, int, int, int] = struct.unpack(e + "IIII", head)
    nbuckets, symoffset, bloom_size, _shift = fields
    if nbuckets > _MAX_BUCKETS or bloom_size > _MAX_BUCKETS:
        return 0
    word = 8 if elf.elf_class == 64 else 4
    buckets_at = dyn[DT_GNU_HASH] + 16 + bloom_size * word
    buckets = _table(elf, buckets_at, nbuckets * 4)
    if buckets is None:
        return 0
    values: tuple[int, ...] = struct.unpack(f"{e}{nbuckets}I", buckets)
    last = max(values, default=0)
    if last < symoffset:
        return min(symoffset, MAX_SYMBOLS)
    chains_at = buckets_at + nbuckets * 4
    index = last
    while index < MAX_SYMBOLS:
        entry = _table(elf, chains_at + (index - symoffset) * 4, 4)
        if entry is None:
            return 0
        if struct.unpack(e + "I", entry)[0] & 1:
            return index + 1
        index += 1
    return MAX_SYMBOLS
