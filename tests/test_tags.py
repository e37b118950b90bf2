"""Platform tags equal packaging's when packaging is told the same libc facts."""

from __future__ import annotations

import sys
import sysconfig
import types
from typing import Optional

import pytest
from packaging import __version__ as packaging_version
from packaging import _manylinux, _musllinux, tags

from libcprobe import Family, LibcInfo, LibcVersion


def _linux_first() -> bool:
    """packaging 26.3 moved linux_<arch> first; older releases list it last."""
    return tuple(int(p) for p in packaging_version.split(".")[:2]) >= (26, 3)


LINUX_FIRST = _linux_first()

ARCHS = [
    "x86_64",
    "i686",
    "aarch64",
    "armv7l",
    "ppc64le",
    "ppc64",
    "s390x",
    "riscv64",
    "loongarch64",
]


def packaging_tags(
    monkeypatch: pytest.MonkeyPatch,
    arch: str,
    glibc: Optional[tuple[int, int]] = None,
    musl: Optional[tuple[int, int]] = None,
) -> list[str]:
    """What packaging lists on a machine whose facts are these (no file is read)."""
    with monkeypatch.context() as m:
        m.setattr(sysconfig, "get_platform", lambda: f"linux-{arch}")
        m.setattr(_manylinux, "_get_glibc_version", lambda: glibc or (-1, -1))
        # packaging checks armv7l hard-float / i686 from the interpreter's ELF header; the
        # facts say the interpreter is of `arch`.
        m.setattr(
            _manylinux,
            "_have_compatible_abi",
            lambda exe, archs: (
                glibc is not None
                and (
                    arch in archs
                    and arch
                    in {
                        "x86_64",
                        "i686",
                        "aarch64",
                        "armv7l",
                        "ppc64",
                        "ppc64le",
                        "s390x",
                        "loongarch64",
                        "riscv64",
                    }
                )
            ),
        )
        m.setattr(
            _musllinux,
            "_get_musl_version",
            lambda exe: _musllinux._MuslVersion(*musl) if musl else None,
        )
        return list(tags._linux_platforms(is_32bit=False))


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("minor", [5, 12, 16, 17, 18, 28, 31, 36, 41])
def test_manylinux_parity(monkeypatch: pytest.MonkeyPatch, arch: str, minor: int) -> None:
    info = LibcInfo(
        family=Family.GLIBC,
        version=LibcVersion((2, minor)),
        arch=arch,
        linkage="dynamic",
        can_load_extensions=True,
    )
    theirs = packaging_tags(monkeypatch, arch, glibc=(2, minor))
    assert info.platform_tags(linux_first=LINUX_FIRST) == theirs
    # The other order is the same list with linux_<arch> moved to the other end.
    linux = [t for t in theirs if t.startswith("linux_")]
    rest = [t for t in theirs if not t.startswith("linux_")]
    other = info.platform_tags(linux_first=not LINUX_FIRST)
    assert other == (rest + linux if LINUX_FIRST else linux + rest)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("version", [(1, 0), (1, 1), (1, 2), (1, 2, 5)])
def test_musllinux_parity(
    monkeypatch: pytest.MonkeyPatch, arch: str, version: tuple[int, ...]
) -> None:
    info = LibcInfo(
        family=Family.MUSL,
        version=LibcVersion(version),
        arch=arch,
        linkage="dynamic",
        can_load_extensions=True,
    )
    theirs = packaging_tags(monkeypatch, arch, musl=(version[0], version[1]))
    assert info.platform_tags(linux_first=LINUX_FIRST) == theirs


def test_legacy_aliases_follow_their_version() -> None:
    info = LibcInfo(
        family="glibc", version=LibcVersion((2, 17)), arch="x86_64", can_load_extensions=True
    )
    got = info.platform_tags(linux_first=False)
    assert got[:2] == ["manylinux_2_17_x86_64", "manylinux2014_x86_64"]
    assert "manylinux2010_x86_64" in got and "manylinux1_x86_64" in got
    assert got[-1] == "linux_x86_64"
    assert info.platform_tags() == ["linux_x86_64", *got[:-1]]
    aarch = LibcInfo(
        family="glibc", version=LibcVersion((2, 17)), arch="aarch64", can_load_extensions=True
    ).platform_tags()
    assert aarch == ["linux_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64"]


def test_static_interpreter_gets_no_tags() -> None:
    info = LibcInfo(family="musl", arch="x86_64", linkage="static", can_load_extensions=False)
    assert info.platform_tags() == []


def test_soft_float_arm_and_x32() -> None:
    soft = LibcInfo(
        family="glibc", version=LibcVersion((2, 36)), arch="armv5tel", can_load_extensions=True
    )
    assert soft.platform_tags() == ["linux_armv5tel"]
    x32 = LibcInfo(
        family="glibc", version=LibcVersion((2, 36)), arch="x32", can_load_extensions=True
    )
    assert x32.platform_tags() == ["linux_x32"]


def test_android_tags_pep738() -> None:
    info = LibcInfo(
        family="bionic", version=LibcVersion((24,)), arch="aarch64", can_load_extensions=True
    )
    got = info.platform_tags()
    assert got[0] == "android_24_arm64_v8a" and got[-1] == "android_16_arm64_v8a"
    assert len(got) == 9


def test_manylinux_module_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """PEP 600: a `_manylinux` module's manylinux_compatible() vetoes tags (running only)."""
    fake = types.ModuleType("_manylinux")
    fake.manylinux_compatible = lambda major, minor, arch: minor <= 28  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "_manylinux", fake)
    monkeypatch.setattr(sysconfig, "get_platform", lambda: "linux-x86_64")
    running = LibcInfo(
        family="glibc",
        version=LibcVersion((2, 36)),
        arch="x86_64",
        can_load_extensions=True,
        running=True,
    )
    ours = running.platform_tags(linux_first=LINUX_FIRST)
    assert "manylinux_2_29_x86_64" not in ours and "manylinux_2_28_x86_64" in ours
    cached = getattr(_manylinux, "_get_manylinux_module", None)
    if cached is not None and hasattr(cached, "cache_clear"):  # packaging >= 26.3 caches it
        cached.cache_clear()
    with monkeypatch.context() as m:
        m.setattr(_manylinux, "_get_glibc_version", lambda: (2, 36))
        m.setattr(_manylinux, "_have_compatible_abi", lambda exe, archs: True)
        m.setattr(_musllinux, "_get_musl_version", lambda exe: None)
        theirs = list(tags._linux_platforms(is_32bit=False))
    if cached is not None and hasattr(cached, "cache_clear"):
        cached.cache_clear()
    assert ours == theirs
    # Legacy flags: manylinux1_compatible = False drops only manylinux1 / 2.5.
    legacy = types.ModuleType("_manylinux")
    legacy.manylinux1_compatible = False  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "_manylinux", legacy)
    got = running.platform_tags()
    assert "manylinux1_x86_64" not in got and "manylinux_2_5_x86_64" not in got
    assert "manylinux2010_x86_64" in got
    # Not running: the module is not consulted.
    file_info = LibcInfo(
        family="glibc", version=LibcVersion((2, 36)), arch="x86_64", can_load_extensions=True
    )
    assert "manylinux1_x86_64" in file_info.platform_tags()


def test_running_interpreter_matches_packaging() -> None:
    import libcprobe

    libcprobe.clear_cache()
    ours = libcprobe.detect().platform_tags(linux_first=LINUX_FIRST)
    assert ours == list(tags.platform_tags())
