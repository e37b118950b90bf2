"""A small, bounded ELF reader.

It reads what libc detection needs and nothing else: the file header, the program headers,
``PT_INTERP``, ``PT_DYNAMIC`` (needed libraries, soname, search paths, flags), the GNU
symbol-version tables reached through the dynamic section, and ``PT_NOTE`` notes. Section
headers are only ever a shortcut or an extra (``.ARM.attributes``; where ``.rodata`` lies,
for the string scans): a stripped file gives the same facts.

References: System V ABI, "Object Files" (gABI, ELF header, program header, dynamic section,
note section); the LSB "Symbol Versioning" chapter for ``DT_VERNEED``/``DT_VERDEF``.

Every offset and size taken from the file is checked against the file before use; no
allocation is sized by a field of the file beyond the documented bounds below; every chain
walk is bounded (the version chains cannot loop: their offsets are unsigned and only move
forward). Bad input raises an :class:`~libcprobe.ELFError`
subclass naming the file; I/O problems raise :class:`~libcprobe.FileAccessError`.
"""

from __future__ import annotations

import errno as _errno
import os
import stat
import struct

from ._arch import EM_ARM, arch_name, cpu_arch_name
from ._errors import (
    CorruptELFError,
    ELFError,
    FileAccessError,
    NotELFError,
    ReadLimitError,
    TruncatedELFError,
)

TYPE_CHECKING = False  # typing and collections.abc only for type checkers: see _records.py
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterator
    from types import TracebackType
    from typing import Callable, NamedTuple, NoReturn, Optional, TypeVar, Union

    T = TypeVar("T")
    _StringFn = Callable[[int, str], str]  # the dynamic string table lookup passed to parsers
    PathOrBytes = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]
else:
    from ._records import NamedTuple

__all__ = [
    "MAX_BYTES_PER_FILE",
    "ByteSource",
    "DynamicEntry",
    "ELFFile",
    "Note",
    "ProgramHeader",
    "VersionNeed",
    "check_regular_file",
    "dt_null_at",
    "dynamic_tag_lists",
    "open_elf",
    "open_elf_fd",
    "open_regular_file",
    "read_elf",
    "read_elf_source",
    "read_program_headers",
    "readonly_ranges_of",
    "vaddr_to_offset_of",
]

#: The most bytes libcprobe reads from one file for one parse, including string scans.
MAX_BYTES_PER_FILE = 16 * 1024 * 1024
#: Bounds on structures whose counts come from the file.
MAX_PROGRAM_HEADERS = 4096
MAX_DYNAMIC_ENTRIES = 8192
MAX_VERSION_ENTRIES = 4096
MAX_NOTES = 1024
MAX_NOTE_SEGMENT = 1024 * 1024
MAX_STRING = 4096  # PATH_MAX: no name or path we read is longer
MAX_STRING_TABLE = 64 * 1024  # a dynamic string table this small is read whole
LAZY_STRING_TABLE = 4 * 1024  # ... by a lazy read, which wants only a few names from it
MAX_SECTIONS = 1024  # section headers read to find .ARM.attributes (programs have < 100)
MAX_ATTRIBUTES = 64 * 1024  # .ARM.attributes is a few dozen bytes
SHT_ARM_ATTRIBUTES = 0x70000003  # ELF for the Arm Architecture (IHI 0044)

#: The reader's cache block. 1 KiB, not a page: musl's malloc gives several live 4 KiB
#: objects pages of their own, mapped and unmapped on each call (two 4 KiB reads held at once
#: cost 8.5 us in a musl CPython against 0.8 us for 2 KiB), and a lazy open wants little
#: (headers, the dynamic entries, a few names). detect() in the musl CPython: 186 -> 156 us
#: (medians of 7 interleaved runs); on glibc 120 -> 125 us.
_BLOCK = 1024
# How much of a version table is read in one piece: per Verneed (16 bytes, with its Vernaux
# records, 16 bytes each) and per Verdef (20 bytes and a Verdaux of 8, two for a version with a
# parent: 35 bytes on average in glibc's libc.so.6), at most _VERSION_WINDOW bytes.
_VERNEED_WINDOW = 16 * 16
_VERDEF_WINDOW = 40
_VERSION_WINDOW = 8 * 1024

# e_ident indexes and values (gABI, "ELF Identification").
_IDENT = "ELF identification"
ELFMAG = b"\x7fELF"
_EI_CLASS = 4
_EI_DATA = 5
_EI_OSABI = 7
_EI_ABIVERSION = 8
_ELFCLASS32 = 1
_ELFCLASS64 = 2
_ELFDATA2LSB = 1
_ELFDATA2MSB = 2

# e_type (gABI).
_TYPE_NAMES = {0: "NONE", 1: "REL", 2: "EXEC", 3: "DYN", 4: "CORE"}

ET_EXEC = 2
ET_DYN = 3
#: The kernel's bound (fs/binfmt_elf.c load_elf_phdrs): a program header table of 0 bytes or
#: more than 64 KiB is refused.
_KERNEL_MAX_PHDRS = 65536

# Program header types and flags (gABI, "Program Header").
PT_LOAD = 1
PT_DYNAMIC = 2
PT_INTERP = 3
PT_NOTE = 4
PF_X = 1
PF_W = 2
PF_R = 4
_PN_XNUM = 0xFFFF  # e_phnum escape: the real count is in section 0's sh_info

# Dynamic tags (gABI "Dynamic Section"; GNU extensions from glibc's elf.h).
DT_NULL = 0
DT_NEEDED = 1
DT_STRTAB = 5
DT_STRSZ = 10
DT_SONAME = 14
DT_RPATH = 15
DT_RUNPATH = 29
DT_FLAGS_1 = 0x6FFFFFFB
DT_VERDEF = 0x6FFFFFFC
DT_VERDEFNUM = 0x6FFFFFFD
DT_VERNEED = 0x6FFFFFFE
DT_VERNEEDNUM = 0x6FFFFFFF
DF_1_PIE = 0x08000000
#: The tags whose values are offsets into the dynamic string table (directly or through the
#: version tables).
_STRING_TAGS = frozenset((DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH, DT_VERNEED, DT_VERDEF))
#: The tags an open reads.
_OPEN_TAGS = _STRING_TAGS | {DT_STRTAB, DT_STRSZ, DT_FLAGS_1}
VER_FLG_BASE = 0x1


class ProgramHeader(NamedTuple):
    """One entry of the program header table (``Elf{32,64}_Phdr``)."""

    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int
    align: int


class DynamicEntry(NamedTuple):
    """One ``Elf{32,64}_Dyn`` entry: tag and value."""

    tag: int
    value: int


class Note(NamedTuple):
    """One note from a ``PT_NOTE`` segment: owner name (without NUL), type and descriptor."""

    name: str
    type: int
    desc: bytes


class VersionNeed(NamedTuple):
    """One ``Elf_Verneed`` entry: the library (``vn_file``) and the version names needed from
    it (its ``Elf_Vernaux`` names), in file order."""

    file: str
    names: tuple[str, ...]


class _Layout:
    """The ``struct`` formats of one ELF class and byte order, compiled once per process
    (compiling a format costs more than unpacking with it)."""

    __slots__ = (
        "dyn", "ehdr", "phdr", "shdr", "u32", "u32x3", "verdef", "vernaux", "verneed", "words",
    )  # fmt: skip

    def __init__(self, e: str, elf64: bool) -> None:
        # Elf64_Ehdr after e_ident / Elf32_Ehdr after e_ident (gABI).
        self.ehdr = struct.Struct(e + ("HHIQQQIHHHHHH" if elf64 else "HHIIIIIHHHHHH"))
        # Elf64_Phdr is p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz,
        # p_align: ProgramHeader's order once p_paddr is skipped. Elf32_Phdr has p_flags after
        # p_memsz (reordered by the reader).
        self.phdr = struct.Struct(e + ("IIQQ8xQQQ" if elf64 else "III4xIIII"))
        self.dyn = struct.Struct(e + ("qQ" if elf64 else "iI"))
        self.words = e + ("%dQ" if elf64 else "%dI")  # a run of words, as unsigned
        # Elf64_Shdr / Elf32_Shdr: sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size,
        # then sh_link, sh_info, sh_addralign, sh_entsize (skipped).
        self.shdr = struct.Struct(e + ("IIQQQQ24x" if elf64 else "IIIIII16x"))
        self.u32 = struct.Struct(e + "I")
        self.u32x3 = struct.Struct(e + "III")
        self.verneed = struct.Struct(e + "HHIII")
        self.vernaux = struct.Struct(e + "IHHII")
        self.verdef = struct.Struct(e + "HHHHIII")


#: By EI_CLASS * 4 + EI_DATA.
_LAYOUTS: dict[int, _Layout] = {}


def _layout(cls: int, enc: int) -> _Layout:
    found = _LAYOUTS[cls * 4 + enc] = _Layout("<" if enc == _ELFDATA2LSB else ">", cls == 2)
    return found


def _decode(raw: bytes) -> str:
    # Names in ELF files are bytes; decode them as the OS decodes file names.
    return raw.decode("utf-8", "surrogateescape")


class _Data:
    """Bounded random access to the bytes of one file or buffer.

    File reads go through a cache of 1 KiB blocks, so neighbouring small reads cost one system
    call, and every byte fetched from the file counts against ``MAX_BYTES_PER_FILE``.
    """

    __slots__ = ("_budget", "_cache", "_fd", "_mem", "name", "size")
    #: Whether neighbouring reads may be made as one (the same blocks are fetched either way);
    #: not for a byte source, which sees each read.
    combined_reads = True

    def __init__(self, name: str, size: int, fd: Optional[int], mem: Optional[bytes]) -> None:
        self.name = name
        self.size = size
        self._fd = fd
        self._mem = mem
        self._cache: dict[int, bytes] = {}
        self._budget = MAX_BYTES_PER_FILE

    def _fetch(self, offset: int, size: int) -> bytes:
        if self._fd is None:
            raise FileAccessError("the file was closed before this read", self.name)
        if size > self._budget:
            raise ReadLimitError(
                f"reading it needs more than {MAX_BYTES_PER_FILE} bytes", self.name
            )
        self._budget -= size
        try:
            chunk = os.pread(self._fd, size, offset)
        except OSError as exc:
            raise FileAccessError(f"read failed: {exc.strerror}", self.name, exc.errno) from None
        if len(chunk) != size:  # the file shrank under us
            raise TruncatedELFError(f"file ended at offset {offset + len(chunk)}", self.name)
        return chunk

    def read(self, offset: int, size: int, what: str) -> bytes:
        """Exactly ``size`` bytes at ``offset``, or TruncatedELFError naming ``what``."""
        if offset < 0 or size < 0 or offset + size > self.size:
            raise TruncatedELFError(
                f"{what} (offset {offset:#x}, {size} bytes) lies past the end of the file "
                f"({self.size} bytes)",
                self.name,
            )
        if self._mem is not None:
            return self._mem[offset : offset + size]
        first = offset // _BLOCK
        if size and (offset + size - 1) // _BLOCK == first:  # the common case: one block
            chunk = self._cache.get(first)
            if chunk is None:
                start = first * _BLOCK
                chunk = self._fetch(start, min(start + _BLOCK, self.size) - start)
                self._cache[first] = chunk
            skip = offset - first * _BLOCK
            return chunk[skip : skip + size]
        return self._read_blocks(offset, size) if size else b""

    def _read_blocks(self, offset: int, size: int) -> bytes:
        # read() across blocks: each run of missing blocks is fetched with one pread; when one
        # run is all of them, the bytes are taken from it (no join of the blocks).
        cache = self._cache
        first, last = offset // _BLOCK, (offset + size - 1) // _BLOCK
        skip = offset - first * _BLOCK
        if last == first + 1 and first not in cache and last not in cache:  # one pread
            start = first * _BLOCK
            chunk = self._fetch(start, min(start + 2 * _BLOCK, self.size) - start)
            cache[first], cache[last] = chunk[:_BLOCK], chunk[_BLOCK:]
            return chunk[skip : skip + size]
        block = first
        while block <= last:  # fetch each run of missing blocks with one pread
            if block in cache:
                block += 1
                continue
            run_end = block
            while run_end < last and run_end + 1 not in cache:
                run_end += 1
            start = block * _BLOCK
            chunk = self._fetch(start, min((run_end + 1) * _BLOCK, self.size) - start)
            for b in range(block, run_end + 1):
                cache[b] = chunk[(b - block) * _BLOCK : (b - block + 1) * _BLOCK]
            if block == first and run_end == last:
                return chunk[skip : skip + size]
            block = run_end + 1
        joined = b"".join([cache[b] for b in range(first, last + 1)])
        return joined[skip : skip + size]

    def whole(self, offset: int, size: int) -> Optional[bytes]:
        """``read(offset, size)`` of a range inside the file (``size`` > 0) when it reads what
        a read of its last byte alone would (bytes in memory, or one cache block), else None."""
        if self._mem is not None:
            return self._mem[offset : offset + size]
        if offset // _BLOCK != (offset + size - 1) // _BLOCK:
            return None
        return self.read(offset, size, "PT_INTERP")

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._cache.clear()

    def read_uncached(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes at ``offset`` (clipped to the file), bypassing the cache: for
        scans of large read-only segments."""
        if offset < 0 or offset >= self.size or size <= 0:
            return b""
        size = min(size, self.size - offset)
        if self._mem is not None:
            return self._mem[offset : offset + size]
        return self._fetch(offset, size)

    def cstring(self, offset: int, end: int, what: str) -> bytes:
        """The NUL-terminated string at ``offset``, which must end before ``end``."""
        # min(end, self.size, offset + MAX_STRING + 1), without the call
        if end > self.size:
            end = self.size
        if end > offset + MAX_STRING + 1:
            end = offset + MAX_STRING + 1
        if offset < 0 or offset >= end:
            raise TruncatedELFError(
                f"{what} at offset {offset:#x} lies outside its table", self.name
            )
        # Most names are short: read 256 bytes first, the rest only when no NUL is in them.
        raw = self.read(offset, end - offset if end - offset < 256 else 256, what)
        nul = raw.find(b"\0")
        if nul < 0 and len(raw) < end - offset:
            raw = self.read(offset, end - offset, what)
            nul = raw.find(b"\0")
        if nul < 0:
            raise CorruptELFError(f"{what} at offset {offset:#x} is not NUL-terminated", self.name)
        return raw[:nul]


class ELFFile:
    """The parsed facts of one ELF file. Build it with :func:`read_elf`.

    All attributes are plain values filled in when the file is read. From :func:`read_elf`
    the file is closed by then; inside :func:`open_elf`'s ``with`` block it stays open, so
    :meth:`readonly_data` can read more of it. With ``open_elf(path, lazy=True)`` (detection,
    which rarely needs them) the symbol-version tables and the notes are parsed on first use
    instead, inside the block: their errors come then.
    """

    # Slots: the reader sets some 40 attributes, past the 30 a shared-key instance dict
    # holds before it turns into a plain dict (CPython 3.11); "__dict__" keeps any other
    # attribute (a test's monkeypatch) settable.
    __slots__ = (
        "__dict__",
        "_data", "_defs", "_dynamic", "_dynamic_at", "_dynraw", "_dynsize", "_e", "_interp_at",
        "_layout", "_needs", "_notes", "_phdrs", "_phentsize", "_phnum", "_phoff",
        "_program_headers", "_readonly", "_shentsize", "_shnum", "_shoff", "_shstrndx",
        "_strings", "_strtab", "_table_limit", "_tags", "_values",
        "abiversion", "arm_cpu_arch", "elf_class", "entry", "file_size", "flags", "flags_1",
        "interpreter", "little_endian", "machine", "needed", "osabi", "path", "rpath",
        "runpath", "soname", "type",
    )  # fmt: skip

    path: str
    elf_class: int  # 32 or 64
    little_endian: bool
    osabi: int
    abiversion: int
    type: int
    machine: int
    flags: int
    entry: int
    file_size: int
    interpreter: Optional[str]
    needed: tuple[str, ...]
    soname: Optional[str]
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]
    flags_1: int
    arm_cpu_arch: Optional[int]

    def __init__(self, data: _Data, *, lazy: bool = False) -> None:
        self._data = data
        self._readonly: dict[tuple[int, bool], list[tuple[int, bytes]]] = {}
        self._dynamic: Optional[tuple[DynamicEntry, ...]] = None
        self._needs: Optional[tuple[VersionNeed, ...]] = None
        self._defs: Optional[tuple[str, ...]] = None
        self._notes: Optional[tuple[Note, ...]] = None
        self.path = data.name
        self.file_size = data.size
        self._parse_header(data)
        self._parse_program_headers(data)
        self._parse_interpreter(data, self._scan_segments(data, self.type in (ET_EXEC, ET_DYN)))
        # A lazy read (detection) wants a few names: a table is read whole only up to a block;
        # an eager one (inspect) wants every version name too.
        self._table_limit = LAZY_STRING_TABLE if lazy else MAX_STRING_TABLE
        self._parse_dynamic(data)
        self.arm_cpu_arch = self._arm_cpu_arch(data) if self.machine == EM_ARM else None
        if not lazy:  # every error at once (read_elf, inspect); lazy: see open_elf
            self._parse_verneeds()
            self._parse_verdefs()
            self._parse_notes()

    # -- the groups parsed on first use inside open_elf(lazy=True) ------------------------

    @property
    def dynamic(self) -> tuple[DynamicEntry, ...]:
        """The ``PT_DYNAMIC`` entries before the first ``DT_NULL``."""
        if self._dynamic is None:
            entries = self._layout.dyn.iter_unpack(self._dynraw)
            self._dynamic = tuple(map(DynamicEntry._make, entries))
        return self._dynamic

    def dynamic_string_table(self) -> Optional[bytes]:
        """The dynamic string table's bytes (``DT_STRTAB``, ``DT_STRSZ`` clipped to its
        segment) when the reader already holds it whole, having read names from it; else None
        (read it then, bounded, where it is needed)."""
        return self._strings or None

    def first_dynamic(self, tag: int) -> Optional[int]:
        """The value of the first ``PT_DYNAMIC`` entry with ``tag`` (as ld.so reads
        ``DT_STRTAB``, ``DT_SYMTAB``, ...), or None (without building :attr:`dynamic`)."""
        bits = 8 * self._dynsize // 2  # the reader holds tags unsigned; d_tag is signed
        if not -(1 << (bits - 1)) <= tag < 1 << (bits - 1):
            return None
        return self._first_value(tag & ((1 << bits) - 1))

    def _first_value(self, tag: int) -> Optional[int]:
        # The value of the first entry with ``tag`` (unsigned), as first_dynamic.
        tags = self._tags
        return self._values[tags.index(tag)] if tag in tags else None

    @property
    def version_needs(self) -> tuple[VersionNeed, ...]:
        """The ``DT_VERNEED`` entries, in file order."""
        needs = self._needs
        return needs if needs is not None else self._parse_verneeds()

    @property
    def version_definitions(self) -> tuple[str, ...]:
        """The names of the ``DT_VERDEF`` entries, in file order (the first names the file)."""
        defs = self._defs
        return defs if defs is not None else self._parse_verdefs()

    @property
    def notes(self) -> tuple[Note, ...]:
        """The notes of the ``PT_NOTE`` segments, in file order."""
        notes = self._notes
        return notes if notes is not None else self._parse_notes()

    def may_have_note(self, name: str) -> bool:
        """False when no note can be named ``name``: its bytes are in no ``PT_NOTE`` segment
        (a test that spares parsing the notes, e.g. for Android's ident note)."""
        if self._notes is not None:
            return any(note.name == name for note in self._notes)
        key = name.encode("utf-8", "surrogateescape")
        for offset, filesz, _align in self._note_segments():
            if key in self._data.read(offset, filesz, "PT_NOTE"):
                return True
        return False

    def _note_segments(self) -> Iterator[tuple[int, int, int]]:
        """(offset, size, alignment) of each distinct non-empty ``PT_NOTE`` segment (one named
        by several headers once, as its first header has it), ``CorruptELFError`` past
        ``MAX_NOTE_SEGMENT`` bytes in all: what :attr:`notes` and :meth:`may_have_note` read."""
        seen: set[tuple[int, int]] = set()
        total = 0
        for p_type, _flags, offset, _vaddr, filesz, _memsz, align in self._phdrs:
            if p_type != PT_NOTE or filesz == 0 or (offset, filesz) in seen:
                continue
            seen.add((offset, filesz))
            total += filesz
            if filesz > MAX_NOTE_SEGMENT or total > MAX_NOTE_SEGMENT:
                raise CorruptELFError(
                    f"PT_NOTE segments hold {total} bytes (at most {MAX_NOTE_SEGMENT})",
                    self._data.name,
                )
            yield offset, filesz, align

    # -- derived facts ------------------------------------------------------------------

    @property
    def endian(self) -> str:
        """``"little"`` or ``"big"``."""
        return "little" if self.little_endian else "big"

    @property
    def type_name(self) -> str:
        """``"EXEC"``, ``"DYN"``, ``"REL"``, ``"CORE"``, ``"NONE"`` or the number in hex."""
        return _TYPE_NAMES.get(self.type, f"{self.type:#x}")

    @property
    def arch(self) -> Optional[str]:
        """The wheel-tag architecture name (see :func:`libcprobe._arch.arch_name`)."""
        return arch_name(self.machine, self.elf_class, self.little_endian, self.flags)

    @property
    def cpu_arch(self) -> Optional[str]:
        """The CPU architecture the file is built for (see
        :func:`libcprobe._arch.cpu_arch_name`): :attr:`arch`, except 32-bit ARM files with
        build attributes, named by their ``Tag_CPU_arch``."""
        return cpu_arch_name(
            self.machine, self.elf_class, self.little_endian, self.flags, self.arm_cpu_arch
        )

    @property
    def linkage(self) -> str:
        """``"dynamic"`` when the file has a ``PT_INTERP`` or needs a library, else
        ``"static"``."""
        return "dynamic" if self.interpreter is not None or self.needed else "static"

    @property
    def is_pie(self) -> bool:
        """A position-independent executable: ``ET_DYN`` with ``DF_1_PIE``, or ``ET_DYN``
        with a ``PT_INTERP``."""
        pie_flag = bool(self.flags_1 & DF_1_PIE)
        return self.type == ET_DYN and (pie_flag or self.interpreter is not None)

    @property
    def glibc_requires(self) -> Optional[tuple[int, ...]]:
        """The highest ``GLIBC_x.y[.z]`` version the file needs, as a tuple, or None."""
        best: Optional[tuple[int, ...]] = None
        for need in self.version_needs:
            for name in need.names:
                version = parse_glibc_version_name(name)
                if version is not None and (best is None or version > best):
                    best = version
        return best

    def readonly_ranges(self, *, code: bool = True) -> list[tuple[int, int]]:
        """(offset, size) of the loaded, readable, non-writable segments, clipped to the file:
        where string constants live. ``code=False`` leaves out executable segments (modern
        linkers put .rodata in a segment of its own)."""
        return readonly_ranges_of(self._phdrs, self.file_size, code)

    def readonly_data(
        self, limit: int = MAX_BYTES_PER_FILE // 2, *, code: bool = True
    ) -> list[tuple[int, bytes]]:
        """The bytes of :meth:`readonly_ranges`, as ``(offset, bytes)``, at most ``limit``
        bytes in all. Needs the file open: use :func:`open_elf`, or bytes input. Read once per
        file: later calls (the musl-loader check, then the static-marker scan) reuse it."""
        key = (limit, code)
        cached = self._readonly.get(key)
        if cached is not None:
            return cached
        chunks = []
        for offset, size in self.readonly_ranges(code=code):
            size = min(size, limit)
            if size <= 0:
                break
            limit -= size
            chunks.append((offset, self._data.read_uncached(offset, size)))
        self._readonly[key] = chunks
        return chunks

    def entry_code(self, size: int) -> bytes:
        """Up to ``size`` bytes of the file at ``e_entry`` (the first instructions the program
        runs; an ARM Thumb entry's low bit cleared), read through the ``PT_LOAD`` segment that
        maps it; empty when no segment maps it from the file. Needs the file open, or bytes."""
        entry = self.entry & ~1 if self.machine == EM_ARM else self.entry
        where = self.vaddr_to_offset(entry)
        if where is None or size <= 0:
            return b""
        offset, room = where
        return self._data.read_uncached(offset, min(size, room))

    def read_range(self, start: int, end: int) -> bytes:
        """The file's bytes in [start, end), clipped to the file (for string scans; counts
        against the per-file read cap). Needs the file open, or bytes input."""
        return self._data.read_uncached(start, end - start)

    # -- parsing -------------------------------------------------------------------------

    def _parse_header(self, data: _Data) -> None:
        if data.size == 0:
            raise NotELFError("not an ELF file: it is empty", data.name)
        if data.combined_reads:  # e_ident and the header in one read
            head = ident = data.read(0, 64 if data.size > 64 else data.size, _IDENT)
        else:  # a byte source sees the two reads
            head, ident = None, data.read(0, min(16, data.size), _IDENT)
        if not ident.startswith(ELFMAG):
            raise NotELFError("not an ELF file: no ELF magic number", data.name)
        if len(ident) < 16:
            raise TruncatedELFError("ELF identification is cut short", data.name)
        cls, enc = ident[_EI_CLASS], ident[_EI_DATA]
        if cls not in (_ELFCLASS32, _ELFCLASS64):
            raise CorruptELFError(f"unknown ELF class {cls}", data.name)
        if enc not in (_ELFDATA2LSB, _ELFDATA2MSB):
            raise CorruptELFError(f"unknown ELF data encoding {enc}", data.name)
        self.elf_class = 64 if cls == _ELFCLASS64 else 32
        self.little_endian = enc == _ELFDATA2LSB
        self.osabi = ident[_EI_OSABI]
        self.abiversion = ident[_EI_ABIVERSION]
        self._e = "<" if self.little_endian else ">"
        lay = self._layout = _LAYOUTS.get(cls * 4 + enc) or _layout(cls, enc)
        self._phentsize, self._dynsize = (56, 16) if self.elf_class == 64 else (32, 8)
        if head is not None and len(head) >= 16 + lay.ehdr.size:
            fields = lay.ehdr.unpack_from(head, 16)
        else:
            fields = lay.ehdr.unpack(data.read(16, lay.ehdr.size, "ELF header"))
        (
            self.type,
            self.machine,
            _version,
            self.entry,
            self._phoff,
            self._shoff,
            self.flags,
            _ehsize,
            phentsize,
            phnum,
            shentsize,
            _shnum,
            _shstrndx,
        ) = fields
        self._shentsize, self._shnum, self._shstrndx = shentsize, _shnum, _shstrndx
        if phnum == _PN_XNUM:
            if self.type in (ET_EXEC, ET_DYN):
                _refuse(data, "e_phnum is PN_XNUM (0xffff): the kernel reads no extended count")
            phnum = self._extended_phnum(data, shentsize)
        if phnum and phentsize != self._phentsize:
            raise CorruptELFError(
                f"program header entry size is {phentsize}, expected {self._phentsize}", data.name
            )
        if phnum > MAX_PROGRAM_HEADERS:
            raise CorruptELFError(
                f"{phnum} program headers (libcprobe reads at most {MAX_PROGRAM_HEADERS})",
                data.name,
            )
        self._phnum = phnum

    def _extended_phnum(self, data: _Data, shentsize: int) -> int:
        # gABI: with e_phnum == PN_XNUM the count is sh_info of section header 0.
        size = 64 if self.elf_class == 64 else 40
        if not self._shoff or shentsize != size:
            raise CorruptELFError("e_phnum is PN_XNUM but there is no section header 0", data.name)
        raw = data.read(self._shoff, size, "section header 0")
        (sh_info,) = struct.unpack_from(self._e + "I", raw, 44 if self.elf_class == 64 else 28)
        return int(sh_info)

    def _parse_program_headers(self, data: _Data) -> None:
        # Plain tuples in ProgramHeader's field order (type, flags, offset, vaddr, filesz,
        # memsz, align), which the reader unpacks; the records are made on first use of
        # program_headers.
        self._program_headers: Optional[tuple[ProgramHeader, ...]] = None
        if self._phnum == 0:
            self._phdrs: list[tuple[int, int, int, int, int, int, int]] = []
            return
        table = data.read(self._phoff, self._phnum * self._phentsize, "program header table")
        rows = self._layout.phdr.iter_unpack(table)
        if self.elf_class == 64:  # already in ProgramHeader's order
            self._phdrs = list(rows)
        else:
            self._phdrs = [(t, f, o, v, fs, ms, a) for t, o, v, fs, ms, f, a in rows]

    @property
    def program_headers(self) -> tuple[ProgramHeader, ...]:
        """The program header table."""
        if self._program_headers is None:
            self._program_headers = tuple(map(ProgramHeader._make, self._phdrs))
        return self._program_headers

    def _scan_segments(self, data: _Data, loadable: bool) -> Optional[bytes]:
        """One pass over the program headers: the first ``PT_INTERP`` and ``PT_DYNAMIC`` (the
        gABI allows at most one of each; like the kernel and ld.so we take the first) go to
        ``_interp_at`` and ``_dynamic_at``, and for a program or library (``loadable``) the
        header checks of the kernel's ``load_elf_binary`` (fs/binfmt_elf.c) that decide
        whether it can be loaded at all are made on the way; the dynamic loader makes the
        same ones for libraries (glibc's elf/dl-load.c). Each failure is a CorruptELFError
        naming the rule. Not applied: the checks of the interpreter file (another file), of
        the machine against the running kernel (not a property of the file), arm64's
        ``PT_GNU_PROPERTY`` parsing, and p_offset/p_vaddr congruence (mmap fails after the
        point of no return; no toolchain writes such a file).

        Returns the first ``PT_INTERP``'s bytes when its check could read them whole at the
        cost of its last byte, else None."""
        interp = dynamic = raw = None
        if loadable:
            size = self._phnum * self._phentsize
            if size == 0 or size > _KERNEL_MAX_PHDRS:
                _refuse(data, f"its program header table is {size} bytes (must be 1-65536)")
        limit = 1 << self.elf_class
        for ph in self._phdrs:
            p_type = ph[0]
            if p_type > PT_INTERP:  # most headers: one test
                continue
            if p_type == PT_LOAD:
                if loadable and (ph[4] > ph[5] or ph[3] + ph[5] > limit):
                    _refuse_load(data, ph)
            elif p_type == PT_INTERP:
                if loadable:
                    raw = self._check_interp(data, ph, interp is None) or raw
                if interp is None:
                    interp = ph
            elif p_type == PT_DYNAMIC and dynamic is None:
                dynamic = ph
        self._interp_at, self._dynamic_at = interp, dynamic
        return raw

    def _check_interp(self, data: _Data, ph: tuple[int, ...], whole: bool) -> Optional[bytes]:
        # load_elf_binary's PT_INTERP rules: 2 bytes to PATH_MAX, NUL-terminated. With
        # ``whole``, its bytes when reading them costs what reading the last one does.
        offset, filesz = ph[2], ph[4]
        if not 2 <= filesz <= MAX_STRING:
            _refuse(data, f"PT_INTERP is {filesz} bytes (must be 2-{MAX_STRING})")
        raw = data.whole(offset, filesz) if whole and offset + filesz <= data.size else None
        last = raw[-1:] if raw is not None else data.read(offset + filesz - 1, 1, "PT_INTERP")
        if last != b"\0":
            _refuse(data, "PT_INTERP is not NUL-terminated")
        return raw

    def _arm_cpu_arch(self, data: _Data) -> Optional[int]:
        """``Tag_CPU_arch`` from the ``.ARM.attributes`` section (ARM IHI 0045, "Build
        attributes"), found by its section type through the section header table; None when
        there is none or it cannot be read (this is optional information: the ABI rule of
        :attr:`arch` stands then). Reads at most MAX_SECTIONS headers and MAX_ATTRIBUTES bytes."""
        size = 64 if self.elf_class == 64 else 40
        if not self._shoff or self._shentsize != size or not 0 < self._shnum <= MAX_SECTIONS:
            return None
        try:
            table = data.read(self._shoff, self._shnum * size, "section header table")
        except TruncatedELFError:
            return None
        for _name, sh_type, _flags, _addr, offset, sh_size in self._layout.shdr.iter_unpack(table):
            if sh_type == SHT_ARM_ATTRIBUTES:
                if not 0 < sh_size <= MAX_ATTRIBUTES or offset + sh_size > data.size:
                    return None
                return arm_cpu_arch_tag(data.read(offset, sh_size, ".ARM.attributes"), self._e)
        return None

    def _parse_interpreter(self, data: _Data, raw: Optional[bytes]) -> None:
        # ``raw``: the bytes _scan_segments read already, or None.
        segment = self._interp_at
        if segment is None:
            self.interpreter = None
            return
        if raw is None:
            offset, filesz = segment[2], segment[4]
            if filesz > MAX_STRING:
                raise CorruptELFError(f"PT_INTERP is {filesz} bytes long", data.name)
            raw = data.read(offset, filesz, "PT_INTERP")
        self.interpreter = _decode(raw.split(b"\0", 1)[0])

    def vaddr_to_offset(self, vaddr: int) -> Optional[tuple[int, int]]:
        """File offset of a virtual address and the file bytes left in its ``PT_LOAD``
        segment from there, or None when no segment maps it from the file."""
        return vaddr_to_offset_of(self._phdrs, vaddr)

    def _parse_dynamic(self, data: _Data) -> None:
        # The entries are held as two tuples, tags (unsigned) and values, made in C (no tuple
        # per entry); the DynamicEntry records, and the raw bytes they come from, on first use.
        self._tags: tuple[int, ...] = ()
        self._values: tuple[int, ...] = ()
        self._dynraw = b""
        self.needed = ()
        self.soname = None
        self.rpath = ()
        self.runpath = ()
        self.flags_1 = 0
        self._strtab = (0, 0)  # (offset, size) of the dynamic string table
        self._strings: Optional[bytes] = None  # its bytes, once read (see _string)
        segment = self._dynamic_at
        if segment is None or segment[4] == 0:
            return
        offset, filesz = segment[2], segment[4]
        size = self._dynsize
        count = min(filesz // size, MAX_DYNAMIC_ENTRIES)
        raw = data.read(offset, count * size, "PT_DYNAMIC")
        end = self._dt_null(raw)
        if end < 0 and filesz // size > MAX_DYNAMIC_ENTRIES:
            raise CorruptELFError(
                f"PT_DYNAMIC has more than {MAX_DYNAMIC_ENTRIES} entries", data.name
            )
        raw = self._dynraw = raw if end < 0 else raw[:end]
        tags, values = self._tags, self._values = self._tag_lists(raw)
        present = _OPEN_TAGS.intersection(tags)  # one pass; then each test is a set lookup
        if DT_FLAGS_1 in present:  # the last DT_FLAGS_1 counts (ld.so reads them in order)
            self.flags_1 = values[len(tags) - 1 - tags[::-1].index(DT_FLAGS_1)]
        if present.isdisjoint(_STRING_TAGS):
            return
        if DT_STRTAB not in present:
            raise CorruptELFError(
                "the dynamic section names strings but has no DT_STRTAB", data.name
            )
        strtab = values[tags.index(DT_STRTAB)]
        where = self.vaddr_to_offset(strtab)
        if where is None:
            raise CorruptELFError(f"DT_STRTAB {strtab:#x} is not in any loaded segment", data.name)
        str_off, str_room = where
        str_size = values[tags.index(DT_STRSZ)] if DT_STRSZ in present else str_room
        self._strtab = (str_off, str_size if str_size < str_room else str_room)
        try:
            self._names(tags, values, present)
        except ELFError:
            self._names_in_entry_order(tags, values)  # raises the first bad name's error
            raise

    def _tag_lists(self, raw: bytes) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The tags (unsigned) and the values of the raw dynamic entries."""
        return dynamic_tag_lists(raw, self._layout.words, self._dynsize)

    def _names(
        self, tags: tuple[int, ...], values: tuple[int, ...], present: frozenset[int]
    ) -> None:
        # Every DT_NEEDED in order; the first DT_SONAME, DT_RPATH and DT_RUNPATH (as ld.so).
        # ``present``: which of them the entries have.
        string = self._string
        if DT_NEEDED in present:
            at = tags.index(DT_NEEDED)
            needed = [string(values[at], "DT_NEEDED")]
            for _ in range(tags.count(DT_NEEDED) - 1):
                at = tags.index(DT_NEEDED, at + 1)
                needed.append(string(values[at], "DT_NEEDED"))
            self.needed = tuple(needed)
        if DT_SONAME in present:
            self.soname = string(values[tags.index(DT_SONAME)], "DT_SONAME")
        if DT_RPATH in present:
            self.rpath = tuple(string(values[tags.index(DT_RPATH)], "DT_RPATH").split(":"))
        if DT_RUNPATH in present:
            self.runpath = tuple(string(values[tags.index(DT_RUNPATH)], "DT_RUNPATH").split(":"))

    def _names_in_entry_order(self, tags: tuple[int, ...], values: tuple[int, ...]) -> None:
        """The names :meth:`_names` reads, read in the order of the entries (what a bad one
        raises is the error of the first bad entry, whatever its tag)."""
        names = {DT_NEEDED: "DT_NEEDED", DT_SONAME: "DT_SONAME", DT_RPATH: "DT_RPATH"}
        names[DT_RUNPATH] = "DT_RUNPATH"
        seen: set[int] = set()
        for tag, value in zip(tags, values):
            if tag in names and (tag == DT_NEEDED or tag not in seen):
                seen.add(tag)
                self._string(value, names[tag])

    def _dt_null(self, raw: bytes) -> int:
        """Where the first ``DT_NULL`` entry starts in the raw dynamic entries, or -1."""
        return dt_null_at(raw, self._dynsize, self.little_endian)

    def _string(self, index: int, what: str) -> str:
        """The dynamic string table's string at ``index``. A table of up to
        ``MAX_STRING_TABLE`` bytes (``LAZY_STRING_TABLE`` when lazy) inside the file is read
        once and sliced; anything else, and any string it does not hold whole, is read on its
        own (which says what is wrong)."""
        str_off, str_size = self._strtab
        if index >= str_size:
            raise CorruptELFError(
                f"{what} string index {index} is past DT_STRSZ ({str_size})", self._data.name
            )
        table = self._strings
        if table is None:
            fits = str_size <= self._table_limit and str_off + str_size <= self.file_size
            table = self._strings = _string_table(self._data, str_off, str_size) if fits else b""
        if table:
            nul = table.find(b"\0", index, index + MAX_STRING + 1)
            if nul >= 0:
                return table[index:nul].decode("utf-8", "surrogateescape")  # as _decode
        return _decode(self._data.cstring(str_off + index, str_off + str_size, what))

    def _parse_verneeds(self) -> tuple[VersionNeed, ...]:
        # Kept only once parsed: a broken table raises again on each use.
        self._needs = self._version_table(DT_VERNEED, DT_VERNEEDNUM, self._parse_verneed)
        return self._needs

    def _parse_verdefs(self) -> tuple[str, ...]:
        self._defs = self._version_table(DT_VERDEF, DT_VERDEFNUM, self._parse_verdef)
        return self._defs

    def _version_table(
        self, tag: int, num_tag: int, parse: Callable[[_Data, int, int, _StringFn], tuple[T, ...]]
    ) -> tuple[T, ...]:
        """The version table ``tag`` points at (``num_tag`` entries), parsed; () without one."""
        vaddr = self._first_value(tag)
        if vaddr is None:
            return ()
        count = self._first_value(num_tag)
        count = MAX_VERSION_ENTRIES if count is None else count
        return parse(self._data, vaddr, count, self._string)

    def _table_offset(self, data: _Data, vaddr: int, what: str) -> tuple[int, int]:
        where = self.vaddr_to_offset(vaddr)
        if where is None:
            raise CorruptELFError(f"{what} {vaddr:#x} is not in any loaded segment", data.name)
        return where

    def _parse_verneed(
        self, data: _Data, vaddr: int, count: int, string: _StringFn
    ) -> tuple[VersionNeed, ...]:
        # LSB "Version Needed Section": Elf_Verneed {u16 version, u16 cnt, u32 file, u32 aux,
        # u32 next} followed (via aux/next offsets) by Elf_Vernaux {u32 hash, u16 flags,
        # u16 other, u32 name, u32 next}; both 16 bytes in ELF32 and ELF64. The offsets are
        # unsigned and 0 ends a chain, so a chain only moves forward: it cannot loop, and the
        # bounds checks end it within the segment.
        base, room = self._table_offset(data, vaddr, "DT_VERNEED")
        end = base + room
        window = _window(data, base, room, min(count * _VERNEED_WINDOW, _VERSION_WINDOW))
        size = len(window)
        verneed, vernaux = self._layout.verneed, self._layout.vernaux
        unpack_need, unpack_aux = verneed.unpack_from, vernaux.unpack_from
        needs = []
        budget = MAX_VERSION_ENTRIES
        offset = base
        for _ in range(min(count, MAX_VERSION_ENTRIES)):
            if offset + 16 > end:
                raise CorruptELFError(f"DT_VERNEED chain is broken at {offset:#x}", data.name)
            if offset - base + 16 <= size:
                _ver, cnt, vn_file, vn_aux, vn_next = unpack_need(window, offset - base)
            else:
                _ver, cnt, vn_file, vn_aux, vn_next = _entry(
                    data, window, base, verneed, offset, "Verneed"
                )
            names = []
            aux = offset + vn_aux
            for _ in range(cnt):
                budget -= 1
                if budget < 0 or aux + 16 > end:
                    raise CorruptELFError(f"DT_VERNEED aux chain is broken at {aux:#x}", data.name)
                if aux - base + 16 <= size:
                    _hash, _flags, _other, name, nxt = unpack_aux(window, aux - base)
                else:
                    _hash, _flags, _other, name, nxt = _entry(
                        data, window, base, vernaux, aux, "Vernaux"
                    )
                names.append(string(name, "Vernaux"))
                if nxt == 0:
                    break
                aux += nxt
            needs.append(VersionNeed(string(vn_file, "Verneed file"), tuple(names)))
            if vn_next == 0:
                break
            offset += vn_next
        return tuple(needs)

    def _parse_verdef(
        self, data: _Data, vaddr: int, count: int, string: _StringFn
    ) -> tuple[str, ...]:
        # LSB "Version Definition Section": Elf_Verdef {u16 version, u16 flags, u16 ndx,
        # u16 cnt, u32 hash, u32 aux, u32 next} (20 bytes); its first Elf_Verdaux {u32 name,
        # u32 next} names the version. The VER_FLG_BASE entry names the file itself. As in
        # DT_VERNEED, the chain only moves forward.
        base, room = self._table_offset(data, vaddr, "DT_VERDEF")
        end = base + room
        window = _window(data, base, room, min(count * _VERDEF_WINDOW, _VERSION_WINDOW))
        size = len(window)
        verdef, u32 = self._layout.verdef, self._layout.u32
        unpack_verdef, unpack_u32 = verdef.unpack_from, u32.unpack_from
        names = []
        offset = base
        for _ in range(min(count, MAX_VERSION_ENTRIES)):
            if offset + 20 > end:
                raise CorruptELFError(f"DT_VERDEF chain is broken at {offset:#x}", data.name)
            if offset - base + 20 <= size:
                _ver, _flags, _ndx, cnt, _hash, vd_aux, vd_next = unpack_verdef(
                    window, offset - base
                )
            else:
                _ver, _flags, _ndx, cnt, _hash, vd_aux, vd_next = _entry(
                    data, window, base, verdef, offset, "Verdef"
                )
            if cnt:
                aux = offset + vd_aux
                if aux + 8 > end:
                    raise CorruptELFError(f"DT_VERDEF aux is broken at {aux:#x}", data.name)
                if aux - base + 4 <= size:
                    (name,) = unpack_u32(window, aux - base)
                else:
                    (name,) = _entry(data, window, base, u32, aux, "Verdaux")
                names.append(string(name, "Verdaux"))
            if vd_next == 0:
                break
            offset += vd_next
        return tuple(names)

    def _parse_notes(self) -> tuple[Note, ...]:
        data = self._data
        notes: list[Note] = []
        for offset, filesz, align in self._note_segments():
            raw = data.read(offset, filesz, "PT_NOTE")
            # gABI "Note Section": namesz, descsz, type as 4-byte words, then name and desc,
            # each starting at a multiple of the alignment from the note's start: 4, or 8 in
            # segments aligned to 8 (GNU property notes in ELF64, as binutils and glibc do).
            mask = 7 if align == 8 else 3
            unpack, make, size, pos = self._layout.u32x3.unpack_from, Note._make, len(raw), 0
            while pos + 12 <= size:
                if len(notes) >= MAX_NOTES:
                    raise CorruptELFError(f"more than {MAX_NOTES} notes", data.name)
                namesz, descsz, ntype = unpack(raw, pos)
                desc_at = pos + ((12 + namesz + mask) & ~mask)
                if desc_at + descsz > size:
                    raise CorruptELFError(
                        f"a note at {offset + pos:#x} overruns its segment", data.name
                    )
                name = raw[pos + 12 : pos + 12 + namesz].split(b"\0", 1)[0]
                notes.append(make((_decode(name), ntype, raw[desc_at : desc_at + descsz])))
                pos = desc_at + ((descsz + mask) & ~mask)
        self._notes = tuple(notes)
        return self._notes


def _string_table(data: _Data, offset: int, size: int) -> bytes:
    """The dynamic string table's bytes, read whole: through the block cache up to
    :data:`LAZY_STRING_TABLE` (often blocks already read; a byte source sees the same ``read``
    calls whatever the block size), else in one read past the cache (no copy per block).
    Empty when a byte source holds only parts of it: its strings are then read one by one."""
    if size <= LAZY_STRING_TABLE:
        return data.read(offset, size, "DT_STRTAB")
    raw = data.read_uncached(offset, size)
    return raw if len(raw) == size else b""


def _window(data: _Data, base: int, room: int, size: int) -> bytes:
    """The first ``size`` bytes of a version table (fewer when the segment or the file ends
    first), read in one piece: its entries and their aux entries follow one another, next to
    the string table (so mostly in blocks already read). Its entries past them are read one
    by one, as before."""
    size = min(room, data.size - base, size)
    return data.read(base, size, "version table") if size > 0 else b""


def _entry(
    data: _Data, window: bytes, base: int, fmt: struct.Struct, offset: int, what: str
) -> tuple[int, ...]:
    """The record ``fmt`` at ``offset``: from ``window`` (read at ``base``) when it lies in it,
    else read from the file (which names ``what`` when the file does not hold it)."""
    at = offset - base
    if at >= 0 and at + fmt.size <= len(window):
        return fmt.unpack_from(window, at)
    return fmt.unpack(data.read(offset, fmt.size, what))


def _uleb128(raw: bytes, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while pos < end and shift < 64:
        byte = raw[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise ValueError("ULEB128 runs past its subsection")


def arm_cpu_arch_tag(raw: bytes, e: str = "<") -> Optional[int]:
    """``Tag_CPU_arch`` (tag 6) of the file-scope ``aeabi`` attributes in the bytes of an
    ``.ARM.attributes`` section, or None. Format (ARM IHI 0045): ``'A'``, then subsections
    {u32 length, vendor NTBS, then {u8 scope tag, u32 size, attributes}}; an attribute is a
    ULEB128 tag and a value: an NTBS for tags 4, 5, 67 and odd tags above 32 (tag 32 has
    both), a ULEB128 otherwise."""
    if not raw or raw[0] != 0x41:
        return None
    pos = 1
    try:
        while pos + 4 <= len(raw):
            (length,) = struct.unpack_from(e + "I", raw, pos)
            end = min(pos + length, len(raw))
            if length < 5:
                return None
            nul = raw.find(b"\0", pos + 4, end)
            if nul < 0:
                return None
            if raw[pos + 4 : nul] == b"aeabi":
                sub = nul + 1
                while sub + 5 <= end:
                    scope = raw[sub]
                    (sub_size,) = struct.unpack_from(e + "I", raw, sub + 1)
                    sub_end = min(sub + max(sub_size, 5), end)
                    if scope == 1:  # Tag_File
                        return _cpu_arch_in(raw, sub + 5, sub_end)
                    sub = sub_end
            pos = end
    except (ValueError, struct.error):
        return None
    return None


def _cpu_arch_in(raw: bytes, pos: int, end: int) -> Optional[int]:
    while pos < end:
        tag, pos = _uleb128(raw, pos, end)
        if tag == 6:
            return _uleb128(raw, pos, end)[0]
        if tag == 32:  # Tag_compatibility: ULEB128 flag, then an NTBS
            pos = _uleb128(raw, pos, end)[1]
        if tag in (4, 5, 32, 67) or (tag > 32 and tag % 2):
            nul = raw.find(b"\0", pos, end)
            if nul < 0:
                return None
            pos = nul + 1
        else:
            pos = _uleb128(raw, pos, end)[1]
    return None


_SHT_NOBITS = 8
_MAX_SECTION_NAMES = 64 * 1024  # .shstrtab is a few hundred bytes


def vaddr_to_offset_of(
    phdrs: list[tuple[int, int, int, int, int, int, int]], vaddr: int
) -> Optional[tuple[int, int]]:
    """:meth:`ELFFile.vaddr_to_offset` in a file with these program headers (in
    :class:`ProgramHeader`'s field order): the first ``PT_LOAD`` that maps ``vaddr`` from the
    file."""
    for p_type, _flags, offset, start, filesz, _memsz, _align in phdrs:
        if p_type == PT_LOAD and start <= vaddr < start + filesz:
            delta = vaddr - start
            return offset + delta, filesz - delta
    return None


def dt_null_at(raw: bytes, size: int, little_endian: bool) -> int:
    """Where the first ``DT_NULL`` entry starts in raw dynamic entries of ``size`` bytes
    each, or -1. Found in C: the tags' low-order bytes (one per entry, a strided slice) are
    searched for a zero, and each hit is checked whole (a tag's low byte is zero only for
    DT_NULL among the gABI's and GNU's tags, so there is about one hit)."""
    width = size // 2
    low = raw[0 if little_endian else width - 1 :: size]
    zero = bytes(width)
    at = low.find(b"\0")
    while at >= 0:
        if raw[at * size : at * size + width] == zero:
            return at * size
        at = low.find(b"\0", at + 1)
    return -1


def dynamic_tag_lists(raw: bytes, words: str, size: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The tags (unsigned) and the values of raw dynamic entries of ``size`` bytes each,
    unpacked as one run of words (``words``: a :class:`_Layout`'s ``words``; no tuple per
    entry)."""
    unpacked = struct.unpack(words % (len(raw) * 2 // size), raw)
    return unpacked[0::2], unpacked[1::2]


def readonly_ranges_of(
    phdrs: list[tuple[int, int, int, int, int, int, int]], size: int, code: bool
) -> list[tuple[int, int]]:
    """:meth:`ELFFile.readonly_ranges` of a file of ``size`` bytes with these program headers
    (in :class:`ProgramHeader`'s field order)."""
    ranges = []
    unwanted = PF_W if code else PF_W | PF_X
    for p_type, flags, offset, _vaddr, filesz, _memsz, _align in phdrs:
        if p_type == PT_LOAD and flags & PF_R and not flags & unwanted and filesz:
            start = offset if offset < size else size  # clipped to the file (no min(): hot)
            end = offset + filesz if offset + filesz < size else size
            if end > start:
                ranges.append((start, end - start))
    return ranges


def readonly_section(elf: ELFFile, name: bytes) -> Optional[tuple[int, int]]:
    """``(start, end)`` in the file of the first section called ``name`` (gABI "Sections":
    ``sh_name`` indexes the section name table ``e_shstrndx``), when its bytes lie inside one
    of :meth:`ELFFile.readonly_ranges`; None when the file has no section headers (they are
    optional and may be stripped), no such section, or headers that do not fit the file.
    Reads at most MAX_SECTIONS headers and _MAX_SECTION_NAMES bytes of names. Needs the file
    open, or bytes input."""
    size = 64 if elf.elf_class == 64 else 40
    shoff, count, names_at = elf._shoff, elf._shnum, elf._shstrndx
    if not shoff or elf._shentsize != size or not names_at < count <= MAX_SECTIONS:
        return None
    table = elf.read_range(shoff, shoff + count * size)
    if len(table) != count * size:
        return None
    fmt = elf._layout.shdr
    _n, _t, _f, _a, str_off, str_size = fmt.unpack_from(table, names_at * size)
    str_size = min(str_size, _MAX_SECTION_NAMES)
    strtab = elf.read_range(str_off, str_off + str_size)
    if len(strtab) != str_size:  # past the end, or a byte source holds only parts of it
        return None
    wanted = name + b"\0"
    for sh_name, sh_type, _flags, _addr, offset, sh_size in fmt.iter_unpack(table):
        if sh_type == _SHT_NOBITS or not strtab.startswith(wanted, sh_name):
            continue
        for start, room in elf.readonly_ranges():
            if start <= offset and offset + sh_size <= start + room:
                return offset, offset + sh_size
        return None
    return None


def _refuse(data: _Data, why: str) -> NoReturn:
    raise CorruptELFError(f"{why}; execve refuses it (fs/binfmt_elf.c)", data.name)


def _refuse_load(data: _Data, ph: tuple[int, ...]) -> NoReturn:
    # load_elf_binary's PT_LOAD rules, in its order.
    _type, _flags, _offset, vaddr, filesz, memsz, _align = ph
    if filesz > memsz:
        _refuse(data, f"a PT_LOAD has p_filesz {filesz:#x} > p_memsz {memsz:#x}")
    _refuse(data, f"a PT_LOAD ends past the address space ({vaddr:#x})")


def parse_glibc_version_name(name: str) -> Optional[tuple[int, ...]]:
    """``"GLIBC_2.17"`` -> ``(2, 17)``; anything else (``GLIBC_PRIVATE``, ``GCC_3.0``) -> None."""
    if not name.startswith("GLIBC_"):
        return None
    parts = name[6:].split(".")
    if not 2 <= len(parts) <= 3 or not all(
        p.isascii() and p.isdigit() and len(p) <= 6 for p in parts
    ):
        return None
    return tuple(int(p) for p in parts)


def read_elf(source: PathOrBytes, *, name: Optional[str] = None) -> ELFFile:
    """Parse an ELF file from a path, or from its bytes (``bytes``/``bytearray``/
    ``memoryview``; ``name`` is then used in messages). The file is closed on return.

    Raises :class:`~libcprobe.FileAccessError` when the path cannot be read,
    :class:`~libcprobe.NotELFError`, :class:`~libcprobe.TruncatedELFError` or
    :class:`~libcprobe.CorruptELFError` when its content is not a usable ELF file, and
    :class:`~libcprobe.ReadLimitError` past :data:`MAX_BYTES_PER_FILE`.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        mem = bytes(source)
        return ELFFile(_Data(name or "<bytes>", len(mem), None, mem))
    with open_elf(source) as elf:
        return elf


def open_elf(path: Union[str, os.PathLike[str]], *, lazy: bool = False) -> _OpenELF:
    """Like :func:`read_elf` for a path, but the file stays open inside the ``with`` block,
    so :meth:`ELFFile.readonly_data` can read more of it. With ``lazy`` the version tables
    and notes are parsed on first use, which must come inside the block (detection reads
    them only for libc files and static programs)."""
    return _OpenELF(path, lazy)


class _OpenELF:
    # What `with open_elf(path) as elf:` enters: a class, not contextlib.contextmanager, which
    # would load contextlib (and collections, functools) on detect()'s path.
    __slots__ = ("_data", "_lazy", "_path")

    def __init__(self, path: Union[str, os.PathLike[str]], lazy: bool = False) -> None:
        self._path = path
        self._lazy = lazy
        self._data: Optional[_Data] = None

    def __enter__(self) -> ELFFile:
        data = self._data = _open_data(os.fspath(self._path))
        try:
            return ELFFile(data, lazy=self._lazy)
        except BaseException:
            data.close()
            raise

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if self._data is not None:
            self._data.close()


def _open_data(path: str) -> _Data:
    fd, size = _open_regular(path)
    return _Data(path, size, fd, None)


def _describe_os_error(exc: OSError, path: str) -> str:
    if exc.errno == _errno.ENOENT:
        if os.path.islink(path):
            return "dangling symbolic link"
        return "no such file"
    if exc.errno == _errno.EACCES:
        return "permission denied"
    if exc.errno == _errno.EISDIR:
        return "cannot read as ELF: a directory"
    if exc.errno == _errno.ELOOP:
        return "too many levels of symbolic links"
    return exc.strerror or str(exc)


# -- the reader's interface for other layers ---------------------------------------------
# What the audit side (wheel members read in passes) and root access (files opened through a
# directory descriptor) need, so that nothing outside this module touches _Data or the
# _parse_* steps.


class ByteSource:
    """The byte-source protocol: the bytes of one file that are not a path or a buffer (a
    wheel member decompressed in passes). Subclass it and set ``name`` (used in messages) and
    ``size`` (the file's length); :func:`read_elf_source` and :func:`read_program_headers`
    parse it.

    The reader calls :meth:`read` only with ``0 <= offset`` and ``offset + size <=
    self.size`` (it raises :class:`~libcprobe.TruncatedELFError` itself for anything else),
    and :meth:`scan` for string scans of read-only segments. An exception a source raises
    propagates unchanged, so a source may raise its own to ask its caller for more bytes.
    """

    __slots__ = ("name", "size")

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = size

    def read(self, offset: int, size: int) -> bytes:
        """Exactly ``size`` bytes at ``offset``."""
        raise NotImplementedError

    def scan(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``offset`` for a string scan (already clipped to the
        file). The default is :meth:`read`; a source that holds only parts of the file may
        return just the parts it holds, joined."""
        return self.read(offset, size)


class _SourceData(_Data):
    """A :class:`ByteSource` seen as the reader's bounded data."""

    __slots__ = ("_source",)
    combined_reads = False

    def __init__(self, source: ByteSource) -> None:
        super().__init__(source.name, source.size, None, b"")
        self._source = source

    def read(self, offset: int, size: int, what: str) -> bytes:
        if offset < 0 or size < 0 or offset + size > self.size:
            return super().read(offset, size, what)  # raises TruncatedELFError
        chunk = self._source.read(offset, size)
        if len(chunk) != size:
            raise TruncatedELFError(f"{what} at offset {offset:#x} could not be read", self.name)
        return chunk

    def read_uncached(self, offset: int, size: int) -> bytes:
        if offset < 0 or offset >= self.size or size <= 0:
            return b""
        return self._source.scan(offset, min(size, self.size - offset))

    def whole(self, offset: int, size: int) -> Optional[bytes]:
        return None  # the source sees the reads the reader always made


def read_elf_source(source: ByteSource) -> ELFFile:
    """Parse an ELF file from a :class:`ByteSource`; raises as :func:`read_elf` does for
    bytes (and whatever the source raises)."""
    return ELFFile(_SourceData(source))


def read_program_headers(source: ByteSource) -> tuple[ProgramHeader, ...]:
    """Only the file header and the program header table of a :class:`ByteSource` (none of
    the loadability checks or segments :func:`read_elf_source` reads): where the segments
    are, to fetch them before a full parse. Raises as :func:`read_elf_source`."""
    data = _SourceData(source)
    elf = ELFFile.__new__(ELFFile)
    elf._parse_header(data)
    elf._parse_program_headers(data)
    return elf.program_headers


def open_regular_file(path: str, what: str = "ELF") -> int:
    """A read-only descriptor (close-on-exec, non-blocking) of the regular file at ``path``,
    which the caller closes. Anything else is never opened (opening a device node, a FIFO
    can have side effects or block): :class:`~libcprobe.FileAccessError` saying what it is
    (``"cannot read as <what>: a directory"``), or why it cannot be opened."""
    return _open_regular(path, what)[0]


_S_IFMT = 0o170000  # stat.S_ISREG(mode) is (mode & S_IFMT) == S_IFREG (POSIX <sys/stat.h>)
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)


def _open_regular(path: str, what: str = "ELF") -> tuple[int, int]:
    # open_regular_file, and the file's size (from the fstat that checks it).
    try:
        # stat first: only a regular file is ever opened; fstat below checks it still is one.
        mode = os.stat(path).st_mode
        if (mode & _S_IFMT) != stat.S_IFREG:
            check_regular_file(mode, path, what)  # raises
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise FileAccessError(_describe_os_error(exc, path), path, exc.errno) from None
    except ValueError:  # an embedded NUL byte: no file can have that name
        raise FileAccessError("invalid path: it contains a NUL byte", repr(path)) from None
    try:
        st = os.fstat(fd)
        if (st.st_mode & _S_IFMT) != stat.S_IFREG:
            check_regular_file(st.st_mode, path, what)  # raises
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def check_regular_file(mode: int, path: str, what: str = "ELF") -> None:
    """Raise :class:`~libcprobe.FileAccessError` (``"cannot read as <what>: a directory"``,
    ``"... not a regular file"``) unless ``mode`` (an ``st_mode``) is a regular file's."""
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise FileAccessError(f"cannot read as {what}: {kind}", path)


def open_elf_fd(fd: int, name: str, *, lazy: bool = False) -> _OpenELF:
    """Like :func:`open_elf` for a file already opened (a descriptor of a regular file,
    e.g. resolved inside a root): ``with open_elf_fd(fd, name) as elf``. The descriptor
    belongs to it from the call on and is closed when the block ends, or when entering fails
    (:class:`~libcprobe.FileAccessError` for a descriptor that is not a regular file).
    ``lazy`` as for :func:`open_elf`."""
    return _OpenFd(fd, name, lazy)


class _OpenFd(_OpenELF):
    __slots__ = ("_fd",)

    def __init__(self, fd: int, name: str, lazy: bool = False) -> None:
        super().__init__(name, lazy)
        self._fd = fd

    def __enter__(self) -> ELFFile:
        name = os.fspath(self._path)
        try:
            st = os.fstat(self._fd)
            if (st.st_mode & _S_IFMT) != stat.S_IFREG:
                check_regular_file(st.st_mode, name)  # raises
        except OSError as exc:
            os.close(self._fd)
            raise FileAccessError(_describe_os_error(exc, name), name, exc.errno) from None
        except BaseException:
            os.close(self._fd)
            raise
        data = self._data = _Data(name, st.st_size, self._fd, None)
        try:
            return ELFFile(data, lazy=self._lazy)
        except BaseException:
            data.close()
            raise
