"""``libcprobe.inspect()``: the per-file report behind ``libcprobe inspect``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, Optional, Union

from .._classify import android_api_level, classify
from .._elf import ELFFile, VersionNeed, open_elf
from .._errors import LibcprobeError
from ._policy import (
    blacklisted_symbols,
    namespace_of,
    owns,
    time64_pattern,
    version_key,
)
from ._symbols import imported_symbols, isa_level

__all__ = ["FileReport", "highest_per_namespace", "inspect", "report_for", "version_facts"]


class FileReport(NamedTuple):
    """What one ELF file is and needs. ``error`` is None, or why the file could not be read as
    ELF (then every other field but ``path`` is None or empty).

    ``family`` is the libc the file is built for or *is*; ``libc_version`` is set only for a
    file that is a libc (a musl loader, glibc's ``libc.so.6`` or ``ld.so``);
    ``glibc_requires`` is the highest ``GLIBC_x.y`` symbol version the file needs from glibc's
    own libraries (``requires["GLIBC"]``).

    ``symbol_versions``: for each library named in the version needs (``vn_file``), the
    version names needed from it, sorted (``(("libc.so.6", ("GLIBC_2.2.5", "GLIBC_2.17")),)``;
    a dict in :meth:`to_dict`). ``requires``: the highest version needed per namespace
    (``(("GLIBC", "2.17"), ("GLIBCXX", "3.4.19"))``; a dict in :meth:`to_dict`), each
    namespace counted only from the library that owns it (``GLIBC`` from glibc's own
    libraries, ``GLIBCXX``/``CXXABI`` from ``libstdc++.so.6``, ``GCC`` from
    ``libgcc_s.so.1``, ...; never ``GLIBC_2.0`` from ``libgcc_s``). ``isa``: the x86 ISA
    level its GNU property note says it needs (``"x86-64-v2"``, ``"x86-64-v3"``,
    ``"x86-64-v4"``), or None. ``policy_symbols``: the undefined symbols it imports that a
    wheel policy rule looks at (a policy's blacklisted symbols; on 32-bit code, musl 1.2's
    64-bit ``time_t`` names such as ``__clock_gettime64``). ``android_api``: the API level
    its Android ident note names (the NDK's minimum API it was built for), or None.
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
    symbol_versions: tuple[tuple[str, tuple[str, ...]], ...] = ()
    requires: tuple[tuple[str, str], ...] = ()
    isa: Optional[str] = None
    policy_symbols: tuple[str, ...] = ()
    android_api: Optional[int] = None
    error: Optional[str] = None

    @property
    def ok(self) -> bool:
        """True when the file was read as ELF."""
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with exactly the fields above (tuples become lists)."""
        out: dict[str, Any] = self._asdict()
        for key in ("needed", "rpath", "runpath", "policy_symbols"):
            out[key] = list(out[key])
        out["symbol_versions"] = {lib: list(names) for lib, names in self.symbol_versions}
        out["requires"] = dict(self.requires)
        return out


def report_for(elf: ELFFile) -> FileReport:
    """The report for an already parsed ELF file (read-only data is scanned only where the
    rules need it: a candidate libc, a static file)."""
    found = classify(elf)
    symbol_versions, requires = version_facts(elf.version_needs)
    glibc = dict(requires).get("GLIBC")
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
        glibc_requires=glibc,
        libc_version=str(found.libc_version.version) if found.libc_version else None,
        symbol_versions=symbol_versions,
        requires=requires,
        isa=isa_level(elf),
        policy_symbols=_policy_symbols(elf),
        android_api=android_api_level(elf),
    )


def version_facts(
    needs: Sequence[VersionNeed],
) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], tuple[tuple[str, str], ...]]:
    """``symbol_versions`` and ``requires`` (see :class:`FileReport`) of version needs."""
    listed = []
    for need in needs:
        names = set(need.names)
        info = _known(names)
        listed.append((need.file, tuple(sorted(names, key=info.__getitem__))))
    return tuple(listed), highest_per_namespace(
        (lib, name) for lib, names in listed for name in names
    )


def highest_per_namespace(needs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The highest numeric version per namespace of ``(library, version name)`` pairs, each
    namespace counted only from the library that owns it; sorted by namespace."""
    best: dict[str, tuple[tuple[int, ...], str]] = {}
    for lib, name in needs:
        namespace, _order, _name, version, key = _INFO.get(name) or _info(name)
        if key is None or not owns(namespace, lib):
            continue
        if namespace not in best or key > best[namespace][0]:
            best[namespace] = (key, version)
    return tuple((ns, best[ns][1]) for ns in sorted(best))


# What a version name says: (namespace, its version's key for sorting (numbers first, then
# the names that are not numbers), the name, the version, version_key(version)). The first
# three order ``symbol_versions``: by namespace, then number, then name.
_Info = tuple[str, tuple[int, ...], str, str, Optional[tuple[int, ...]]]

#: Version names seen: the same few hundred (``GLIBC_2.2.5``, ``GLIBCXX_3.4``) recur in every
#: file. At most _MAX_KNOWN are kept.
_INFO: dict[str, _Info] = {}
_MAX_KNOWN = 4096


def _info(name: str) -> _Info:
    namespace, version = namespace_of(name)
    key = version_key(version)
    found = (namespace, key or (1 << 62,), name, version, key)
    if len(_INFO) < _MAX_KNOWN:
        _INFO[name] = found
    return found


def _known(names: set[str]) -> dict[str, _Info]:
    """:data:`_INFO` holding every name of ``names`` (a dict of their own once it is full)."""
    for name in names:
        if name not in _INFO:
            if len(_INFO) >= _MAX_KNOWN:
                return {n: _INFO.get(n) or _info(n) for n in names}
            _info(name)
    return _INFO


def _policy_symbols(elf: ELFFile) -> tuple[str, ...]:
    # Only the names some policy blacklists from a library this file needs, and on 32-bit
    # code musl 1.2's time64 names, are looked for; the others skip the symbol table.
    names = blacklisted_symbols(elf.needed)
    pattern = time64_pattern() if elf.elf_class == 32 and elf.needed else None
    if not names and pattern is None:
        return ()
    return imported_symbols(elf, names, pattern)


def inspect(path: Union[str, os.PathLike[str]]) -> FileReport:
    """Read one file and report what it is. Never raises for a bad file: a missing, unreadable,
    non-ELF, truncated or corrupt file gives a report whose ``error`` says what is wrong."""
    name = os.fspath(path)
    try:
        with open_elf(name) as elf:
            return report_for(elf)
    except LibcprobeError as exc:
        return FileReport(path=name, error=exc.reason)
