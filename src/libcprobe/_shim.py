"""A loader under glibc's name that is no libc: a compatibility shim such as Alpine's gcompat
(``/lib/ld-linux-x86-64.so.2`` re-executes musl's loader with libgcompat preloaded). What runs
the program is then musl, whose loader the shim names or is linked with; ``libc.so.6`` there
is gcompat's, whose glibc version is made up. Loaded only when a PT_INTERP is not a libc."""

from __future__ import annotations

from ._classify import classify, family_of_loader_name
from ._errors import LibcprobeError
from ._libc_files import first_libc_so, read_libc
from ._model import EvidenceLog, Family

TYPE_CHECKING = False  # typing and collections.abc only for type checkers: see _records.py
if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional

    from ._elf import ELFFile
    from ._libc_files import LibcFile
    from ._rootfs import Root

__all__ = ["SHIM_SCAN", "through_shim"]

#: How a glibc-compatibility shim names musl's loader (gcompat's loader execs it).
_MUSL_LOADER_PREFIX = b"/lib/ld-musl-"
#: Most read-only bytes read from a file under glibc's loader name to find what it runs on
#: (gcompat's shim is ~25 KB).
SHIM_SCAN = 1024 * 1024


def through_shim(
    path: str, interp: str, root: Root, program: ELFFile, ev: EvidenceLog
) -> Optional[LibcFile]:
    """The musl libc that runs ``program`` when its PT_INTERP ``interp`` (at ``path`` in the
    root) is a compatibility shim; None when it is not one. Only a loader under glibc's name
    can be: any other loader that is no libc says nothing of another file."""
    if family_of_loader_name(interp) is not Family.GLIBC:
        return None
    loaders = _musl_loaders_of(path, root)
    for loader in loaders:
        if not root.exists(loader):
            continue
        lib = read_libc(loader, loader, root, "elf-interp", program, EvidenceLog())
        if lib is None or lib[0] is not Family.MUSL:
            continue
        ev.family(
            "musl",
            "elf-interp",
            interp,
            f"PT_INTERP {interp} is not glibc's loader but a compatibility shim that runs "
            f"the program on musl's loader {loader} (as Alpine's gcompat does)",
        )
        read_libc(loader, loader, root, "elf-interp", program, ev)
        _note_compat_library(root, ev)
        return lib
    return None


def _musl_loaders_of(path: str, root: Root) -> list[str]:
    """The musl loaders a shim may run programs on: the one it names, the one it is linked
    with, else (a musl program itself) those in /lib and /usr/lib."""
    try:
        with root.open_elf(path) as shim:
            if sum(size for _, size in shim.readonly_ranges()) > SHIM_SCAN:
                return []
            named = _named_musl_loader(shim.readonly_data())
            shim_family = classify(shim, scan=True).family
            shim_interp = shim.interpreter
    except LibcprobeError:
        return []
    loaders = [named] if named is not None else []
    if shim_interp is not None and family_of_loader_name(shim_interp) is Family.MUSL:
        loaders.append(shim_interp)
    if shim_family is Family.MUSL and not loaders:
        for directory in ("/lib", "/usr/lib"):
            loaders.extend(root.glob(f"{directory}/ld-musl-*.so.1"))
    return loaders


def _named_musl_loader(chunks: list[tuple[int, bytes]]) -> Optional[str]:
    for _, data in chunks:
        at = data.find(_MUSL_LOADER_PREFIX)
        if at < 0:
            continue
        end = data.find(b"\0", at, at + 64)
        name = data[at:end] if end > 0 else b""
        if name.endswith(b".so.1"):
            return name.decode("ascii", "replace")
    return None


def _note_compat_library(root: Root, ev: EvidenceLog) -> None:
    """Say which file answers to glibc's name (libc.so.6 -> libgcompat.so.0) and that its
    glibc version is made up."""

    def note(shown: str, lib: ELFFile) -> bool:
        if classify(lib, scan=False).is_libc:
            return True
        ev.family(
            "musl",
            "elf-soname",
            shown,
            f"libc.so.6 is {lib.soname or 'a library'} over musl, not glibc: glibc's version "
            "query (gnu_get_libc_version) there returns a fixed made-up answer (gcompat: "
            "'2.8' or $GLIBC_FAKE_VERSION), not a version of anything that runs",
        )
        return True

    first_libc_so(root, root.library_dirs(), note)
