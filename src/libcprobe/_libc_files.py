"""The C library files a dynamic program loads, found as its loader would find them and read:
the loader or libc the program names or the process maps (:func:`read_libc`), ``libc.so.6``
along ``ld.so``'s search path (:func:`glibc_from_libc_so`), musl's libc by ``DT_NEEDED``
(:func:`musl_from_needed`), and Android's API level (:func:`android_api`). Every path is one
inside the :class:`~._rootfs.Root` given."""

from __future__ import annotations

from ._classify import Classification, classify
from ._errors import LibcprobeError
from ._model import EvidenceLog, Family, LibcVersion
from ._rootfs import HOST, LIBRARY_DIRS, Root

TYPE_CHECKING = False  # typing and collections.abc only for type checkers: see _records.py
if TYPE_CHECKING:  # pragma: no cover
    from typing import Callable, Optional, TypeVar

    from ._elf import ELFFile
    from ._model import Source

    T = TypeVar("T")
    #: A libc file read: (its family, its version, the name it is shown by).
    LibcFile = tuple[Optional[Family], Optional[LibcVersion], str]

__all__ = ["android_api", "first_libc_so", "glibc_from_libc_so", "musl_from_needed", "read_libc"]


def read_libc(
    path: str, shown: str, root: Root, source: Source, program: ELFFile, ev: EvidenceLog
) -> Optional[LibcFile]:
    """Read the loader/libc file at ``path`` (named ``shown``, found through ``source``) for
    ``program``; None when it cannot be read or is not a libc."""
    try:
        with root.open_elf(path) as lib:
            cls: Classification = classify(lib, scan=True)
            mismatch = not _same_abi(lib, program)
            host = lib.path
    except LibcprobeError as exc:
        ev.version("none", source, shown, f"cannot read it: {exc.reason}")
        return None
    if not cls.is_libc:
        ev.family("none", source, shown, "it is not a C library or loader libcprobe knows")
        return None
    if mismatch:
        ev.arch("mismatch", source, shown, "its machine or class differs from the program's")
    ev.extend(
        e._replace(path=shown) if e.path == host and root is not HOST else e for e in cls.evidence
    )
    version = cls.libc_version.version if cls.libc_version else None
    return cls.family, version, shown


def _same_abi(lib: ELFFile, program: ELFFile) -> bool:
    # The same e_machine and class: a libc the program's loader could map.
    return (lib.machine, lib.elf_class) == (program.machine, program.elf_class)


def glibc_from_libc_so(
    program: ELFFile,
    root: Root,
    ev: EvidenceLog,
    *,
    origin: Optional[str] = None,
    loader: Optional[str] = None,
) -> Optional[tuple[Optional[LibcVersion], str]]:
    """Find libc.so.6 the way ld.so would and read its banner: the program's DT_RPATH /
    DT_RUNPATH (how Nix and Guix point at their glibc), ld.so.conf and the multiarch
    directories, the loader's own directory (a glibc's built-in directory: /nix/store/…/lib,
    /usr/glibc-compat/lib), then the defaults."""

    def banner(shown: str, lib: ELFFile) -> Optional[tuple[Optional[LibcVersion], str]]:
        if not _same_abi(lib, program):
            return None
        cls = classify(lib, scan=True)
        found = cls.libc_version
        if cls.family is not Family.GLIBC or found is None:
            return None
        what = f"libc.so.6 banner 'release version {found.text}'"
        ev.version(found.version, "string", shown, what)
        return found.version, shown

    return first_libc_so(root, _libc_search_path(program, root, origin, loader), banner)


def first_libc_so(
    root: Root, dirs: list[str], read: Callable[[str, ELFFile], Optional[T]]
) -> Optional[T]:
    """The first answer ``read(shown, lib)`` gives for the ``libc.so.6`` of a directory of
    ``dirs``, in order, called while the file is open; a file that cannot be read is passed
    over."""
    for directory in dirs:
        shown = f"{directory.rstrip('/')}/libc.so.6"
        try:
            with root.open_elf(shown) as lib:
                found = read(shown, lib)
        except LibcprobeError:
            continue
        if found is not None:
            return found
    return None


def _libc_search_path(
    program: ELFFile, root: Root, origin: Optional[str], loader: Optional[str]
) -> list[str]:
    own = [] if program.runpath else list(program.rpath)
    own.extend(program.runpath)
    here = origin.rsplit("/", 1)[0] or "/" if origin and origin.startswith("/") else None
    dirs = []
    for entry in own[:64]:
        if "$ORIGIN" in entry or "${ORIGIN}" in entry:
            if here is None:
                continue
            entry = entry.replace("${ORIGIN}", here).replace("$ORIGIN", here)
        if entry.startswith("/") and "$" not in entry:
            dirs.append(entry)
    configured = root.library_dirs()
    dirs.extend(d for d in configured if d not in LIBRARY_DIRS)
    if loader is not None and loader.startswith("/"):
        for path in (loader, root.real_path(loader)):
            if path is not None:
                dirs.append(path.rsplit("/", 1)[0] or "/")
    dirs.extend(LIBRARY_DIRS)
    return list(dict.fromkeys(dirs))


def musl_from_needed(
    program: ELFFile, root: Root, ev: EvidenceLog
) -> Optional[tuple[Optional[LibcVersion], str]]:
    """For a musl file without PT_INTERP (an extension module, a shared library): the musl
    libc it needs (libc.musl-<arch>.so.1 on Alpine), found in the library directories."""
    names = [n for n in program.needed if n.startswith("libc.musl-")]
    for name in names[:2]:
        for directory in ("/lib", "/usr/lib", "/usr/local/lib"):
            shown = f"{directory}/{name}"
            if not root.is_file(shown):
                continue
            lib = read_libc(shown, shown, root, "elf-needed", program, ev)
            if lib is not None and lib[0] is Family.MUSL:
                return lib[1], shown
    return None


def android_api(cls: Classification, root: Root, ev: EvidenceLog) -> Optional[LibcVersion]:
    """bionic's version is the Android API level: the root's system/build.prop
    (ro.build.version.sdk), else the program's Android ident note (the API it targets)."""
    import re  # only for a root's build.prop, never on the path of this process

    prop = root.read("/system/build.prop", 256 * 1024) if root is not HOST else None
    if prop is not None:
        text = prop.decode("utf-8", "replace")
        match = re.search(r"^ro\.build\.version\.sdk=(\d{1,4})\s*$", text, re.MULTILINE)
        if match is not None:
            sdk = match.group(1)
            ev.version(sdk, "file", "/system/build.prop", f"ro.build.version.sdk={sdk}")
            return LibcVersion((int(sdk),))
    if cls.api_level is not None:
        what = f"the program's Android ident note targets API {cls.api_level}"
        ev.version(cls.api_level, "elf-note", None, what)
        return LibcVersion((cls.api_level,))
    return None
