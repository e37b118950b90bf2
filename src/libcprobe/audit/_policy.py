"""Wheel policies as data: what each manylinux, musllinux and android tag lets a wheel's
binaries need from the system.

The facts live in ``_policy_data.json`` next to this module: its ``auditwheel`` part is
auditwheel's published policy files (the version is named in the file; ``scripts/make-policy``
regenerates it from an installed auditwheel and ``tests/test_policy.py`` checks they agree), its
``libcprobe`` part is libcprobe's own (each entry names its source). Loaded on first use only:
nothing here is on the :func:`~libcprobe.detect` path.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple, Optional

__all__ = [
    "Policy",
    "auditwheel_version",
    "blacklisted_symbols",
    "isa_covers",
    "isa_from_flags",
    "namespace_of",
    "owns",
    "policies_for",
    "policy_named",
    "time64_musllinux",
    "time64_pattern",
    "version_key",
]

_DATA = Path(__file__).with_name("_policy_data.json")


class Policy(NamedTuple):
    """One platform tag's policy for one architecture.

    ``name``: the tag (``manylinux_2_17_x86_64``); ``family``: ``glibc``, ``musl`` or
    ``bionic``; ``version``: the glibc or musl version, or the Android API level;
    ``symbol_versions``: namespace -> the version names allowed (``{"GLIBC": {"2.17", ...}}``;
    a namespace not listed is not limited); ``whitelist``: the libraries the system provides;
    ``blacklist``: library -> symbols that must not be imported from it."""

    name: str
    family: str
    version: tuple[int, ...]
    arch: str
    aliases: tuple[str, ...]
    symbol_versions: Mapping[str, frozenset[str]]
    whitelist: frozenset[str]
    blacklist: Mapping[str, frozenset[str]]

    def allows_library(self, name: str) -> bool:
        """The library is one the system provides under this policy (libpython too, on
        Android)."""
        if name in self.whitelist:
            return True
        return self.family == "bionic" and _libpython().fullmatch(name) is not None


@functools.cache
def _data() -> dict[str, Any]:
    with open(_DATA, encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def _own() -> dict[str, Any]:
    own: dict[str, Any] = _data()["libcprobe"]
    return own


def auditwheel_version() -> str:
    """The auditwheel release the policy data was taken from."""
    return str(_data()["auditwheel"]["version"])


@functools.cache
def _libpython() -> re.Pattern[str]:
    return re.compile(_own()["android"]["libpython"])


@functools.cache
def time64_pattern() -> re.Pattern[bytes]:
    """musl 1.2's 64-bit ``time_t`` symbol names (on 32-bit architectures)."""
    return re.compile(_own()["musl_time64"]["pattern"].encode())


def time64_musllinux() -> tuple[int, ...]:
    """The musllinux version a 32-bit binary importing a time64 symbol needs."""
    return tuple(_own()["musl_time64"]["musllinux"])


@functools.cache
def _owners() -> dict[str, tuple[str, ...]]:
    table = _own()["namespace_owners"]
    return {ns: tuple(libs) for ns, libs in table.items() if not ns.startswith("_")}


def namespace_of(version_name: str) -> tuple[str, str]:
    """``"GLIBCXX_3.4.30"`` -> ``("GLIBCXX", "3.4.30")``: the namespace is the part before the
    first underscore (auditwheel's rule); a name without one is its own namespace."""
    namespace, _, version = version_name.partition("_")
    return namespace, version


@functools.lru_cache(maxsize=4096)
def owns(namespace: str, library: str) -> bool:
    """Whether a version need on ``library`` counts for ``namespace``: for a namespace with a
    known owner (``GLIBC``: glibc's own libraries; ``GCC``: ``libgcc_s.so.1``; ...) only when
    the library is the owner, for any other namespace always."""
    owners = _owners().get(namespace)
    if owners is None:
        return True
    return any(fnmatch.fnmatchcase(library, pattern) for pattern in owners)


def version_key(version: str) -> Optional[tuple[int, ...]]:
    """``"3.4.30"`` -> ``(3, 4, 30)``; None for names that are not numbers (``PRIVATE``)."""
    parts = version.split(".")
    if not all(p.isascii() and p.isdigit() and len(p) <= 9 for p in parts):
        return None
    return tuple(int(p) for p in parts)


_KINDS = {"glibc": "manylinux", "musl": "musllinux", "bionic": "android"}


@functools.cache
def policies_for(family: str, arch: str) -> tuple[Policy, ...]:
    """The policies of a family (``glibc``, ``musl``, ``bionic``) that exist for ``arch``,
    oldest (most compatible) first."""
    kind = _KINDS.get(family)
    if kind is None:
        return ()
    out = [p for p in (_build(raw, family, arch) for raw in _data()["auditwheel"][kind]) if p]
    return tuple(sorted(out, key=lambda p: p.version))


def _build(raw: dict[str, Any], family: str, arch: str) -> Optional[Policy]:
    versions = raw["symbol_versions"]
    if family == "bionic":
        # The stable system libraries do not depend on the ABI: every PEP 738 ABI gets them.
        if arch not in _own()["android"]["archs"]:
            return None
        versions = {arch: {}}
    if arch not in versions:
        return None
    numbers = tuple(int(n) for n in re.findall(r"\d+", raw["name"]))
    whitelist = set(raw["lib_whitelist"])
    if family == "musl":
        soname = _own()["musl_libc_sonames"].get(arch)
        if soname:
            whitelist.add(soname)
    tag_arch = arch
    if family == "bionic":
        from .._tags import ANDROID_ABIS

        tag_arch = ANDROID_ABIS[arch]
    return Policy(
        name=f"{raw['name']}_{tag_arch}",
        family=family,
        version=numbers,
        arch=arch,
        aliases=tuple(f"{a}_{tag_arch}" for a in raw["aliases"]),
        symbol_versions={ns: frozenset(v) for ns, v in versions[arch].items()},
        whitelist=frozenset(whitelist),
        blacklist={lib: frozenset(s) for lib, s in raw["blacklist"].items()},
    )


def policy_named(family: str, arch: str, version: tuple[int, ...]) -> Optional[Policy]:
    """The policy a tag of ``family``/``arch``/``version`` is judged by: the newest policy at
    or below that version (PEP 600 tags may name a glibc between two policies; the android
    policies list only the API levels where the libraries changed); None when there is none."""
    older = [p for p in policies_for(family, arch) if p.version <= version]
    return older[-1] if older else None


def blacklisted_symbols(needed: Iterable[str]) -> frozenset[bytes]:
    """The symbols some policy blacklists from any of the ``needed`` libraries, as bytes."""
    table = _blacklist_table()
    out: set[bytes] = set()
    for lib in needed:
        out.update(table.get(lib, ()))
    return frozenset(out)


@functools.cache
def _blacklist_table() -> dict[str, frozenset[bytes]]:
    table: dict[str, set[bytes]] = {}
    for kind in _KINDS.values():
        for raw in _data()["auditwheel"][kind]:
            for lib, symbols in raw["blacklist"].items():
                table.setdefault(lib, set()).update(s.encode() for s in symbols)
    return {lib: frozenset(names) for lib, names in table.items()}


def isa_from_flags(flags: Iterable[str]) -> str:
    """The highest x86-64 ISA level whose every CPU flag (as ``/proc/cpuinfo`` names them)
    is in ``flags``; ``"x86-64"`` (the baseline) when not even v2's are."""
    have = set(flags)
    level = "x86-64"
    for name, needed in _own()["x86_isa_levels"]["levels"]:
        if not have.issuperset(needed):
            break
        level = name
    return level


def isa_covers(have: str, need: str) -> bool:
    """A CPU of level ``have`` runs code built for level ``need``."""
    order = ["x86-64"] + [name for name, _ in _own()["x86_isa_levels"]["levels"]]
    return need not in order or (have in order and order.index(have) >= order.index(need))
