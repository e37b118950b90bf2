"""Wheel platform tags for a :class:`LibcInfo`, in ``packaging.tags.platform_tags()`` order.

Rules, as ``packaging`` (24.x-26.x) applies them:

- PEP 600 ``manylinux_2_Y_<arch>`` from the detected glibc down to 2.5 on x86_64/i686 and to
  2.17 elsewhere, each followed by its legacy alias where one exists (PEP 513/571/599:
  ``manylinux1`` = 2.5, ``manylinux2010`` = 2.12, ``manylinux2014`` = 2.17); only for
  architectures that have manylinux wheels, armv7l only when hard-float, i686 only for
  ``EM_386`` code. For the running interpreter the ``_manylinux`` module's
  ``manylinux_compatible()`` (or the legacy ``manylinuxN_compatible`` flags) may veto a tag.
- PEP 656 ``musllinux_1_Y_<arch>`` from the detected musl minor down to ``musllinux_1_0``.
- PEP 738 ``android_<api>_<abi>`` from the API level down to 16 (and nothing else).
- ``linux_<arch>``: first, as ``packaging`` 26.3 and later order it (a wheel built on this very
  machine is the most specific match, pypa/packaging#160), or last, as ``packaging`` 26.2 and
  older and pip's vendored copy order it (``linux_first=False``).

Deliberate differences from ``packaging``: a program that cannot load extension modules (a
static interpreter) gets no tag at all; x32 gets only ``linux_x32`` (``packaging`` offers i686
wheels there, which cannot load).
"""

from __future__ import annotations

import sys

from ._model import Family, LibcInfo

TYPE_CHECKING = False  # typing and collections.abc only for type checkers: see _records.py
if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional

__all__ = ["manylinux_floor", "platform_tags"]

_MANYLINUX_ARCHS = {
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
LEGACY_MANYLINUX = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}
# packaging assumes every older glibc major ended at minor 50 (defaultdict(lambda: 50)).
_LAST_GLIBC_MINOR = 50
ANDROID_ABIS = {"aarch64": "arm64_v8a", "armv7l": "armeabi_v7a", "i686": "x86", "x86_64": "x86_64"}
_ANDROID_MIN_API = 16


def manylinux_floor(archs: list[str]) -> tuple[int, int]:
    """The oldest manylinux glibc ``packaging`` lists: 2.5 with x86, else 2.17."""
    return (2, 5) if set(archs) & {"x86_64", "i686"} else (2, 17)


#: Version parts above this give no tags beyond it (no real libc is near: glibc is 2.x, musl
#: 1.x); keeps a hand-made LibcVersion from asking for millions of tags.
MAX_VERSION_PART = 999


def platform_tags(info: LibcInfo, *, linux_first: bool = True) -> list[str]:
    """See :meth:`LibcInfo.platform_tags`."""
    if info.version is not None and max(info.version.release) > MAX_VERSION_PART:
        return []
    if info.can_load_extensions is False or info.arch is None:
        return []
    archs = _running_archs(info) if info.running else [info.arch]
    if info.family is Family.BIONIC:
        abi = ANDROID_ABIS.get(info.arch)
        if abi is None or info.version is None:
            return []
        return [
            f"android_{api}_{abi}" for api in range(info.version.major, _ANDROID_MIN_API - 1, -1)
        ]
    if info.arch == "x32":
        return ["linux_x32"]
    linux = [f"linux_{arch}" for arch in archs]
    tags: list[str] = list(linux) if linux_first else []
    if info.family is Family.GLIBC and info.version is not None:
        tags.extend(_manylinux(info, archs))
    elif info.family is Family.MUSL and info.version is not None:
        for arch in archs:
            major, minor = info.version.major, info.version.minor
            tags.extend(f"musllinux_{major}_{m}_{arch}" for m in range(minor, -1, -1))
    if not linux_first:
        tags.extend(linux)
    return tags


def _running_archs(info: LibcInfo) -> list[str]:
    # packaging derives the arch from sysconfig.get_platform() (the kernel's machine), with a
    # 32-bit interpreter on a 64-bit kernel mapped to i686 / armv8l (+armv7l).
    platform = _get_platform().replace("-", "_").replace(".", "_")
    if not platform.startswith("linux_"):
        return [str(info.arch)]
    arch = platform.split("_", 1)[1]
    if sys.maxsize <= 2**32:
        arch = {"x86_64": "i686", "aarch64": "armv8l"}.get(arch, arch)
    elif info.arch in ("x86_64", "aarch64") and arch != info.arch:
        # A 64-bit interpreter under `linux32` (uname says i686 / armv8l): its code decides.
        return [str(info.arch)]
    return ["armv8l", "armv7l"] if arch == "armv8l" else [arch]


def _get_platform() -> str:
    """``sysconfig.get_platform()``. When sysconfig is not loaded yet, on Linux it is computed
    the way sysconfig does it (``os.uname()``'s system and machine) instead of importing it,
    which on Python 3.12+ also loads threading, collections and functools."""
    import os

    loaded = sys.modules.get("sysconfig")  # already imported: ask it (it is what packaging asks)
    if loaded is not None:
        return str(loaded.get_platform())
    if sys.platform != "linux" or "_PYTHON_HOST_PLATFORM" in os.environ or not hasattr(os, "uname"):
        import sysconfig

        return sysconfig.get_platform()
    uname = os.uname()
    system = uname.sysname.lower().replace("/", "")
    machine = uname.machine.replace(" ", "_").replace("/", "-")
    return f"{system}-{machine}"


def _manylinux(info: LibcInfo, archs: list[str]) -> list[str]:
    assert info.version is not None
    if not _compatible_abi(info, archs):
        return []
    current = (info.version.major, info.version.minor)
    floor = manylinux_floor(archs)
    maxima = [current] + [(major, _LAST_GLIBC_MINOR) for major in range(current[0] - 1, 1, -1)]
    override = _manylinux_module() if info.running else None
    tags: list[str] = []
    for arch in archs:
        for major, top in maxima:
            low = floor[1] - 1 if major == floor[0] else -1
            if override is None:  # every version up to the current one is allowed
                tags.extend(_manylinux_run(arch, major, top, low))
                continue
            for minor in range(top, low, -1):
                version = (major, minor)
                if _allowed(override, arch, version, current):
                    tags.append(f"manylinux_{major}_{minor}_{arch}")
                    legacy = LEGACY_MANYLINUX.get(version)
                    if legacy is not None:
                        tags.append(f"{legacy}_{arch}")
    return tags


def _manylinux_run(arch: str, major: int, top: int, low: int) -> list[str]:
    """``manylinux_<major>_<minor>_<arch>`` for minor from ``top`` down to ``low + 1``, each
    legacy alias right after its version."""
    # str.__mod__ through map formats each name in C, without a Python step per tag.
    pattern = f"manylinux_{major}_%d_{arch.replace('%', '%%')}"
    run = list(map(pattern.__mod__, range(top, low, -1)))
    # From the oldest (the end of the run) up, so an insertion moves no later position.
    for (legacy_major, minor), legacy in sorted(LEGACY_MANYLINUX.items()):
        if legacy_major == major and low < minor <= top:
            run.insert(top - minor + 1, f"{legacy}_{arch}")
    return run


def _compatible_abi(info: LibcInfo, archs: list[str]) -> bool:
    # packaging checks the interpreter's ELF header for armv7l (hard-float EABI5) and i686
    # (EM_386); libcprobe's arch already encodes both checks.
    if "armv7l" in archs:
        return info.arch == "armv7l"
    if "i686" in archs:
        return info.arch == "i686"
    return any(arch in _MANYLINUX_ARCHS for arch in archs)


def _manylinux_module() -> Optional[object]:
    # PEP 600: a `_manylinux` module importable by the interpreter may override compatibility.
    try:
        import _manylinux  # type: ignore[import-not-found]
    except ImportError:
        return None
    return _manylinux  # type: ignore[no-any-return]


def _allowed(
    module: Optional[object], arch: str, version: tuple[int, int], current: tuple[int, int]
) -> bool:
    if current < version:
        return False
    if module is None:
        return True
    decide = getattr(module, "manylinux_compatible", None)
    if decide is not None:
        result = decide(version[0], version[1], arch)
        return True if result is None else bool(result)
    legacy = {
        (2, 5): "manylinux1_compatible",
        (2, 12): "manylinux2010_compatible",
        (2, 17): "manylinux2014_compatible",
    }.get(version)
    if legacy is not None and hasattr(module, legacy):
        return bool(getattr(module, legacy))
    return True
