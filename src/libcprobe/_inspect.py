"""``libcprobe.inspect()``: the per-file report behind ``libcprobe inspect``."""

from __future__ import annotations

import os
from typing import Any, NamedTuple, Optional, Union

from ._classify import classify
from ._elf import ELFFile, open_elf
from ._errors import LibcprobeError

__all__ = ["FileReport", "inspect", "report_for"]


class FileReport(NamedTuple):
    """What one ELF file is and needs. ``error`` is None, or why the file could not be read as
    ELF (then every other field but ``path`` is None or empty).

    ``family`` is the libc the file is built for or *is*; ``libc_version`` is set only for a
    file that is a libc (a musl loader, glibc's ``libc.so.6`` or ``ld.so``);
    ``glibc_requires`` is the highest ``GLIBC_x.y`` symbol version the file needs.
    """

    path: str
    elf_class: Optional[int] = None
    endian: Optional[str] = None
    arch: Optional[str] = None
    type: Optional[str] = None
    interpreter: Optional[str] = None
    needed: tuple[str, ...] = ()
    soname: Optional[str] = None
    rpath: tuple[str, ...] = ()
    runpath: tuple[str, ...] = ()
    linkage: Optional[str] = None
    family: Optional[str] = None
    glibc_requires: Optional[str] = None
    libc_version: Optional[str] = None
    error: Optional[str] = None

    @property
    def ok(self) -> bool:
        """True when the file was read as ELF."""
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with exactly the fields above (tuples become lists)."""
        out: dict[str, Any] = self._asdict()
        for key in ("needed", "rpath", "runpath"):
            out[key] = list(out[key])
        return out


def report_for(elf: ELFFile) -> FileReport:
    """The report for an already parsed ELF file (read-only data is scanned only where the
    rules need it: a candidate libc, a static file)."""
    found = classify(elf)
    requires = elf.glibc_requires
    return FileReport(
        path=elf.path,
        elf_class=elf.elf_class,
        endian=elf.endian,
        arch=elf.cpu_arch,
        type=elf.type_name,
        interpreter=elf.interpreter,
        needed=elf.needed,
        soname=elf.soname,
        rpath=elf.rpath,
        runpath=elf.runpath,
        linkage=elf.linkage,
        family=found.family.value if found.family is not None else None,
        glibc_requires=".".join(map(str, requires)) if requires else None,
        libc_version=str(found.libc_version.version) if found.libc_version else None,
    )


def inspect(path: Union[str, os.PathLike[str]]) -> FileReport:
    """Read one file and report what it is. Never raises for a bad file: a missing, unreadable,
    non-ELF, truncated or corrupt file gives a report whose ``error`` says what is wrong."""
    name = os.fspath(path)
    try:
        with open_elf(name) as elf:
            return report_for(elf)
    except LibcprobeError as exc:
        return FileReport(path=name, error=exc.reason)
