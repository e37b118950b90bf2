"""Paths inside a ``root=`` directory, resolved as a process chrooted there would see them.

Symbolic links are followed one component at a time: an absolute target restarts at the root,
``..`` at the root stays at the root (as under ``chroot``), so no link can lead out of it.
Loops and long chains stop after :data:`MAX_SYMLINK_HOPS` hops with :class:`RootError`.
"""

from __future__ import annotations

import os
import stat

from ._errors import RootError

TYPE_CHECKING = False  # typing and collections.abc only for type checkers: see _records.py
if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional

__all__ = [
    "LIBRARY_DIRS",
    "MAX_SYMLINK_HOPS",
    "exists_in_root",
    "glob_in_root",
    "library_dirs",
    "resolve_in_root",
]

#: Symbolic links followed while resolving one path (Linux's own limit is 40).
MAX_SYMLINK_HOPS = 40
#: Standard library directories searched for libraries (after /etc/ld.so.conf's).
LIBRARY_DIRS = ("/lib64", "/usr/lib64", "/lib", "/usr/lib", "/lib32", "/usr/lib32", "/libx32")
MAX_LD_SO_CONF_FILES = 64


def resolve_in_root(root: str, path: str) -> str:
    """The host path of ``path`` (as seen inside ``root``), symlinks resolved inside ``root``.

    The result always lies inside ``root``. A component that does not exist ends the walk;
    the rest is appended unresolved (opening it then fails with a clear error)."""
    from collections import deque  # only roots need it, not detect() of this process

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
        except (OSError, ValueError):  # ValueError: a NUL byte in the name
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
    except (OSError, ValueError, RootError):
        return None


def library_dirs(root: Optional[str]) -> list[str]:
    """The directories glibc's ld.so searches, as seen inside ``root``: those of
    ``/etc/ld.so.conf`` (with its ``include`` globs, bounded), the multiarch directories, then
    the defaults."""
    dirs: list[str] = []
    seen_files: set[str] = set()

    def read_conf(conf: str, depth: int) -> None:
        if depth > 4 or len(seen_files) >= MAX_LD_SO_CONF_FILES or conf in seen_files:
            return
        seen_files.add(conf)
        host = exists_in_root(root, conf)
        if host is None:
            return
        try:
            with open(host, "rb") as f:
                text = f.read(64 * 1024).decode("utf-8", "replace")
        except OSError:
            return
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("include"):
                pattern = line[len("include") :].strip()
                for match in glob_in_root(root, pattern):
                    read_conf(match, depth + 1)
            elif line.startswith("/"):
                dirs.append(line)

    read_conf("/etc/ld.so.conf", 0)
    for extra in glob_in_root(root, "/lib/*-linux-*") + glob_in_root(root, "/usr/lib/*-linux-*"):
        dirs.append(extra)
    dirs.extend(LIBRARY_DIRS)
    return list(dict.fromkeys(dirs))[:256]


def glob_in_root(root: Optional[str], pattern: str) -> list[str]:
    """Glob a pattern (absolute, as seen inside root) whose wildcards are in the last part."""
    import fnmatch  # only roots and library searches need it, not detect() of this process

    directory, _, name = pattern.rpartition("/")
    directory = directory or "/"
    try:
        host_dir = resolve_in_root(root, directory) if root is not None else directory
        entries = sorted(os.listdir(host_dir))[:4096]
    except (OSError, ValueError, RootError):
        return []
    return [f"{directory.rstrip('/')}/{e}" for e in entries if fnmatch.fnmatchcase(e, name)]
