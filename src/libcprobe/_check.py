"""``libcprobe check``: will these binaries load on the target system?

For every ELF binary in the targets: libc family, glibc version, architecture (and so ELF
class) must match the target, and every ``DT_NEEDED`` must resolve without running ``ldd``:
inside the wheel or tree through ``DT_RUNPATH``/``DT_RPATH`` (``$ORIGIN`` expanded), or in the
target's library directories (``/etc/ld.so.conf``, multiarch and default directories for
glibc; ``/etc/ld-musl-<arch>.path`` or musl's defaults for musl). A target given as a platform
tag has no filesystem: the libraries its policy guarantees (PEP 599 for manylinux, the libc
itself for musllinux) are assumed present and nothing else.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Sequence
from typing import Any, NamedTuple, Optional

from ._classify import family_of_loader_name
from ._elf import ELFFile
from ._model import Family, LibcInfo
from ._rootfs import exists_in_root, library_dirs
from ._tree import Item
from ._wheel_summary import parse_platform_tag

__all__ = ["Problem", "Target", "check_items", "target_from_info", "target_from_tag"]

# The libraries every manylinux policy lets a wheel use from the system (PEP 599's list, plus
# libz.so.1 as auditwheel's policies allow); musllinux policies allow only libc and libz.
MANYLINUX_LIBS = frozenset(
    {
        "libz.so.1",
        "libgcc_s.so.1",
        "libstdc++.so.6",
        "libm.so.6",
        "libdl.so.2",
        "librt.so.1",
        "libc.so.6",
        "libnsl.so.1",
        "libutil.so.1",
        "libpthread.so.0",
        "libresolv.so.2",
        "libX11.so.6",
        "libXext.so.6",
        "libXrender.so.1",
        "libICE.so.6",
        "libSM.so.6",
        "libGL.so.1",
        "libgobject-2.0.so.0",
        "libgthread-2.0.so.0",
        "libglib-2.0.so.0",
    }
)
# musl's loader answers for these itself (ldso/dynlink.c, the "reserved" library names).
_MUSL_BUILTIN = re.compile(r"lib(c|pthread|rt|m|dl|util|xnet)\.so(\.[\d.]+)?|libc\.musl-\w+\.so\.1")
MUSL_DEFAULT_PATH = ("/lib", "/usr/local/lib", "/usr/lib")


class Target(NamedTuple):
    """The system binaries must load on."""

    family: Optional[Family]
    version: Optional[tuple[int, ...]]
    arch: Optional[str]
    root: Optional[str]
    description: str
    assumed: Optional[frozenset[str]] = None  # platform-tag targets: libraries assumed present


class Problem(NamedTuple):
    """One reason a binary will not load: the file, what it needs, what the target has."""

    path: str
    need: str
    have: str

    def __str__(self) -> str:
        return f"{self.path}: needs {self.need}; {self.have}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return self._asdict()


def target_from_info(info: LibcInfo) -> Target:
    """The target described by a :func:`~libcprobe.detect` result."""
    version = info.version.release[:2] if info.version is not None else None
    family = f"{info.family} {info.version}" if info.family else "no libc"
    where = f" in {info.root}" if info.root else ""
    return Target(
        info.family,
        version,
        info.arch,
        info.root if info.root else None,
        f"{family}, {info.arch}{where}",
    )


def target_from_tag(tag_text: str) -> Target:
    """A target from a platform tag such as ``manylinux_2_28_x86_64``; ValueError when it is
    not a Linux platform tag."""
    tag = parse_platform_tag(tag_text)
    if tag is None:
        raise ValueError(f"not a Linux platform tag: {tag_text!r}")
    family = Family(tag.family) if tag.family else None
    if family is Family.MUSL:
        assumed = frozenset({"libz.so.1"})
    elif family is Family.GLIBC:
        assumed = MANYLINUX_LIBS
    else:
        assumed = frozenset()
    return Target(family, tag.version, tag.arch, None, f"platform tag {tag_text}", assumed)


class _Resolver:
    def __init__(self, target: Target, members: set[str]) -> None:
        self.target = target
        self.members = members
        self._cache: dict[str, bool] = {}
        self._dirs: Optional[list[str]] = None

    def system_dirs(self) -> list[str]:
        if self._dirs is None:
            if self.target.family is Family.MUSL:
                self._dirs = self._musl_dirs()
            else:
                self._dirs = library_dirs(self.target.root)
        return self._dirs

    def _musl_dirs(self) -> list[str]:
        # musl reads /etc/ld-musl-<arch>.path (one directory per line or colon-separated).
        from ._rootfs import glob_in_root

        dirs: list[str] = []
        for conf in glob_in_root(self.target.root, "/etc/ld-musl-*.path")[:1]:
            host = exists_in_root(self.target.root, conf)
            if host is not None:
                with open(host, "rb") as f:
                    text = f.read(65536).decode("utf-8", "replace")
                dirs.extend(d for d in re.split(r"[:\n]", text) if d.startswith("/"))
        return dirs or list(MUSL_DEFAULT_PATH)

    def on_system(self, name: str) -> bool:
        if self.target.family is Family.MUSL and _MUSL_BUILTIN.fullmatch(name):
            return True
        # glibc's loader is in every process it runs: a DT_NEEDED on it is always satisfied.
        if self.target.family is Family.GLIBC and family_of_loader_name("/" + name) is Family.GLIBC:
            return True
        if self.target.assumed is not None:
            return name in self.target.assumed
        if name not in self._cache:
            self._cache[name] = any(
                exists_in_root(self.target.root, f"{d.rstrip('/')}/{name}") is not None
                for d in self.system_dirs()
            )
        return self._cache[name]

    def in_tree(self, binary: str, elf: ELFFile, name: str) -> bool:
        """Resolved next to the binary through its RUNPATH (or RPATH) with $ORIGIN."""
        wheel, sep, member = binary.partition("!")
        origin = posixpath.dirname(member) if sep else os.path.dirname(binary)
        for entry in elf.runpath or elf.rpath:
            if not re.search(r"\$(ORIGIN|\{ORIGIN\})", entry):
                continue
            directory = re.sub(r"\$(ORIGIN|\{ORIGIN\})", origin, entry)
            if sep:
                wanted = posixpath.normpath(posixpath.join(directory, name))
                if f"{wheel}!{wanted}" in self.members:
                    return True
            elif os.path.isfile(os.path.join(directory, name)):
                return True
        return False

    def absolute_rpath(self, elf: ELFFile, name: str) -> bool:
        return any(
            entry.startswith("/")
            and exists_in_root(self.target.root, f"{entry.rstrip('/')}/{name}") is not None
            for entry in (elf.runpath or elf.rpath)
        )


def check_items(items: Sequence[Item], target: Target) -> list[Problem]:
    """The problems that would stop these binaries loading on ``target`` (empty: all load).
    Items must carry their parsed ELF files (``iter_items(..., keep_elf=True)``)."""
    members = {item.report.path for item in items if "!" in item.report.path}
    resolver = _Resolver(target, members)
    # ld.so matches a needed name against the sonames of libraries already loaded: a bundled
    # library that some binary loads through its RUNPATH satisfies the others' needs too
    # (auditwheel's repaired wheels rely on it).
    sonames = {
        (_container(item.report.path), item.report.soname) for item in items if item.report.soname
    }
    problems: list[Problem] = []
    for item in items:
        report, elf = item.report, item.elf
        if not item.is_elf:
            continue
        if elf is None:
            problems.append(Problem(report.path, "to be read as ELF", str(report.error)))
            continue
        if target.arch and report.arch != target.arch:
            problems.append(
                Problem(
                    report.path,
                    f"{report.arch} ({report.elf_class}-bit)",
                    f"the target is {target.arch}",
                )
            )
            continue
        family = report.family
        if target.family and family and family != target.family.value:
            problems.append(
                Problem(
                    report.path,
                    f"{family} ({', '.join(report.needed)})",
                    f"the target runs {target.family.value}",
                )
            )
            continue
        if report.glibc_requires and target.family is Family.GLIBC and target.version:
            need = tuple(int(p) for p in report.glibc_requires.split("."))
            if need > target.version:
                have = ".".join(map(str, target.version))
                problems.append(
                    Problem(
                        report.path,
                        f"GLIBC_{report.glibc_requires}",
                        f"the target has glibc {have}",
                    )
                )
        for name in elf.needed:
            if "/" in name:
                ok = exists_in_root(target.root, name) is not None
            else:
                ok = (
                    resolver.in_tree(report.path, elf, name)
                    or (_container(report.path), name) in sonames
                    or resolver.absolute_rpath(elf, name)
                    or resolver.on_system(name)
                )
            if not ok:
                where = (
                    "not in the wheel/tree (RUNPATH "
                    f"{':'.join(elf.runpath or elf.rpath) or 'unset'}) nor "
                )
                have = (
                    f"in the libraries {target.description} guarantees"
                    if target.assumed is not None
                    else f"in the library directories of {target.description}"
                )
                problems.append(Problem(report.path, name, where + have))
    return problems


def _container(path: str) -> str:
    """The wheel a member belongs to; for a file, the directory above the one it lies in (a
    package and its sibling ``.libs`` directory share it)."""
    return path.split("!", 1)[0] if "!" in path else os.path.dirname(os.path.dirname(path))
