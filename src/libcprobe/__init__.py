"""libcprobe: which C library does this Python (or program, or root filesystem) run on?

Reads ELF files itself and never runs them (unless asked to), so it also works for static
interpreters, foreign architectures, sysroots and container images.

>>> import libcprobe
>>> info = libcprobe.detect()            # the running interpreter      # doctest: +SKIP
>>> info.family, str(info.version), info.platform_tags()[:2]         # doctest: +SKIP
(<Family.GLIBC: 'glibc'>, '2.36', ['manylinux_2_36_x86_64', 'manylinux_2_35_x86_64'])

Only the error classes load with ``import libcprobe``; everything else loads on first use
(PEP 562), so an installer that only calls :func:`detect` pays for nothing else.
"""

from __future__ import annotations

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
    ZipError,
)

TYPE_CHECKING = False  # not `from typing import ...`: typing costs milliseconds to import
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from ._detect import clear_cache, detect
    from ._elf import MAX_BYTES_PER_FILE
    from ._model import Evidence, Family, LibcInfo, LibcVersion
    from .audit._inspect import FileReport, inspect

__version__ = "0.2.0"

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
    "ZipError",
    "__version__",
    "clear_cache",
    "detect",
    "inspect",
]

_LAZY = {
    "Evidence": "._model",
    "Family": "._model",
    "LibcInfo": "._model",
    "LibcVersion": "._model",
    "detect": "._detect",
    "clear_cache": "._detect",
    "inspect": ".audit._inspect",
    "FileReport": ".audit._inspect",
    "MAX_BYTES_PER_FILE": "._elf",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'libcprobe' has no attribute {name!r}")
    __import__(__name__ + module, fromlist=["_"])
    import sys

    value = getattr(sys.modules[__name__ + module], name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
