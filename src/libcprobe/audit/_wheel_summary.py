"""Per-wheel summary: the platform tags a wheel declares against what its binaries need."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NamedTuple, Optional

from .._errors import LibcprobeError
from .._tags import ANDROID_ABIS, LEGACY_MANYLINUX
from ._audit import (
    Bundle,
    causes,
    external_libraries,
    lowest_policy,
    policy_tag,
    wheel_family,
    wheel_requires,
)
from ._policy import policy_named
from ._tree import Item
from ._wheel import MAX_WHEEL_MEMBERS, open_wheel, parse_wheel_name

__all__ = ["PlatformTag", "WheelSummary", "parse_platform_tag", "summarize_wheel"]

# The inverse of the tag tables in _tags: one source for each mapping.
_LEGACY = {name: version for version, name in LEGACY_MANYLINUX.items()}
_TAG_PATTERNS = (
    (re.compile(r"manylinux_(\d+)_(\d+)_(\w+)"), "glibc"),
    (re.compile(r"(manylinux1|manylinux2010|manylinux2014)_(\w+)"), "glibc-legacy"),
    (re.compile(r"musllinux_(\d+)_(\d+)_(\w+)"), "musl"),
    (re.compile(r"android_(\d+)_(\w+)"), "bionic"),
    (re.compile(r"linux_(\w+)"), "any"),
)
_ANDROID_ARCH = {abi: arch for arch, abi in ANDROID_ABIS.items()}


class PlatformTag(NamedTuple):
    """A Linux platform tag taken apart: family (None for ``linux_<arch>``), the libc version
    it promises to need at most, and the architecture."""

    tag: str
    family: Optional[str]
    version: Optional[tuple[int, ...]]
    arch: str


def parse_platform_tag(tag: str) -> Optional[PlatformTag]:
    """``manylinux_2_17_x86_64`` -> glibc (2, 17) x86_64; legacy aliases, ``musllinux``,
    ``android`` and ``linux`` tags too; None for anything else (``any``, macOS, Windows)."""
    for pattern, kind in _TAG_PATTERNS:
        match = pattern.fullmatch(tag)
        if match is None:
            continue
        if kind == "glibc":
            return PlatformTag(tag, "glibc", (int(match[1]), int(match[2])), match[3])
        if kind == "glibc-legacy":
            return PlatformTag(tag, "glibc", _LEGACY[match[1]], match[2])
        if kind == "musl":
            return PlatformTag(tag, "musl", (int(match[1]), int(match[2])), match[3])
        if kind == "bionic":
            return PlatformTag(
                tag, "bionic", (int(match[1]),), _ANDROID_ARCH.get(match[2], match[2])
            )
        return PlatformTag(tag, None, None, match[1])
    return None


class WheelSummary(NamedTuple):
    """What a wheel declares and what its binaries need.

    ``declared``: platform tags from the file name; ``metadata``: the ``Tag:`` lines of its
    ``WHEEL`` file; ``family``/``arch``: of its binaries (``"mixed"`` when they differ; a
    module that needs only a library bundled in the wheel counts through that library);
    ``policy``: the lowest standard tag whose policy admits the wheel as shipped (every symbol
    version, every ``DT_NEEDED`` bundled or provided, no blacklisted symbol, no ISA level above
    the baseline), ``linux_<arch>`` when none does, None without binaries of one
    architecture; ``requires``: the highest version per namespace (``GLIBC``, ``GLIBCXX``,
    ``CXXABI``, ``GCC``, ``ZLIB``, ...) needed from libraries the wheel does not ship
    (``{"GLIBC": "2.17"}`` in :meth:`to_dict`); ``glibc_requires``: its ``GLIBC`` entry;
    ``external``: libraries needed that are neither shipped nor provided by the newest policy
    of the family; ``justified``: the same as ``policy`` (kept for 0.1 scripts;
    deprecated); ``problems``: one sentence each, where a declared tag is not what the
    binaries need.
    """

    wheel: str
    declared: tuple[str, ...]
    metadata: tuple[str, ...]
    binaries: int
    family: Optional[str]
    arch: Optional[str]
    glibc_requires: Optional[str]
    justified: Optional[str]
    problems: tuple[str, ...]
    policy: Optional[str] = None
    requires: tuple[tuple[str, str], ...] = ()
    external: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (tuples become lists, ``requires`` a dict)."""
        out: dict[str, Any] = self._asdict()
        for key in ("declared", "metadata", "problems", "external"):
            out[key] = list(out[key])
        out["requires"] = dict(self.requires)
        return out


def _wheel_metadata_tags(path: str) -> tuple[str, ...]:
    try:
        with open_wheel(path) as zf:
            for info in zf.members(MAX_WHEEL_MEMBERS):
                parts = info.name.split("/")
                if (
                    len(parts) == 2
                    and parts[0].endswith(".dist-info")
                    and parts[1] == "WHEEL"
                    and info.size <= 1 << 16
                ):
                    text = b"".join(zf.chunks(info)).decode("utf-8", "replace")
                    return tuple(
                        line.split(":", 1)[1].strip()
                        for line in text.splitlines()
                        if line.startswith("Tag:")
                    )
    except LibcprobeError:
        return ()
    return ()


def _one(values: set[str]) -> Optional[str]:
    return None if not values else (values.pop() if len(values) == 1 else "mixed")


def summarize_wheel(path: str, items: Sequence[Item]) -> WheelSummary:
    """Summarise a wheel from the inspected items of its members."""
    name = parse_wheel_name(path)
    declared = name.platforms if name is not None else ()
    binaries = [item for item in items if item.is_elf and item.report.ok]
    reports = [item.report for item in binaries]
    bundle = Bundle(reports)
    # The tag architecture (packaging's float-ABI rule), not the CPU: an ARMv6 hard-float
    # module belongs in an armv7l wheel, an ARMv7 soft-float one does not.
    arch = _one({item.tag_arch for item in binaries if item.tag_arch})
    tags = [parse_platform_tag(t) for t in declared]
    family = wheel_family(reports, [t.family for t in tags if t is not None])
    if family is None and {r.family for r in reports if r.family}:
        family = "mixed"
    policy = None
    if arch not in (None, "mixed") and family != "mixed":
        found, _ = lowest_policy(reports, family, str(arch), bundle)
        policy = policy_tag(found, reports) if found is not None else f"linux_{arch}"
    requires = wheel_requires(reports, bundle)
    problems: list[str] = []
    for tag_text, tag in zip(declared, tags):
        problems.extend(_tag_problems(tag_text, tag, binaries, bundle))
    errors = [item.report for item in items if item.is_elf and not item.report.ok]
    problems.extend(f"{_member(r.path)}: {r.error}" for r in errors)
    return WheelSummary(
        wheel=path,
        declared=tuple(declared),
        metadata=_wheel_metadata_tags(path),
        binaries=len(reports),
        family=family,
        arch=arch,
        glibc_requires=dict(requires).get("GLIBC"),
        justified=policy,
        problems=tuple(dict.fromkeys(problems)),
        policy=policy,
        requires=requires,
        external=external_libraries(reports, family, str(arch), bundle) if arch else (),
    )


def _member(path: str) -> str:
    return path.split("!", 1)[-1]


def _tag_problems(
    tag_text: str, tag: Optional[PlatformTag], binaries: Sequence[Item], bundle: Bundle
) -> list[str]:
    if tag is None:
        if binaries and tag_text == "any":
            return [f"declares '{tag_text}' but holds {len(binaries)} ELF binaries"]
        return []
    problems = []
    policy = policy_named(tag.family, tag.arch, tag.version) if tag.family and tag.version else None
    for item in binaries:
        report = item.report
        member = _member(report.path)
        if item.tag_arch and item.tag_arch != tag.arch:
            cpu = f" (built for an {report.arch} CPU)" if report.arch != item.tag_arch else ""
            problems.append(f"{tag_text}: {member} is {item.tag_arch} code{cpu}, not {tag.arch}")
            continue
        if report.linkage == "static":
            continue  # a static program runs on any Linux of its architecture
        if tag.family and report.family and report.family != tag.family:
            problems.append(
                f"{tag_text}: wrong family: {member} is built for "
                f"{report.family} ({', '.join(report.needed) or 'static'})"
            )
            continue
        if policy is None:
            continue
        for cause in causes(report, policy, bundle):
            label = "too new for its tag: " if cause.kind == "version" else ""
            problems.append(f"{tag_text}: {label}{member} needs {cause.need}; {cause.have}")
    return problems
