"""``libcprobe.detect()``: which C library a program runs on, and how we know.

This module is the entry: the cache, the ``LIBCPROBE_LIBC`` override, and which question to
ask. Each question has its module, and all end in one per-program routine:

- the running interpreter (``executable=None``, ``root=None``): :mod:`._process`, what the
  process really runs (``/proc/self/exe``), ``confstr`` for glibc, the loader it names (and,
  failing that, the libc mapped in ``/proc/self/maps``) for musl;
- a program (``executable=PATH``): :mod:`._program`, the routine itself (``#!`` scripts
  followed; the libc files it loads read by :mod:`._libc_files`, a gcompat shim by
  :mod:`._shim`);
- a root filesystem (``root=DIR``): :mod:`._root`, paths and symlinks resolved inside ``DIR``
  by one :class:`~._rootfs.Root`.

Nothing is executed unless ``allow_execute=True``, and then only to cross-check.
"""

from __future__ import annotations

import os
from _thread import allocate_lock  # not threading: that loads a dozen modules for one lock

from ._errors import OverrideError
from ._model import EvidenceLog, Family, LibcInfo, LibcVersion
from ._process import detect_running, running_arch
from ._program import Ask, detect_program
from ._rootfs import HOST

TYPE_CHECKING = False  # typing and collections.abc only for type checkers: see _records.py
if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional, Union

__all__ = ["ENV_OVERRIDE", "clear_cache", "detect"]

ENV_OVERRIDE = "LIBCPROBE_LIBC"

_cache: dict[tuple[Optional[str], Optional[str], bool, Optional[str]], LibcInfo] = {}
_lock = allocate_lock()


def clear_cache() -> None:
    """Forget every cached :func:`detect` result."""
    with _lock:
        _cache.clear()


def detect(
    executable: Optional[Union[str, os.PathLike[str]]] = None,
    *,
    root: Optional[Union[str, os.PathLike[str]]] = None,
    allow_execute: bool = False,
) -> LibcInfo:
    """Detect the C library a program runs on.

    Args:
        executable: a program; None for the running interpreter (or, with ``root``, the first
            dynamically linked of ``/usr/bin/python3``, ``/usr/local/bin/python3``, ``/bin/sh``
            and a few more found in the root: ``libcprobe._root.ROOT_PROGRAMS``).
        root: treat this directory as ``/`` (an unpacked image, a sysroot, a chroot).
        allow_execute: allow running a musl loader to cross-check its version (the way
            ``packaging`` does). Off by default; the bytes decide whenever they answer.

    Returns a :class:`LibcInfo`; ``family`` is None when no libc is found (including not
    Linux, or a file that is not ELF), with evidence saying why. Results are cached per
    arguments; see :func:`clear_cache`.

    Raises :class:`OverrideError` for a malformed ``LIBCPROBE_LIBC`` (an empty one is the same
    as unset), :class:`RootError` for
    a ``root`` that is not a directory or a symlink loop inside it, and
    :class:`FileAccessError` for an ``executable`` that cannot be read at all.
    """
    exe = os.fspath(executable) if executable is not None else None
    root_dir = os.fspath(root) if root is not None else None
    override = os.environ.get(ENV_OVERRIDE) if exe is None and root_dir is None else None
    if override is not None and not override.strip():
        override = None  # set but empty (LIBCPROBE_LIBC=): the same as unset
    key = (exe, root_dir, allow_execute, override)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    if root_dir is not None:
        from ._root import detect_root  # only roots need it, not detect() of this process

        info = detect_root(root_dir, exe, allow_execute)
    elif exe is not None:
        info = detect_program(exe, exe, Ask(HOST, allow_execute), EvidenceLog())
    elif override is not None:
        info = _from_override(override)
    else:
        info = detect_running(allow_execute)
    with _lock:
        _cache[key] = info
    return info


# -- the override ------------------------------------------------------------------------


def _from_override(value: str) -> LibcInfo:
    """The answer ``LIBCPROBE_LIBC`` gives (``musl-1.2``, ``glibc``, ``none``)."""
    text = value.strip().lower()
    ev = EvidenceLog()
    ev.family(text, "env", None, f"{ENV_OVERRIDE}={value!r}")
    arch = running_arch()
    if text == "none":
        return LibcInfo(family=None, arch=arch, evidence=ev.items, running=True)
    family_text, _, version_text = text.partition("-")
    try:
        family = Family(family_text)
    except ValueError:
        raise OverrideError(
            f"{ENV_OVERRIDE}={value!r}: the family must be one of "
            f"{', '.join(f.value for f in Family)} or 'none' (e.g. musl-1.2, glibc-2.28, none)"
        ) from None
    if text.endswith("-"):
        raise OverrideError(f"{ENV_OVERRIDE}={value!r}: a version must follow the '-'")
    version = _override_version(value, version_text) if version_text else None
    if version is not None:
        ev.version(version, "env", None, f"{ENV_OVERRIDE}={value!r}")
    return LibcInfo(
        family=family,
        version=version,
        linkage="dynamic",
        arch=arch,
        can_load_extensions=True,
        evidence=ev.items,
        running=True,
    )


def _override_version(value: str, version_text: str) -> LibcVersion:
    parts = version_text.split(".")  # \d{1,3}(\.\d{1,3}){0,2}, without re
    try:
        if len(parts) > 3 or not all(p.isdecimal() and len(p) <= 3 for p in parts):
            raise ValueError(version_text)
        return LibcVersion.parse(version_text)
    except ValueError:
        raise OverrideError(
            f"{ENV_OVERRIDE}={value!r}: {version_text!r} is not a version like 1.2 or 2.28"
        ) from None
