"""libcprobe: which C library does this Python (or program, or root filesystem) run on?

Reads ELF files itself and never runs them (unless asked to), so it also works for static
interpreters, foreign architectures, sysroots and container images.

>>> import libcprobe
>>> info = libcprobe.detect()            # the running interpreter      # doctest: +SKIP
>>> info.family, str(info.version), info.platform_tags()[:2]         # doctest: +SKIP
(<Family.GLIBC: 'glibc'>, '2.36', ['manylinux_2_36_x86_64', 'manylinux_2_35_x86_64'])

Only :mod:`libcprobe._model` and the error classes load with ``import libcprobe``; the rest
loads on first use, so an installer that only calls :func:`detect` pays for nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._errors import (
    CorruptELFError,
    ELFError,
    FileAccessError,
    LibcprobeError,
    NotELFError,
    OverrideError,
    ReadLimitError,
    RootError,
    TruncatedELFError,
)
from ._model import Evidence, Family, LibcInfo, LibcVersion

if TYPE_CHECKING:  # pragma: no cover
    from ._detect import clear_cache, detect
    from ._elf import MAX_BYTES_PER_FILE
    from ._inspect import FileReport, inspect

__version__ = "0.1.0"

__all__ = [
    "MAX_BYTES_PER_FILE",
    "CorruptELFError",
    "ELFError",
    "Evidence",
    "Family",
    "FileAccessError",
    "FileReport",
    "LibcInfo",
    "LibcVersion",
    "LibcprobeError",
    "NotELFError",
    "OverrideError",
    "ReadLimitError",
    "RootError",
    "TruncatedELFError",
    "__version__",
    "clear_cache",
    "detect",
    "inspect",
]

_LAZY = {
    "detect": "._detect",
    "clear_cache": "._detect",
    "inspect": "._inspect",
    "FileReport": "._inspect",
    "MAX_BYTES_PER_FILE": "._elf",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'libcprobe' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
