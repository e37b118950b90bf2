"""Per-wheel summary: the platform tags a wheel declares against what its binaries need."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Sequence
from typing import Any, NamedTuple, Optional

from ._errors import LibcprobeError
from ._tags import ANDROID_ABIS, LEGACY_MANYLINUX, manylinux_floor
from ._tree import Item
from ._wheel import open_wheel, parse_wheel_name

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
    """What a wheel declares and what its binaries justify.

    ``declared``: platform tags from the file name; ``metadata``: the ``Tag:`` lines of its
    ``WHEEL`` file; ``family``/``arch``: of its binaries (``"mixed"`` when they differ);
    ``glibc_requires``: the highest ``GLIBC_`` version any binary needs (bundled ``.libs``
    included); ``justified``: the most specific manylinux tag the binaries justify (None for
    musl, whose binaries carry no version needs); ``problems``: one sentence each.
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (tuples become lists)."""
        out: dict[str, Any] = self._asdict()
        for key in ("declared", "metadata", "problems"):
            out[key] = list(out[key])
        return out


def _wheel_metadata_tags(path: str) -> tuple[str, ...]:
    try:
        with open_wheel(path) as zf:
            for info in zf.infolist():
                parts = info.filename.split("/")
                if (
                    len(parts) == 2
                    and parts[0].endswith(".dist-info")
                    and parts[1] == "WHEEL"
                    and info.file_size <= 1 << 16
                ):
                    text = zf.read(info).decode("utf-8", "replace")
                    return tuple(
                        line.split(":", 1)[1].strip()
                        for line in text.splitlines()
                        if line.startswith("Tag:")
                    )
    except (LibcprobeError, zipfile.BadZipFile, OSError, ValueError):
        return ()
    return ()


def _one(values: set[str]) -> Optional[str]:
    return None if not values else (values.pop() if len(values) == 1 else "mixed")


def summarize_wheel(path: str, items: Sequence[Item]) -> WheelSummary:
    """Summarise a wheel from the inspected items of its members."""
    name = parse_wheel_name(path)
    declared = name.platforms if name is not None else ()
    reports = [item.report for item in items if item.is_elf and item.report.ok]
    families = {r.family for r in reports if r.family}
    arches = {r.arch for r in reports if r.arch}
    needs = [
        (tuple(int(p) for p in r.glibc_requires.split(".")), r) for r in reports if r.glibc_requires
    ]
    top = max(needs, key=lambda pair: pair[0]) if needs else None
    arch = _one(set(arches))
    family = _one(set(families))
    justified = None
    if family == "glibc" and arch not in (None, "mixed"):
        floor = manylinux_floor([str(arch)])
        want = max(top[0][:2], floor) if top else floor
        justified = f"manylinux_{want[0]}_{want[1]}_{arch}"
    problems: list[str] = []
    for tag_text in declared:
        tag = parse_platform_tag(tag_text)
        if tag is None:
            if reports and tag_text == "any":
                problems.append(f"declares '{tag_text}' but holds {len(reports)} ELF binaries")
            continue
        for report in reports:
            member = report.path.split("!", 1)[-1]
            if report.arch and report.arch != tag.arch:
                problems.append(f"{tag_text}: {member} is {report.arch} code, not {tag.arch}")
            if tag.family and report.family and report.family != tag.family:
                problems.append(
                    f"{tag_text}: wrong family: {member} is built for "
                    f"{report.family} ({', '.join(report.needed) or 'static'})"
                )
            if tag.family == "glibc" and tag.version and report.glibc_requires:
                need = tuple(int(p) for p in report.glibc_requires.split("."))
                if need > tag.version:
                    problems.append(
                        f"{tag_text}: too new for its tag: {member} needs "
                        f"GLIBC_{report.glibc_requires}, the tag promises glibc "
                        f"{'.'.join(map(str, tag.version))}"
                    )
    errors = [item.report for item in items if item.is_elf and not item.report.ok]
    problems.extend(f"{r.path.split('!', 1)[-1]}: {r.error}" for r in errors)
    return WheelSummary(
        wheel=path,
        declared=tuple(declared),
        metadata=_wheel_metadata_tags(path),
        binaries=len(reports),
        family=family,
        arch=arch,
        glibc_requires=".".join(map(str, top[0])) if top else None,
        justified=justified,
        problems=tuple(dict.fromkeys(problems)),
    )
