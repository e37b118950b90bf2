"""Judging binaries against a wheel policy: one :class:`Cause` per reason a policy refuses a
file, and the lowest policy that admits a whole wheel *as shipped*.

A policy admits a file when every symbol version it needs from a library the wheel does not
ship is one the policy lists (namespaces counted only from the library that owns them), every
``DT_NEEDED`` is the loader, a library the policy provides, or a library shipped in the wheel
and found the way ``ld.so`` finds it (``DT_RUNPATH``/``DT_RPATH`` with ``$ORIGIN``, or the
soname of a bundled library another binary loads), it imports no symbol the policy blacklists
from a library it needs, and (x86) its GNU property note asks for no ISA level above the
baseline. A statically linked program needs only the architecture.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Collection, Iterable, Sequence
from typing import NamedTuple, Optional

from .._classify import family_of_loader_name
from .._model import Family
from ._inspect import FileReport, highest_per_namespace
from ._policy import (
    Policy,
    namespace_of,
    owns,
    policies_for,
    time64_musllinux,
    time64_pattern,
    version_key,
)

__all__ = [
    "Bundle",
    "Cause",
    "causes",
    "external_libraries",
    "lowest_policy",
    "policy_tag",
    "wheel_requires",
]

_ORIGIN = re.compile(r"\$(ORIGIN|\{ORIGIN\})")
# musl's loader answers for these itself (ldso/dynlink.c, the reserved library names).
MUSL_BUILTIN = re.compile(r"lib(c|pthread|rt|m|dl|util|xnet)\.so(\.[\d.]+)?|libc\.musl-\w+\.so\.1")


class Cause(NamedTuple):
    """One reason a policy (or a target) refuses a file: ``kind`` is ``version``,
    ``library``, ``symbol`` or ``isa``; ``need`` names what the file needs, ``have`` what the
    policy allows."""

    path: str
    kind: str
    need: str
    have: str


def origin_resolves(path: str, paths: Sequence[str], name: str, members: Collection[str]) -> bool:
    """``name`` is found through a ``$ORIGIN`` entry of ``paths`` (the RUNPATH, else RPATH) of
    the file ``path``: a member of the same wheel (``wheel.whl!member`` in ``members``), or a
    file next to an installed one."""
    wheel, sep, member = path.partition("!")
    origin = posixpath.dirname(member) if sep else os.path.dirname(path)
    for entry in paths:
        if not _ORIGIN.search(entry):
            continue
        directory = _ORIGIN.sub(origin, entry)
        if sep:
            wanted = posixpath.normpath(posixpath.join(directory, name))
            if f"{wheel}!{wanted}" in members:
                return True
        elif os.path.isfile(os.path.join(directory, name)):
            return True
    return False


class Bundle:
    """The ELF files shipped together (one wheel, or one tree) and how ``ld.so`` would find
    one of them from another."""

    def __init__(self, reports: Sequence[FileReport]) -> None:
        self.members = {r.path for r in reports}
        self.sonames = {r.soname for r in reports if r.soname}
        self.names = {_member(r.path).rsplit("/", 1)[-1] for r in reports}

    def resolves(self, report: FileReport, name: str) -> bool:
        """``name`` (a ``DT_NEEDED``) is found inside the bundle."""
        if name in self.sonames:
            return True
        return origin_resolves(report.path, report.runpath or report.rpath, name, self.members)

    def ships(self, name: str) -> bool:
        """A library of that name or soname is in the bundle (wherever it lies)."""
        return name in self.sonames or name in self.names


def _member(path: str) -> str:
    return path.split("!", 1)[-1]


def is_loader(name: str) -> bool:
    """A ``DT_NEEDED`` on the dynamic loader is satisfied by the loader itself."""
    return family_of_loader_name("/" + name) is not None


def causes(report: FileReport, policy: Policy, bundle: Bundle) -> list[Cause]:
    """Why ``policy`` refuses ``report`` (empty: it admits it). Architecture and family are
    the caller's to compare."""
    if report.linkage == "static":
        return []
    out = _version_causes(report, policy, bundle)
    for name in report.needed:
        if not (
            is_loader(name)
            or policy.allows_library(name)
            or (policy.family == "musl" and MUSL_BUILTIN.fullmatch(name))
            or bundle.resolves(report, name)
        ):
            out.append(
                Cause(
                    report.path, "library", name, f"not in the wheel nor provided by {policy.name}"
                )
            )
    for lib in report.needed:
        banned = sorted(policy.blacklist.get(lib, frozenset()) & set(report.policy_symbols))
        if banned:
            out.append(
                Cause(
                    report.path,
                    "symbol",
                    f"{', '.join(banned)} from {lib}",
                    f"{policy.name} blacklists it",
                )
            )
    if (
        policy.family == "musl"
        and report.elf_class == 32
        and policy.version < time64_musllinux()
        and any(time64_pattern().fullmatch(s.encode()) for s in report.policy_symbols)
    ):
        names = [s for s in report.policy_symbols if time64_pattern().fullmatch(s.encode())]
        out.append(
            Cause(
                report.path,
                "symbol",
                f"{names[0]} (64-bit time_t, musl 1.2)",
                f"{policy.name} has musl 1.1",
            )
        )
    if report.isa is not None:
        out.append(
            Cause(report.path, "isa", report.isa, f"{policy.name} guarantees only the baseline ISA")
        )
    return out


def _version_causes(report: FileReport, policy: Policy, bundle: Bundle) -> list[Cause]:
    worst: dict[str, tuple[tuple[int, ...], str, str]] = {}
    for lib, names in report.symbol_versions:
        if bundle.resolves(report, lib):
            continue
        for name in names:
            namespace, version = namespace_of(name)
            allowed = policy.symbol_versions.get(namespace)
            if allowed is None or version in allowed or not owns(namespace, lib):
                continue
            key = version_key(version) or (1 << 62,)
            if namespace not in worst or key > worst[namespace][0]:
                worst[namespace] = (key, name, lib)
    out = []
    for namespace in sorted(worst):
        _, name, lib = worst[namespace]
        allowed = policy.symbol_versions[namespace]
        top = max(allowed, key=lambda v: version_key(v) or (0,), default=None)
        have = f"up to {top}" if top is not None else "no version"
        out.append(
            Cause(
                report.path,
                "version",
                f"{name} from {lib}",
                f"{policy.name} allows {namespace} {have}",
            )
        )
    return out


def wheel_family(reports: Sequence[FileReport], declared: Iterable[Optional[str]]) -> Optional[str]:
    """The libc family of a wheel: the one its dynamically linked binaries are built for (a
    module that needs only a bundled library counts through that library); else the family
    its tags declare."""
    families = {r.family for r in reports if r.family and r.linkage == "dynamic"}
    if len(families) == 1:
        return families.pop()
    if families:
        return None
    named = {f for f in declared if f}
    return named.pop() if len(named) == 1 else None


def lowest_policy(
    reports: Sequence[FileReport], family: Optional[str], arch: str, bundle: Bundle
) -> tuple[Optional[Policy], dict[str, list[Cause]]]:
    """The oldest policy of ``family`` for ``arch`` that admits every report, and the causes
    each refusing policy gave (by policy name)."""
    refused: dict[str, list[Cause]] = {}
    for policy in policies_for(family or "", arch):
        found = [c for r in reports for c in causes(r, policy, bundle)]
        if not found:
            return policy, refused
        refused[policy.name] = found
    return None, refused


def policy_tag(policy: Policy, reports: Sequence[FileReport]) -> str:
    """The tag a policy's verdict names. For Android, the API level is also the newest any
    binary's ident note names (it was built for that level and may use what it added); the
    policy files list only the levels where the libraries changed."""
    if policy.family != "bionic":
        return policy.name
    level = max([policy.version[0], *(r.android_api for r in reports if r.android_api)])
    from .._tags import ANDROID_ABIS

    return f"android_{level}_{ANDROID_ABIS[policy.arch]}"


def wheel_requires(reports: Sequence[FileReport], bundle: Bundle) -> tuple[tuple[str, str], ...]:
    """The highest version per namespace needed from libraries the wheel does not ship."""
    return highest_per_namespace(
        (lib, name)
        for r in reports
        for lib, names in r.symbol_versions
        if not bundle.resolves(r, lib)
        for name in names
    )


def external_libraries(
    reports: Sequence[FileReport], family: Optional[str], arch: str, bundle: Bundle
) -> tuple[str, ...]:
    """Libraries needed that are neither shipped in the wheel nor provided by the newest
    policy of the family (nor the loader), sorted."""
    newest = policies_for(family or "", arch)[-1:] if family else ()
    out = set()
    for r in reports:
        for name in r.needed:
            if is_loader(name) or bundle.resolves(r, name):
                continue
            if family == Family.MUSL.value and MUSL_BUILTIN.fullmatch(name):
                continue
            if newest and newest[0].allows_library(name):
                continue
            out.add(name)
    return tuple(sorted(out))
