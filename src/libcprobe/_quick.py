"""The running process on musl, read the short way: what :func:`._process.detect_running`
answers for the commonest musl case, with a dozen system calls and none of the general
reader's machinery (no block cache, no records, no classification pass over every rule).

The case: ``/proc/self/exe`` is a dynamic program of this process's kind whose ``PT_INTERP``
names a musl loader, and that loader is musl's ``libc.so`` with the ``musl libc`` usage text
and a version by it (every musl in tests/fixtures: Debian's on nine architectures, this
host's). Each file is read as the general reader reads it, its checks (the kernel's
included) made the same way: its first 4 KiB in one read (the ELF header, the program
headers, ``PT_INTERP``), its notes, its dynamic section and the names in it. The version is
found by the very search :mod:`._classify` makes (:func:`~._classify.musl_version_near_marker`)
and the evidence is worded by the same functions.

:func:`quick_musl` answers only where every fact the general routine would consult is here
and of the shape it expects; anything else (a check the general reader would fail, a
``DT_SONAME`` on the program, an Android note, program headers or ``PT_INTERP`` beyond the
first read, a name longer than 256 bytes, no version by the usage text, a read that fails or
comes back short) gives None, and the general routine
answers, exactly as it did before. ``tests/test_quick.py`` holds the two to the same answer,
evidence included, on every real musl loader here behind a program built for it, and on
damaged copies of both.
"""

from __future__ import annotations

import os
import stat

from ._arch import arch_name
from ._classify import (
    family_of_loader_name,
    loader_evidence,
    musl_libc_evidence,
    musl_version_near_marker,
)
from ._elf import (
    _LAYOUTS,
    _OPEN_FLAGS,
    _PN_XNUM,
    _S_IFMT,
    _STRING_TAGS,
    DT_NEEDED,
    DT_RPATH,
    DT_RUNPATH,
    DT_SONAME,
    DT_STRSZ,
    DT_STRTAB,
    ET_DYN,
    ET_EXEC,
    MAX_DYNAMIC_ENTRIES,
    MAX_NOTE_SEGMENT,
    MAX_PROGRAM_HEADERS,
    MAX_STRING,
    PT_DYNAMIC,
    PT_INTERP,
    PT_LOAD,
    PT_NOTE,
    _layout,
    _open_regular,
    dt_null_at,
    dynamic_tag_lists,
    readonly_ranges_of,
    vaddr_to_offset_of,
)
from ._errors import LibcprobeError
from ._libc_strings import PartialRead
from ._model import EvidenceLog, Family, LibcInfo
from ._program import arch_evidence

TYPE_CHECKING = False  # typing and collections.abc only for type checkers: see _records.py
if TYPE_CHECKING:  # pragma: no cover
    from typing import Callable, Optional

    from ._libc_strings import Found

    #: (elf_class, little_endian, arch) -> whether the program cannot be this process.
    Foreign = Callable[[int, bool, Optional[str]], bool]

__all__ = ["HEAD", "quick_musl"]

#: The first read of each file: the ELF header, the program headers, PT_INTERP and the notes
#: of every program and loader in tests/fixtures lie in it.
HEAD = 4096
_NAMED = frozenset((DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH))
#: How much of the string table is read for one name, to its NUL (most names are short).
_NAME_READ = 256


class _Bail(Exception):
    """The file is not of the shape read here: the general routine answers."""


class _Head:
    """What the general reader would make of one file's first :data:`HEAD` bytes and its
    dynamic section, for a file of the shape read here (else :class:`_Bail`)."""

    __slots__ = ("elf_class", "flags", "interp", "little", "machine", "names", "phdrs", "type")

    def __init__(self, fd: int, size: int) -> None:
        head = _pread(fd, HEAD if size > HEAD else size, 0)
        if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] not in (1, 2):
            raise _Bail
        if head[5] not in (1, 2):
            raise _Bail
        lay = _LAYOUTS.get(head[4] * 4 + head[5]) or _layout(head[4], head[5])
        self.elf_class, self.little = 64 if head[4] == 2 else 32, head[5] == 1
        fields = lay.ehdr.unpack_from(head, 16)
        self.type, self.machine, _v, _entry, phoff, _sh, self.flags = fields[:7]
        phentsize, phnum = fields[8], fields[9]
        expected = 56 if self.elf_class == 64 else 32
        # (ARM's build attributes, which the general reader reads too, decide nothing here
        # and fail nothing: a missing or bad one is None.)
        if self.type not in (ET_EXEC, ET_DYN) or phnum == _PN_XNUM:
            raise _Bail
        if phentsize != expected or not 0 < phnum <= MAX_PROGRAM_HEADERS:
            raise _Bail
        end = phoff + phnum * expected
        if end > len(head):  # (so the table is within the kernel's 64 KiB, too)
            raise _Bail
        rows = lay.phdr.iter_unpack(head[phoff:end])
        if self.elf_class == 64:
            self.phdrs = list(rows)
        else:
            self.phdrs = [(t, f, o, v, fs, ms, a) for t, o, v, fs, ms, f, a in rows]
        self.interp, dynamic = self._segments(head, fd, size)
        self.names = self._dynamic(fd, size, lay.words, dynamic) if dynamic else {}

    def _segments(
        self, head: bytes, fd: int, size: int
    ) -> tuple[Optional[str], Optional[tuple[int, ...]]]:
        # _scan_segments' kernel checks, the first PT_INTERP and PT_DYNAMIC, and the notes'
        # bounds (MAX_NOTE_SEGMENT) and Android's name in them (classify reads its note).
        interp: Optional[str] = None
        dynamic = None
        limit, notes, seen = 1 << self.elf_class, 0, set()
        for ph in self.phdrs:
            p_type, offset, filesz = ph[0], ph[2], ph[4]
            if p_type == PT_LOAD and (filesz > ph[5] or ph[3] + ph[5] > limit):
                raise _Bail
            if p_type == PT_INTERP:
                if interp is not None or not 2 <= filesz <= MAX_STRING:
                    raise _Bail
                raw = head[offset : offset + filesz]
                if offset + filesz > len(head) or raw[-1] != 0:
                    raise _Bail
                interp = raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            elif p_type == PT_DYNAMIC and dynamic is None:
                dynamic = ph
            elif p_type == PT_NOTE and filesz and (offset, filesz) not in seen:
                seen.add((offset, filesz))
                notes += filesz
                if notes > MAX_NOTE_SEGMENT or offset + filesz > size:
                    raise _Bail
                inside = offset + filesz <= len(head)
                note = head[offset : offset + filesz] if inside else _pread(fd, filesz, offset)
                if b"Android" in note:
                    raise _Bail
        return interp, dynamic

    def _dynamic(
        self, fd: int, size: int, words: str, segment: tuple[int, ...]
    ) -> dict[int, list[str]]:
        # _parse_dynamic's reading: the entries to the first DT_NULL, and the names each
        # string tag gives (read to their NUL within the bounds the general reader sets).
        offset, filesz = segment[2], segment[4]
        entry = 16 if self.elf_class == 64 else 8
        count = min(filesz // entry, MAX_DYNAMIC_ENTRIES)
        if not count or offset + count * entry > size:
            raise _Bail
        raw = _pread(fd, count * entry, offset)
        end = dt_null_at(raw, entry, self.little)
        if end < 0 and filesz // entry > MAX_DYNAMIC_ENTRIES:
            raise _Bail
        tags, values = dynamic_tag_lists(raw if end < 0 else raw[:end], words, entry)
        present = _STRING_TAGS.intersection(tags)
        if not present:
            return {}
        if DT_STRTAB not in tags:
            raise _Bail
        where = vaddr_to_offset_of(self.phdrs, values[tags.index(DT_STRTAB)])
        if where is None:
            raise _Bail
        str_off, room = where
        str_size = values[tags.index(DT_STRSZ)] if DT_STRSZ in tags else room
        bound = str_off + (str_size if str_size < room else room)
        # Every DT_NEEDED; the first DT_SONAME, DT_RPATH and DT_RUNPATH (as _names does).
        names: dict[int, list[str]] = {}
        for tag in present.intersection(_NAMED):
            at, found = tags.index(tag), []
            for _ in range(tags.count(tag) if tag == DT_NEEDED else 1):
                at = tags.index(tag, at)
                found.append(_name(fd, str_off + values[at], bound, size))
                at += 1
            names[tag] = found
        return names

    @property
    def arch(self) -> Optional[str]:
        return arch_name(self.machine, self.elf_class, self.little, self.flags)


def _pread(fd: int, size: int, offset: int) -> bytes:
    chunk = os.pread(fd, size, offset)
    if len(chunk) != size:
        raise _Bail
    return chunk


def _name(fd: int, at: int, bound: int, size: int) -> str:
    # _string's rule: the NUL must come before the table's end, the file's end and
    # MAX_STRING + 1 bytes; a name longer than _NAME_READ is left to the general reader.
    end = min(bound, size, at + MAX_STRING + 1, at + _NAME_READ)
    if at >= end:
        raise _Bail
    raw = _pread(fd, end - at, at)
    nul = raw.find(b"\0")
    if nul < 0:
        raise _Bail
    return raw[:nul].decode("utf-8", "surrogateescape")


def quick_musl(
    path: str, shown: Optional[str], ev: EvidenceLog, foreign: Foreign
) -> Optional[LibcInfo]:
    """The answer of the general routine for the running program at ``path`` (``shown``:
    its name; ``ev``: the evidence so far, which this extends only when it answers), when
    the program and its loader are of the shape read here; else None. ``foreign`` is
    ``_process``'s test of whether a program can be this process."""
    try:
        found = _read(path, foreign)
    except (_Bail, OSError, ValueError, LibcprobeError, PartialRead):
        return None
    return None if found is None else _answer(path, shown, ev, *found)


def _answer(
    path: str, shown: Optional[str], ev: EvidenceLog, program: _Head, interp: str, version: Found
) -> LibcInfo:
    """The general routine's answer for this program, its loader and the version found: its
    evidence in its order, worded by the same functions."""
    arch = program.arch
    arch_evidence(ev, arch, program.elf_class, program.little, program.machine, path)
    ev.interpreter(interp, "elf-interp", path, "PT_INTERP")
    loader_evidence(ev, Family.MUSL, interp, path)
    musl_libc_evidence(ev, interp, version)
    return LibcInfo(
        family=Family.MUSL,
        version=version.version,
        linkage="dynamic",
        arch=arch,
        interpreter=interp,
        library=interp,
        can_load_extensions=True,
        executable=shown,
        running=True,
        evidence=ev.items,
    )


def _read(path: str, foreign: Foreign) -> Optional[tuple[_Head, str, Found]]:
    fd = os.open(path, _OPEN_FLAGS)
    try:
        st = os.fstat(fd)
        if st.st_mode & _S_IFMT != stat.S_IFREG:
            return None
        program = _Head(fd, st.st_size)
    finally:
        os.close(fd)
    interp, arch = program.interp, program.arch
    if interp is None or DT_SONAME in program.names or arch is None:
        return None
    if foreign(program.elf_class, program.little, arch):
        return None
    if family_of_loader_name(interp) is not Family.MUSL:
        return None
    fd, size = _open_regular(interp)
    try:
        found = _loader(fd, size, (program.machine, program.elf_class))
    finally:
        os.close(fd)
    return None if found is None else (program, interp, found)


def _loader(fd: int, size: int, abi: tuple[int, int]) -> Optional[Found]:
    """The version of the loader open at ``fd`` when it is musl's libc.so for a program of
    ``abi`` (e_machine, class), by _classify_as_libc's musl rule and the same search."""
    lib = _Head(fd, size)
    soname = (lib.names.get(DT_SONAME) or [""])[0]
    if soname and not soname.startswith("libc.musl-"):
        return None  # libc.so (bionic's too) and the other families' names: the general rules
    if lib.type != ET_DYN or lib.interp is not None or DT_NEEDED in lib.names:
        return None
    if (lib.machine, lib.elf_class) != abi:
        return None

    def read(a: int, b: int) -> bytes:
        return _pread(fd, b - a, a)

    def ranges(code: bool) -> list[tuple[int, int]]:
        return readonly_ranges_of(lib.phdrs, size, code)

    found = musl_version_near_marker(ranges, read)
    # None: no usage text (the general routine's other rules), or no version by it.
    return None if found is None else found[0]
