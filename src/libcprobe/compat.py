"""Drop-in replacements for ``packaging``'s private libc helpers that never execute anything.

``packaging`` (and pip, which vendors it) finds the musl version by *running* the loader named
in the interpreter's ``PT_INTERP`` and parsing what it prints, and falls back to ``ctypes`` for
the glibc version. This module offers the same functions, with the same signatures, return
types and failure values, answered from the bytes of the files instead. Switching is one line::

    # from packaging._musllinux import _get_musl_version
    from libcprobe.compat import _get_musl_version

    # from packaging._manylinux import _glibc_version_string
    from libcprobe.compat import _glibc_version_string

    # from packaging._elffile import ELFFile, ELFInvalid
    from libcprobe.compat import ELFFile, ELFInvalid

What is provided, mirroring ``packaging._elffile``, ``packaging._musllinux`` and
``packaging._manylinux`` (24.x-26.x):

- :class:`ELFFile`, :class:`ELFInvalid` (a :class:`ValueError`), :class:`EIClass`,
  :class:`EIData`, :class:`EMachine`.
- :func:`_get_musl_version` (cached like packaging's: ``_get_musl_version.cache_clear()``),
  :func:`_parse_musl_version`, :class:`_MuslVersion`.
- :func:`_glibc_version_string`, :func:`_glibc_version_string_confstr`,
  :func:`_get_glibc_version` (cached), :func:`_parse_glibc_version`, :class:`_GLibCVersion`;
  :func:`_glibc_version_string_detect` takes the place of ``_glibc_version_string_ctypes``.
- Public spellings: :func:`musl_version`, :func:`glibc_version_string`, :func:`glibc_version`.

Differences from ``packaging``, all deliberate:

- :func:`_get_musl_version` reads the musl loader's version string from its read-only data
  (``libcprobe._classify.classify``) instead of running it. So it also answers for a loader
  of another architecture (a foreign root mounted in place, a cross sysroot), and returns None,
  instead of raising :class:`OSError` from ``subprocess``, when the loader named in
  ``PT_INTERP`` is missing or cannot be executed.
- The glibc fallback after ``os.confstr`` is :func:`libcprobe.detect` (the libc the process
  maps, read from its bytes), not ``ctypes``. ``ctypes`` is never imported: on a static musl
  CPython ``import ctypes`` itself raises :class:`OSError` (its ``PyDLL(None)`` calls
  ``dlopen(NULL)``), which ``packaging`` does not catch. No :class:`OSError` leaves the musl
  and glibc functions (:class:`ELFFile`, like ``packaging``'s, lets the file object's own
  errors through).
- :class:`ELFFile` reads only what ``packaging``'s does (the ELF header, the program headers,
  ``PT_INTERP``) and raises :class:`ELFInvalid` in exactly the same cases, but every read is
  bounded: at most :data:`MAX_PROGRAM_HEADERS` program headers are examined, and a
  ``PT_INTERP`` longer than ``PATH_MAX`` (4096 bytes, which the kernel refuses to run with
  ``ENOEXEC``) gives ``interpreter`` None instead of a read of ``p_filesz`` bytes, however
  large; so does an offset past 2**63, where ``packaging`` raises :class:`OverflowError` from
  ``seek()``. ``interpreter`` is read on first access (like ``packaging``) and then cached.

Why :class:`ELFFile` does not use libcprobe's full reader (``libcprobe._elf.read_elf``):
that reader also parses the dynamic section, symbol versions and notes, and rejects files whose
dynamic section or notes are corrupt, or whose header is cut off after ``e_phnum`` (58 bytes of
an ELF64 file are enough for ``packaging``). Callers of ``ELFFile`` only ask for the header
fields and ``PT_INTERP``, so a full parse could only add failures ``packaging``'s callers do not
expect, never a better answer for these five attributes. The musl and glibc functions, which
need the loader's or libc's contents, do use the full reader.
"""

from __future__ import annotations

import enum
import functools
import os
import re
import stat
import struct
import warnings
from typing import IO, NamedTuple, Optional, Union

from ._elf import ELFMAG, MAX_STRING, PT_INTERP
from ._elf import MAX_PROGRAM_HEADERS as _READER_MAX_PROGRAM_HEADERS

__all__ = [
    "MAX_INTERPRETER",
    "MAX_PROGRAM_HEADERS",
    "EIClass",
    "EIData",
    "ELFFile",
    "ELFInvalid",
    "EMachine",
    "_GLibCVersion",
    "_MuslVersion",
    "_get_glibc_version",
    "_get_musl_version",
    "_glibc_version_string",
    "_glibc_version_string_confstr",
    "_glibc_version_string_detect",
    "_parse_glibc_version",
    "_parse_musl_version",
    "glibc_version",
    "glibc_version_string",
    "musl_version",
]

#: Program headers examined when looking for ``PT_INTERP`` (Linux execs at most 64 KiB of them:
#: 2048 ELF32 or 1170 ELF64 entries): the reader's own bound.
MAX_PROGRAM_HEADERS = _READER_MAX_PROGRAM_HEADERS
#: The longest ``PT_INTERP`` read, in bytes (``PATH_MAX``; Linux refuses longer ones): the
#: reader's bound on any name or path.
MAX_INTERPRETER = MAX_STRING
_MAX_OFFSET = 2**63 - 1  # seek() takes a signed 64-bit offset


# -- packaging._elffile ----------------------------------------------------------------------


class ELFInvalid(ValueError):
    """The data is not an ELF file ``packaging``'s reader (and so this one) accepts."""


class EIClass(enum.IntEnum):
    """``e_ident[EI_CLASS]``: the value of :attr:`ELFFile.capacity`."""

    C32 = 1
    C64 = 2


class EIData(enum.IntEnum):
    """``e_ident[EI_DATA]``: the value of :attr:`ELFFile.encoding`."""

    Lsb = 1
    Msb = 2


class EMachine(enum.IntEnum):
    """The ``e_machine`` values ``packaging`` names."""

    I386 = 3
    S390 = 22
    Arm = 40
    X8664 = 62
    AArch64 = 183
    AArc64 = 183  # packaging < 26 spelled it so: an alias of AArch64


# (capacity, encoding) -> (ELF header after e_ident up to e_phnum, program header,
# indexes of p_type, p_offset and p_filesz in the program header): packaging's table.
_FORMATS: dict[tuple[int, int], tuple[str, str, tuple[int, int, int]]] = {
    (1, 1): ("<HHIIIIIHHH", "<IIIIIIII", (0, 1, 4)),
    (1, 2): (">HHIIIIIHHH", ">IIIIIIII", (0, 1, 4)),
    (2, 1): ("<HHIQQQIHHH", "<IIQQQQQQ", (0, 2, 5)),
    (2, 2): (">HHIQQQIHHH", ">IIQQQQQQ", (0, 2, 5)),
}

_UNREAD = object()


class ELFFile:
    """The ELF header facts ``packaging`` uses, read from a binary file object.

    Like ``packaging._elffile.ELFFile(f)``: reading starts at ``f``'s current position, which
    should be the start of the file; :attr:`interpreter` seeks in ``f``, so ``f`` must stay
    open until it has been read once.

    Attributes: ``capacity`` (1 for ELF32, 2 for ELF64: :class:`EIClass`), ``encoding``
    (1 little-endian, 2 big-endian: :class:`EIData`), ``machine`` (``e_machine``), ``flags``
    (``e_flags``), all plain ints. Raises :class:`ELFInvalid` when the identification or the
    header up to ``e_phnum`` cannot be read, the magic is wrong, or the class or data encoding
    is unknown.
    """

    capacity: int
    encoding: int
    machine: int
    flags: int

    def __init__(self, f: IO[bytes]) -> None:
        self._f = f
        ident = _read_exactly(f, 16)
        if len(ident) < 16:
            raise ELFInvalid("unable to parse identification")
        magic = ident[:4]
        if magic != ELFMAG:
            raise ELFInvalid(f"invalid magic: {magic!r}")
        self.capacity = ident[4]
        self.encoding = ident[5]
        formats = _FORMATS.get((self.capacity, self.encoding))
        if formats is None:
            raise ELFInvalid(
                f"unrecognized capacity ({self.capacity}) or encoding ({self.encoding})"
            )
        e_fmt, self._p_fmt, self._p_idx = formats
        raw = _read_exactly(f, struct.calcsize(e_fmt))
        if len(raw) < struct.calcsize(e_fmt):
            raise ELFInvalid("unable to parse machine and section information")
        fields = struct.unpack(e_fmt, raw)
        self.machine = fields[1]
        self._e_phoff: int = fields[4]
        self.flags = fields[6]
        self._e_phentsize: int = fields[8]
        self._e_phnum: int = fields[9]
        self._interpreter: object = _UNREAD

    def __repr__(self) -> str:
        return (
            f"<ELFFile capacity={self.capacity} encoding={self.encoding} "
            f"machine={self.machine} flags={self.flags:#x}>"
        )

    @property
    def interpreter(self) -> Optional[str]:
        """The path in the first ``PT_INTERP`` program header (NULs stripped), or None."""
        if self._interpreter is _UNREAD:
            self._interpreter = self._read_interpreter()
        return self._interpreter  # type: ignore[return-value]

    def _read_interpreter(self) -> Optional[str]:
        f = self._f
        p_size = struct.calcsize(self._p_fmt)
        type_at, offset_at, size_at = self._p_idx
        for index in range(min(self._e_phnum, MAX_PROGRAM_HEADERS)):
            where = self._e_phoff + self._e_phentsize * index
            if where > _MAX_OFFSET:
                break
            f.seek(where)
            raw = _read_exactly(f, p_size)
            if len(raw) < p_size:
                # Every later header lies at the same offset or further: none can be read.
                break
            header = struct.unpack(self._p_fmt, raw)
            if header[type_at] != PT_INTERP:
                continue
            offset, size = header[offset_at], header[size_at]
            if size > MAX_INTERPRETER or offset > _MAX_OFFSET:
                return None
            f.seek(offset)
            return os.fsdecode(_read_exactly(f, size)).strip("\0")
        return None


def _read_exactly(f: IO[bytes], size: int) -> bytes:
    """Up to ``size`` bytes from ``f``: fewer only at the end of the file."""
    chunks: list[bytes] = []
    left = size
    while left > 0:
        chunk = f.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# -- packaging._musllinux --------------------------------------------------------------------


class _MuslVersion(NamedTuple):
    major: int
    minor: int


def _parse_musl_version(output: str) -> Optional[_MuslVersion]:
    """Parse what musl's loader prints when run (``musl libc (x86_64)\\nVersion 1.2.3``), as
    ``packaging`` does. Kept for parity; :func:`_get_musl_version` does not need it."""
    lines = [n for n in (n.strip() for n in output.splitlines()) if n]
    if len(lines) < 2 or lines[0][:4] != "musl":
        return None
    m = re.match(r"Version (\d+)\.(\d+)", lines[1])
    if not m:
        return None
    return _MuslVersion(major=int(m.group(1)), minor=int(m.group(2)))


@functools.lru_cache
def _get_musl_version(executable: str) -> Optional[_MuslVersion]:
    """The musl version ``executable`` runs on, or None when it is not dynamically linked
    against musl.

    Like ``packaging``: ``executable``'s ``PT_INTERP`` must name a loader with ``musl`` in its
    path. Unlike ``packaging``, the loader is not run: its version string is read from its
    read-only data. None when the loader is missing, unreadable, or not a musl loader whose
    version can be read.
    """
    try:
        # Only a regular file is opened: a FIFO would block, a device could have side effects.
        if not stat.S_ISREG(os.stat(executable).st_mode):
            return None
        with open(executable, "rb") as f:
            ld = ELFFile(f).interpreter
    except (OSError, TypeError, ValueError):
        return None
    if ld is None or "musl" not in ld:
        return None
    return _musl_loader_version(ld)


def _musl_loader_version(loader: str) -> Optional[_MuslVersion]:
    from ._classify import classify
    from ._elf import open_elf
    from ._errors import LibcprobeError
    from ._model import Family

    try:
        with open_elf(loader) as elf:
            found = classify(elf, scan=True)
    except (LibcprobeError, OSError):
        return None
    if found.family is not Family.MUSL or found.libc_version is None:
        return None
    version = found.libc_version.version
    return _MuslVersion(version.major, version.minor)


def musl_version(executable: Union[str, os.PathLike[str]]) -> Optional[_MuslVersion]:
    """Public name of :func:`_get_musl_version` (also accepts a path-like)."""
    return _get_musl_version(os.fspath(executable))


# -- packaging._manylinux --------------------------------------------------------------------


class _GLibCVersion(NamedTuple):
    major: int
    minor: int


def _glibc_version_string_confstr() -> Optional[str]:
    """The version part of ``os.confstr("CS_GNU_LIBC_VERSION")`` (``"glibc 2.17"`` ->
    ``"2.17"``), or None when it is unavailable or malformed: exactly ``packaging``'s."""
    try:
        version_string: Optional[str] = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, OSError, ValueError):
        return None
    if version_string is None:
        return None
    try:
        _, version = version_string.rsplit()
    except (AttributeError, ValueError):
        return None
    return version


def _glibc_version_string_detect() -> Optional[str]:
    """The fallback after ``confstr`` (``packaging`` uses ``ctypes`` here): the glibc version
    :func:`libcprobe.detect` finds for the running interpreter, as ``"2.36"``, or None."""
    from ._detect import detect
    from ._errors import LibcprobeError
    from ._model import Family

    try:
        info = detect()
    except (LibcprobeError, OSError, ValueError):
        return None
    if info.family is not Family.GLIBC or info.version is None:
        return None
    return f"{info.version.major}.{info.version.minor}"


def _glibc_version_string() -> Optional[str]:
    """The running glibc's version string (``"2.36"``), or None when not on glibc."""
    return _glibc_version_string_confstr() or _glibc_version_string_detect()


def _parse_glibc_version(version_str: str) -> _GLibCVersion:
    """``"2.20-2014.11"`` -> ``(2, 20)``; ``(-1, -1)`` with a :class:`RuntimeWarning` when
    there is no ``major.minor``: exactly ``packaging``'s."""
    m = re.match(r"(?P<major>[0-9]+)\.(?P<minor>[0-9]+)", version_str)
    if not m:
        warnings.warn(
            f"Expected glibc version with 2 components major.minor, got: {version_str}",
            RuntimeWarning,
            stacklevel=2,
        )
        return _GLibCVersion(-1, -1)
    return _GLibCVersion(int(m.group("major")), int(m.group("minor")))


@functools.lru_cache
def _get_glibc_version() -> _GLibCVersion:
    """The running glibc's ``(major, minor)``, or ``(-1, -1)`` when not on glibc."""
    version_str = _glibc_version_string()
    if version_str is None:
        return _GLibCVersion(-1, -1)
    return _parse_glibc_version(version_str)


def glibc_version_string() -> Optional[str]:
    """Public name of :func:`_glibc_version_string`."""
    return _glibc_version_string()


def glibc_version() -> _GLibCVersion:
    """Public name of :func:`_get_glibc_version`."""
    return _get_glibc_version()
