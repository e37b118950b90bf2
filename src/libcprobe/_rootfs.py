"""Paths inside a ``root=`` directory, resolved as a process chrooted there would see them.

Symbolic links are followed one component at a time: an absolute target restarts at the root,
``..`` at the root stays at the root (as under ``chroot``), so no link can lead out of it.
Loops and long chains stop after :data:`MAX_SYMLINK_HOPS` hops with :class:`RootError`.
"""

from __future__ import annotations

import os
import stat
from collections import deque
from typing import Optional

from ._errors import RootError

__all__ = ["MAX_SYMLINK_HOPS", "resolve_in_root"]

#: Symbolic links followed while resolving one path (Linux's own limit is 40).
MAX_SYMLINK_HOPS = 40


def resolve_in_root(root: str, path: str) -> str:
    """The host path of ``path`` (as seen inside ``root``), symlinks resolved inside ``root``.

    The result always lies inside ``root``. A component that does not exist ends the walk;
    the rest is appended unresolved (opening it then fails with a clear error)."""
    pending = deque(path.split("/"))
    inside: list[str] = []
    hops = 0
    while pending:
        part = pending.popleft()
        if part in ("", "."):
            continue
        if part == "..":
            if inside:
                inside.pop()
            continue
        host = os.path.join(root, *inside, part)
        try:
            mode = os.lstat(host).st_mode
        except OSError:
            inside.append(part)
            inside.extend(p for p in pending if p not in ("", "."))
            break
        if not stat.S_ISLNK(mode):
            inside.append(part)
            continue
        hops += 1
        if hops > MAX_SYMLINK_HOPS:
            raise RootError(f"more than {MAX_SYMLINK_HOPS} symbolic links (a loop?)", path)
        try:
            target = os.readlink(host)
        except OSError as exc:
            raise RootError(f"cannot read symbolic link {host}: {exc.strerror}", path) from None
        if target.startswith("/"):
            inside.clear()
        pending.extendleft(reversed(target.split("/")))
    return os.path.join(root, *inside) if inside else root


def exists_in_root(root: Optional[str], path: str) -> Optional[str]:
    """The host path of ``path`` when it resolves to a regular file, else None. Without a
    root, the path itself (symlinks followed by the OS)."""
    try:
        host = resolve_in_root(root, path) if root is not None else path
        return host if stat.S_ISREG(os.stat(host).st_mode) else None
    except (OSError, RootError):
        return None
