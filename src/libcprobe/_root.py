"""``detect(root=DIR)``: the C library of a root filesystem (an unpacked image, a sysroot, a
chroot), read through one :class:`~._rootfs.Root` held for the whole detection.

The program given, else the first dynamically linked of :data:`ROOT_PROGRAMS` decides; a root
with none has its loader or libc read (:data:`LOADER_GLOBS`, glibc's before musl's, then the
newest in a Nix or Guix store); then a static program, then one whose loader is missing.
"""

from __future__ import annotations

import os
import stat

from ._classify import classify, family_of_loader_name
from ._errors import FileAccessError, LibcprobeError, RootError
from ._libc_files import glibc_from_libc_so
from ._model import EvidenceLog, Family, LibcInfo
from ._program import Ask, detect_program
from ._rootfs import Root

TYPE_CHECKING = False  # typing and collections.abc only for type checkers: see _records.py
if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional

__all__ = ["LOADER_GLOBS", "ROOT_PROGRAMS", "detect_root"]

#: Programs tried, in order, when ``root=`` is given without ``executable=``.
ROOT_PROGRAMS = (
    "/usr/bin/python3",
    "/usr/local/bin/python3",
    "/bin/sh",
    "/usr/bin/sh",
    "/bin/busybox",
    "/usr/bin/env",
    "/bin/ls",
    "/usr/bin/ls",
    # NixOS and Guix System: the system profile (there is no /usr/bin/python3)
    "/run/current-system/sw/bin/python3",
    "/run/current-system/sw/bin/sh",
    "/run/current-system/profile/bin/python3",
    "/run/current-system/profile/bin/sh",
)
#: Where loaders and libcs are looked for in a root that has no dynamic program.
_LOADER_NAMES = ("ld-musl-*.so.1", "ld-linux*.so.*", "ld64.so.*", "ld.so.1")
#: Where loaders and libcs are looked for in a root that has no dynamic program: /lib, /lib64
#: and their merged-/usr twins (an unpacked usr-merged package has no /lib symlink).
LOADER_GLOBS = (
    *(f"{d}/{n}" for d in ("lib", "lib64", "usr/lib", "usr/lib64") for n in _LOADER_NAMES),
    "lib/*-linux-gnu*/libc.so.6",
    "usr/lib/*-linux-gnu*/libc.so.6",
    "system/bin/linker64",
    "system/bin/linker",
)
#: Nix and Guix keep every package in its own store directory, ``<hash>-<name>-<version>``;
#: their images need have no /lib at all (NixOS manual, "Nix store"; Guix manual, "The Store").
STORES = ("/nix/store", "/gnu/store")
STORE_LIBCS = ("glibc-", "musl-")
#: Store entries looked at (a NixOS store holds tens of thousands) and libc entries kept.
MAX_STORE_ENTRIES = 200_000
MAX_STORE_LIBCS = 16


def detect_root(root_dir: str, exe: Optional[str], allow_execute: bool) -> LibcInfo:
    """The answer for ``detect(exe, root=root_dir)``."""
    if not os.path.isdir(root_dir):
        raise RootError("root is not a directory", root_dir)
    with Root(os.path.abspath(root_dir)) as root:
        ask = Ask(root, allow_execute)
        if exe is None:
            return _scan(ask)
        if root.stat(exe) is None:
            raise FileAccessError("no such file in the root", exe)
        return detect_program(exe, exe, ask, EvidenceLog())


def _scan(ask: Ask) -> LibcInfo:
    """A root without a program named: its first dynamic program, else its loader/libc,
    else its first static program, else one that cannot start."""
    root, ev = ask.root, EvidenceLog()
    first_static: Optional[LibcInfo] = None
    cannot_start: Optional[LibcInfo] = None
    for program in ROOT_PROGRAMS:
        if not _usable(root, program, ev):
            continue
        tried = ev.copy()
        tried.interpreter(program, "file", program, "the first dynamic program found in the root")
        info = detect_program(program, program, ask, tried)
        if info.linkage == "dynamic" and info.can_load_extensions is False:
            if cannot_start is None:  # its loader is missing: look further
                cannot_start = info
        elif info.linkage == "dynamic":
            return info
        elif first_static is None and info.linkage == "static":
            first_static = info
    loaders = _root_loaders(root)
    from_loader = _from_root_loader(root, loaders, ev) if loaders else None
    found = from_loader or first_static or cannot_start
    if found is not None:
        return found
    ev.family("none", "file", None, "no program and no C library or loader found in the root")
    return LibcInfo(family=None, root=root.shown, evidence=ev.items)


def _usable(root: Root, program: str, ev: EvidenceLog) -> bool:
    """Whether ``program`` is a regular file in the root; one that cannot be resolved (a
    symlink loop, a link out of the root) is said, so the answer says why it was passed over."""
    try:
        found = root.stat(program)
    except RootError as exc:
        ev.interpreter(program, "file", program, f"not used: {exc.reason}")
        return False
    return found is not None and stat.S_ISREG(found.st_mode)


def _from_root_loader(root: Root, loaders: list[str], ev: EvidenceLog) -> Optional[LibcInfo]:
    """The answer for a root with no dynamic program: its first loader/libc."""
    shown = loaders[0]
    try:
        with root.open_elf(shown) as lib:
            cls = classify(lib, scan=True)
    except LibcprobeError as exc:
        ev.family("none", "file", shown, exc.reason)
        return None
    if not cls.is_libc:
        return None
    what = "no dynamic program in the root; its loader/libc is this"
    ev.family(str(cls.family), "file", shown, what)
    ev.extend(e._replace(path=shown) for e in cls.evidence)
    if loaders[1:]:
        ev.family(str(cls.family), "file", shown, f"also present: {', '.join(loaders[1:5])}")
    version = cls.libc_version.version if cls.libc_version else None
    library = shown
    if cls.family is Family.GLIBC and not shown.endswith("/libc.so.6"):
        # The loader's banner is the same glibc build's; libc.so.6 is what programs load.
        found = glibc_from_libc_so(lib, root, ev, loader=shown)
        version, library = found or (version, library)
    return LibcInfo(
        family=cls.family,
        version=version,
        linkage="dynamic",
        arch=lib.arch,
        library=library,
        can_load_extensions=True,
        root=root.shown,
        evidence=ev.items,
    )


def _root_loaders(root: Root) -> list[str]:
    """The loader/libc files in the root; glibc's first when both are present, so a stray
    musl loader on a glibc system does not win; then those in a Nix or Guix store, newest
    first."""
    found: list[tuple[int, str]] = []
    for pattern in LOADER_GLOBS:
        for shown in root.glob("/" + pattern):
            if root.is_file(shown):
                found.append((1 if family_of_loader_name(shown) is Family.MUSL else 0, shown))
    found.sort(key=lambda t: t[0])
    return [shown for _, shown in found] + _store_loaders(root)


def _store_loaders(root: Root) -> list[str]:
    """The loaders under a Nix or Guix store's glibc/musl entries, newest version first."""
    found: list[tuple[tuple[int, ...], str]] = []
    for store in STORES:
        for entry in _store_libc_entries(root, store):
            for pattern in _LOADER_NAMES:
                for shown in root.glob(f"{store}/{entry}/lib/{pattern}"):
                    if root.is_file(shown):
                        found.append((_store_version(entry), shown))
    found.sort(key=lambda t: t[0], reverse=True)
    return [shown for _, shown in found]


def _store_libc_entries(root: Root, store: str) -> list[str]:
    names: list[str] = []
    for name in root.listdir(store, MAX_STORE_ENTRIES):
        _, _, rest = name.partition("-")
        if rest.startswith(STORE_LIBCS) and rest[rest.index("-") + 1 :][:1].isdigit():
            names.append(name)
            if len(names) >= MAX_STORE_LIBCS:
                break
    return sorted(names)


def _store_version(entry: str) -> tuple[int, ...]:
    # "<hash>-glibc-2.41-48" -> (2, 41, 48)
    version = entry.split("-", 2)[2]
    parts = []
    for part in version.replace("-", ".").split(".")[:4]:
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)
