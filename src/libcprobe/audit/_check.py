"""``libcprobe check``: will these binaries load on the target system?

For every ELF binary in the targets: libc family, glibc version, architecture (and so ELF
class) must match the target, and every ``DT_NEEDED`` must resolve without running ``ldd``:
inside the wheel or tree through ``DT_RUNPATH``/``DT_RPATH`` (``$ORIGIN`` expanded), or in the
target's library directories (``/etc/ld.so.conf``, multiarch and default directories for
glibc; ``/etc/ld-musl-<arch>.path`` or musl's defaults for musl), and every symbol version a
binary needs from a library found there must be one that library defines (its own
``DT_VERDEF``: the target's real ``libc.so.6``, ``libstdc++.so.6``, ``libgcc_s.so.1``). On
this machine an x86 binary's ISA level (GNU property note) must be one the CPU has
(``/proc/cpuinfo`` flags). A target given as a platform tag has no filesystem: it is judged by
the tag's policy (:mod:`libcprobe.audit._policy`), one problem per cause. A statically linked
program needs only the architecture.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any, NamedTuple, Optional

from .._classify import family_of_loader_name
from .._elf import ELFFile
from .._errors import LibcprobeError, RootError
from .._model import Family, LibcInfo
from .._rootfs import HOST, Root
from ._audit import MUSL_BUILTIN, Bundle, causes, origin_resolves
from ._inspect import FileReport, highest_per_namespace
from ._policy import Policy, isa_covers, isa_from_flags, policy_named
from ._tree import Item
from ._wheel_summary import parse_platform_tag

__all__ = [
    "Problem",
    "Target",
    "check_items",
    "cpu_isa_level",
    "target_from_info",
    "target_from_tag",
]

MUSL_DEFAULT_PATH = ("/lib", "/usr/local/lib", "/usr/lib")


class Target(NamedTuple):
    """The system binaries must load on."""

    family: Optional[Family]
    version: Optional[tuple[int, ...]]
    arch: Optional[str]
    root: Optional[str]
    description: str
    assumed: Optional[frozenset[str]] = None  # platform-tag targets: libraries assumed present
    policy: Optional[Policy] = None  # platform-tag targets with a policy: judged by it
    isa: Optional[str] = None  # this machine's x86 ISA level ("x86-64-v3"), when known


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
    isa = cpu_isa_level() if not info.root and info.arch in ("x86_64", "i686") else None
    return Target(
        info.family,
        version,
        info.arch,
        info.root if info.root else None,
        f"{family}, {info.arch}{where}",
        isa=isa,
    )


def cpu_isa_level(cpuinfo: str = "/proc/cpuinfo") -> Optional[str]:
    """This machine's x86-64 ISA level from the CPU flags the kernel lists (None when they
    cannot be read): the highest level whose every flag is present, ``"x86-64"`` for none."""
    try:
        with open(cpuinfo, "rb") as f:
            text = f.read(1 << 20).decode("ascii", "replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return isa_from_flags(value.split())
    return None


def target_from_tag(tag_text: str) -> Target:
    """A target from a platform tag such as ``manylinux_2_28_x86_64``; ValueError when it is
    not a Linux platform tag."""
    tag = parse_platform_tag(tag_text)
    if tag is None:
        raise ValueError(f"not a Linux platform tag: {tag_text!r}")
    family = Family(tag.family) if tag.family else None
    policy = policy_named(tag.family, tag.arch, tag.version) if tag.family and tag.version else None
    assumed = policy.whitelist if policy is not None else frozenset()
    return Target(family, tag.version, tag.arch, None, f"platform tag {tag_text}", assumed, policy)


class _Resolver:
    def __init__(self, target: Target, members: set[str]) -> None:
        self.target = target
        self.members = members
        #: The target's files: its root (descriptor-based walks, never outside it), or the host.
        self.root: Root = HOST if target.root is None else Root(target.root)
        self._cache: dict[str, Optional[tuple[str, str]]] = {}  # name -> (inside, host path)
        self._defs: dict[str, Optional[frozenset[str]]] = {}
        self._dirs: Optional[list[str]] = None

    def system_dirs(self) -> list[str]:
        if self._dirs is None:
            if self.target.family is Family.MUSL:
                self._dirs = self._musl_dirs()
            else:
                self._dirs = self.root.library_dirs()
        return self._dirs

    def _musl_dirs(self) -> list[str]:
        # musl reads /etc/ld-musl-<arch>.path (one directory per line or colon-separated).
        dirs: list[str] = []
        for conf in self.root.glob("/etc/ld-musl-*.path")[:1]:
            data = self.root.read(conf, 65536)
            if data is not None:
                text = data.decode("utf-8", "replace")
                dirs.extend(d for d in re.split(r"[:\n]", text) if d.startswith("/"))
        return dirs or list(MUSL_DEFAULT_PATH)

    def on_system(self, name: str) -> bool:
        if self.target.family is Family.MUSL and MUSL_BUILTIN.fullmatch(name):
            return True
        # glibc's loader is in every process it runs: a DT_NEEDED on it is always satisfied.
        if self.target.family is Family.GLIBC and family_of_loader_name("/" + name) is Family.GLIBC:
            return True
        if self.target.assumed is not None:
            return name in self.target.assumed
        return self.system_path(name) is not None

    def is_file(self, path: str) -> bool:
        """Whether ``path`` (inside the target's root) is a regular file."""
        return self.root.is_file(path)

    def _located(self, name: str) -> Optional[tuple[str, str]]:
        """(path inside the root, host path) of the library ``name`` in the target's library
        directories, or None."""
        if name not in self._cache:
            found = None
            for d in self.system_dirs():
                inside = f"{d.rstrip('/')}/{name}"
                if self.root.is_file(inside):
                    try:
                        found = (inside, self.root.resolve(inside))
                    except RootError:
                        continue
                    break
            self._cache[name] = found
        return self._cache[name]

    def system_path(self, name: str) -> Optional[str]:
        """The host path of the library ``name`` in the target's library directories."""
        located = self._located(name)
        return located[1] if located is not None else None

    def definitions(self, name: str) -> Optional[frozenset[str]]:
        """The version names the target's library ``name`` defines (None: not found, or it
        defines none)."""
        if name not in self._defs:
            located = self._located(name)
            found: Optional[frozenset[str]] = None
            if located is not None:
                try:  # opened through the root's walk: what was found is what is read
                    with self.root.open_elf(located[0]) as elf:
                        found = frozenset(elf.version_definitions) or None
                except LibcprobeError:
                    found = None
            self._defs[name] = found
        return self._defs[name]

    def in_tree(self, binary: str, elf: ELFFile, name: str) -> bool:
        """Resolved next to the binary through its RUNPATH (or RPATH) with $ORIGIN."""
        return origin_resolves(binary, elf.runpath or elf.rpath, name, self.members)

    def absolute_rpath(self, elf: ELFFile, name: str) -> bool:
        return any(
            entry.startswith("/") and self.root.is_file(f"{entry.rstrip('/')}/{name}")
            for entry in (elf.runpath or elf.rpath)
        )


class _Context(NamedTuple):
    """What every binary of one check is judged with."""

    target: Target
    resolver: _Resolver
    sonames: set[tuple[str, str]]  # (container, soname) of the libraries shipped
    bundles: dict[str, Bundle]  # container -> what it ships


def check_items(items: Sequence[Item], target: Target) -> list[Problem]:
    """The problems that would stop these binaries loading on ``target`` (empty: all load).
    Items must carry their parsed ELF files (``iter_items(..., keep_elf=True)``)."""
    members = {item.report.path for item in items if "!" in item.report.path}
    # ld.so matches a needed name against the sonames of libraries already loaded: a bundled
    # library that some binary loads through its RUNPATH satisfies the others' needs too
    # (auditwheel's repaired wheels rely on it).
    sonames = {
        (_container(item.report.path), item.report.soname) for item in items if item.report.soname
    }
    context = _Context(target, _Resolver(target, members), sonames, _bundles(items))
    problems: list[Problem] = []
    for item in items:
        if item.is_elf:
            problems.extend(_item_problems(item, context))
    return problems


def _item_problems(item: Item, context: _Context) -> list[Problem]:
    """One binary's problems: first what stops it outright (unreadable, another architecture
    or family), then the policy's causes, or what the target's files say."""
    report, elf, target = item.report, item.elf, context.target
    if elf is None:
        return [Problem(report.path, "to be read as ELF", str(report.error))]
    wrong = _arch_problem(report, elf, target)
    if wrong is not None:
        return [wrong]
    if report.linkage == "static":
        return []  # a static program runs on any Linux of its architecture
    wrong = _family_problem(report, target)
    if wrong is not None:
        return [wrong]
    problems = _android_problems(report, target)
    if target.policy is not None:
        bundle = context.bundles[_container(report.path)]
        found = causes(report, target.policy, bundle)
        return problems + [Problem(c.path, c.need, c.have) for c in found]
    problems += _version_problems(report, target, context.resolver)
    if target.isa is not None and report.isa is not None and not isa_covers(target.isa, report.isa):
        problems.append(Problem(report.path, report.isa, f"this machine's CPU is {target.isa}"))
    problems += _needed_problems(report, elf, context)
    return problems


def _arch_problem(report: FileReport, elf: ELFFile, target: Target) -> Optional[Problem]:
    if not target.arch or elf.arch == target.arch:  # the tag architecture, not the CPU
        return None
    cpu = f", built for an {report.arch} CPU" if report.arch != elf.arch else ""
    return Problem(
        report.path, f"{elf.arch} ({report.elf_class}-bit{cpu})", f"the target is {target.arch}"
    )


def _family_problem(report: FileReport, target: Target) -> Optional[Problem]:
    family = report.family
    if not target.family or not family or family == target.family.value:
        return None
    return Problem(
        report.path,
        f"{family} ({', '.join(report.needed)})",
        f"the target runs {target.family.value}",
    )


def _android_problems(report: FileReport, target: Target) -> list[Problem]:
    if target.family is not Family.BIONIC or not target.version or not report.android_api:
        return []
    if report.android_api <= target.version[0]:
        return []
    return [
        Problem(
            report.path,
            f"Android API level {report.android_api} (its ident note)",
            f"the target is API level {target.version[0]}",
        )
    ]


def _needed_problems(report: FileReport, elf: ELFFile, context: _Context) -> list[Problem]:
    """Each ``DT_NEEDED`` found nowhere: not in the wheel or tree, not among the sonames it
    ships, not through an absolute RUNPATH, not on the target."""
    target, resolver = context.target, context.resolver
    problems = []
    for name in elf.needed:
        if "/" in name:
            found = resolver.is_file(name)
        else:
            found = (
                resolver.in_tree(report.path, elf, name)
                or (_container(report.path), name) in context.sonames
                or resolver.absolute_rpath(elf, name)
                or resolver.on_system(name)
            )
        if found:
            continue
        where = (
            f"not in the wheel/tree (RUNPATH {':'.join(elf.runpath or elf.rpath) or 'unset'}) nor "
        )
        have = (
            f"in the libraries {target.description} guarantees"
            if target.assumed is not None
            else f"in the library directories of {target.description}"
        )
        problems.append(Problem(report.path, name, where + have))
    return problems


def _bundles(items: Sequence[Item]) -> dict[str, Bundle]:
    groups: dict[str, list[FileReport]] = {}
    for item in items:
        if item.is_elf and item.report.ok:
            groups.setdefault(_container(item.report.path), []).append(item.report)
    return {key: Bundle(reports) for key, reports in groups.items()}


def _version_problems(report: FileReport, target: Target, resolver: _Resolver) -> list[Problem]:
    """Symbol versions the target cannot satisfy: above its glibc version, or not defined by
    the library the target would load (one problem per library and namespace)."""
    problems = []
    if report.glibc_requires and target.family is Family.GLIBC and target.version:
        need = tuple(int(p) for p in report.glibc_requires.split("."))
        if need > target.version:
            have = ".".join(map(str, target.version))
            problems.append(
                Problem(
                    report.path, f"GLIBC_{report.glibc_requires}", f"the target has glibc {have}"
                )
            )
    if target.assumed is not None:
        return problems
    for lib, names in report.symbol_versions:
        defined = resolver.definitions(lib) if "/" not in lib else None
        if defined is None:
            continue
        missing = highest_per_namespace((lib, n) for n in names if n not in defined)
        for namespace, version in missing:
            if namespace == "GLIBC" and problems:
                continue  # already said: the glibc is too old
            top = highest_per_namespace((lib, n) for n in defined if n.startswith(namespace + "_"))
            has = f"up to {namespace}_{top[0][1]}" if top else f"no {namespace}_ version"
            where = resolver.system_path(lib)
            problems.append(
                Problem(
                    report.path,
                    f"{namespace}_{version} from {lib}",
                    f"the target's {where} defines {has}",
                )
            )
    return problems


def _container(path: str) -> str:
    """The wheel a member belongs to; for a file, the directory above the one it lies in (a
    package and its sibling ``.libs`` directory share it)."""
    return path.split("!", 1)[0] if "!" in path else os.path.dirname(os.path.dirname(path))
