"""Where a program's files are looked up: a ``root=`` directory, resolved as a process chrooted
there would see it and opened without a race, or the host itself.

:class:`Root` resolves a path one component at a time from directory file descriptors
(``openat(dir_fd, name, O_PATH | O_NOFOLLOW)``), following each symbolic link itself: an
absolute target restarts at the root, ``..`` at the root stays at the root (as under
``chroot``), and a loop or long chain stops after :data:`MAX_SYMLINK_HOPS` hops with
:class:`RootError`. A file is read through the descriptor that resolution ended on (reopened
through ``/proc/self/fd``), so a symlink swapped while libcprobe works can never make it open
anything outside the root; its type is checked on that descriptor before it is opened for
reading, so no FIFO or device is ever opened. ``with root:`` holds the root directory's own
descriptor, so every walk of one detection starts from the same directory.

:data:`HOST` is the machine's own ``/`` with the same methods: paths are opened by name and
symbolic links followed by the kernel (``/proc/self/exe`` stays the running program, even
deleted). Detection takes one of the two and passes it down: every path it holds is a path
as the program sees it, which the root resolves and opens.

The audit side's ``check`` makes its own Root of a target's root and reads the target's
libraries through it the same way.
"""

from __future__ import annotations

import errno
import os
import stat

from ._elf import check_regular_file, open_elf, open_elf_fd, open_regular_file
from ._errors import FileAccessError, RootError

TYPE_CHECKING = False  # typing and collections.abc only for type checkers: see _records.py
if TYPE_CHECKING:  # pragma: no cover
    from contextlib import AbstractContextManager
    from typing import Optional, Union

    from ._elf import ELFFile

__all__ = [
    "HOST",
    "LIBRARY_DIRS",
    "MAX_PATH_DEPTH",
    "MAX_SYMLINK_HOPS",
    "Root",
]

#: Symbolic links followed while resolving one path (Linux's own limit is 40).
MAX_SYMLINK_HOPS = 40
#: Deepest directory nesting one path may reach inside a root.
MAX_PATH_DEPTH = 256
#: Standard library directories searched for libraries (after /etc/ld.so.conf's).
LIBRARY_DIRS = ("/lib64", "/usr/lib64", "/lib", "/usr/lib", "/lib32", "/usr/lib32", "/libx32")
MAX_LD_SO_CONF_FILES = 64
#: Names :meth:`Root.glob` reads of one directory, in sorted order.
MAX_GLOB_ENTRIES = 4096

_O_PATH = getattr(os, "O_PATH", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
# Without O_PATH (not Linux) each component is opened for reading, non-blocking.
_PROBE = (_O_PATH or os.O_RDONLY | _NONBLOCK) | getattr(os, "O_NOFOLLOW", 0) | _CLOEXEC
_READ = os.O_RDONLY | _NONBLOCK | _CLOEXEC


class _Walk:
    """Where resolving a path ended: ``fd`` (an ``O_PATH`` descriptor, or None when a
    component is missing), the components resolved inside the root, the unresolved rest and
    the error number of the component that was missing."""

    __slots__ = ("errno", "fd", "names", "rest")

    def __init__(self, fd: Optional[int], names: list[str], rest: list[str], err: int) -> None:
        self.fd = fd
        self.names = names
        self.rest = rest
        self.errno = err


class Root:
    """A directory seen as ``/``: a small value (compared and hashed by its path) that resolves
    and opens paths inside itself, never outside it (see the module docstring). ``with root:``
    holds the directory's descriptor for the walks made inside the block."""

    __slots__ = ("_fd", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: Optional[int] = None

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and isinstance(other, Root) and other.path == self.path

    def __hash__(self) -> int:
        return hash((type(self), self.path))

    def __repr__(self) -> str:
        return f"Root({self.path!r})"

    @property
    def shown(self) -> Optional[str]:
        """The directory as answers name it (``LibcInfo.root``); None for :data:`HOST`."""
        return self.path

    def __enter__(self) -> Root:
        if self._fd is None:
            self._fd = self._open_top()
        return self

    def __exit__(self, *exc: object) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    # -- resolving --------------------------------------------------------------------------

    def host(self, names: list[str]) -> str:
        """The host path of components inside the root."""
        return os.path.join(self.path, *names) if names else self.path

    def inside(self, host: str) -> str:
        """The path inside the root of a host path under it (what :meth:`resolve` returned)."""
        base = self.path if self.path.endswith("/") else self.path + "/"
        if host == self.path or host + "/" == base:
            return "/"
        if not host.startswith(base):
            raise RootError(f"{host} is not inside the root", self.path)
        return "/" + host[len(base) :]

    def _open_top(self) -> int:
        try:
            return os.open(self.path, (_O_PATH or os.O_RDONLY) | _CLOEXEC)
        except OSError as exc:
            raise RootError(f"cannot open the root: {exc.strerror}", self.path) from None
        except ValueError:
            raise RootError("invalid root: it contains a NUL byte", repr(self.path)) from None

    def walk(self, path: str) -> _Walk:
        """Resolve ``path`` inside the root. The caller closes the returned ``fd``."""
        fds = [os.dup(self._fd) if self._fd is not None else self._open_top()]
        names: list[str] = []
        pending = path.split("/")[::-1]  # a stack: the next component is last
        hops = 0
        try:
            while pending:
                part = pending.pop()
                if part in ("", "."):
                    continue
                if part == "..":
                    if names:
                        os.close(fds.pop())
                        names.pop()
                    continue
                if len(names) >= MAX_PATH_DEPTH:
                    raise RootError(f"deeper than {MAX_PATH_DEPTH} directories", path)
                fd, err = _probe(part, fds[-1])
                if fd is None and err != errno.ELOOP:
                    rest = [p for p in reversed(pending) if p not in ("", ".")]
                    return _Walk(None, [*names, part], rest, err)
                if fd is not None and not stat.S_ISLNK(os.fstat(fd).st_mode):
                    fds.append(fd)
                    names.append(part)
                    continue
                if fd is not None:
                    os.close(fd)
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise RootError(f"more than {MAX_SYMLINK_HOPS} symbolic links (a loop?)", path)
                target = self._readlink(part, fds[-1], names, path)
                if target is None:  # no longer a link (swapped meanwhile): look again
                    pending.append(part)
                    continue
                if target.startswith("/"):
                    while len(fds) > 1:
                        os.close(fds.pop())
                    names.clear()
                pending.extend(target.split("/")[::-1])
            return _Walk(fds.pop(), names, [], 0)
        finally:
            for fd in fds:
                os.close(fd)

    def _readlink(self, part: str, dir_fd: int, names: list[str], path: str) -> Optional[str]:
        try:
            return os.readlink(part, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno in (errno.EINVAL, errno.ENOENT):
                return None
            link = self.host([*names, part])
            raise RootError(f"cannot read symbolic link {link}: {exc.strerror}", path) from None

    def resolve(self, path: str) -> str:
        """The host path of ``path``, symlinks resolved inside the root. A component that does
        not exist ends the walk; the rest is appended unresolved."""
        w = self.walk(path)
        if w.fd is not None:
            os.close(w.fd)
        return self.host(w.names + w.rest)

    def real_path(self, path: str) -> Optional[str]:
        """``path`` with its symbolic links resolved, as seen inside the root (None when it
        cannot be resolved)."""
        try:
            return self.inside(self.resolve(path))
        except (OSError, RootError):
            return None

    # -- looking and opening ---------------------------------------------------------------

    def stat(self, path: str) -> Optional[os.stat_result]:
        """The status of what ``path`` resolves to (None when it does not exist)."""
        w = self.walk(path)
        if w.fd is None:
            return None
        try:
            return os.fstat(w.fd)
        finally:
            os.close(w.fd)

    def exists(self, path: str) -> bool:
        """Whether ``path`` resolves to anything (False for a symlink loop)."""
        try:
            return self.stat(path) is not None
        except RootError:
            return False

    def is_file(self, path: str) -> bool:
        """Whether ``path`` resolves to a regular file (False for a symlink loop)."""
        try:
            st = self.stat(path)
        except RootError:
            return False
        return st is not None and stat.S_ISREG(st.st_mode)

    def open(self, path: str) -> int:
        """A read-only descriptor of the regular file ``path`` resolves to. Raises
        :class:`FileAccessError` (missing, not a regular file, unreadable) or
        :class:`RootError` (a loop)."""
        return self._open(path)[0]

    def _open(self, path: str) -> tuple[int, str]:
        # open, and the host path it resolved to (from the same walk)
        w = self.walk(path)
        shown = self.host(w.names + w.rest)
        if w.fd is None:
            reason = "permission denied" if w.errno == errno.EACCES else "no such file"
            raise FileAccessError(reason, shown, w.errno)
        try:
            check_regular_file(os.fstat(w.fd).st_mode, shown)
            return _reopen(w.fd, shown), shown
        finally:
            os.close(w.fd)

    def read(self, path: str, limit: int) -> Optional[bytes]:
        """At most ``limit`` bytes of the regular file ``path``; None when it cannot be read."""
        try:
            fd = self.open(path)
        except (FileAccessError, RootError):
            return None
        try:
            return os.read(fd, limit)
        except OSError:
            return None
        finally:
            os.close(fd)

    def listdir(self, path: str, limit: Optional[int] = None) -> list[str]:
        """The names in directory ``path`` (the first ``limit`` of them, in directory order;
        empty when it is not one or cannot be read)."""
        try:
            w = self.walk(path)
        except RootError:
            return []
        if w.fd is None:
            return []
        try:
            fd = _reopen_dir(w.fd)
        except OSError:
            return []
        finally:
            os.close(w.fd)
        try:
            return _names(fd, limit)
        finally:
            os.close(fd)

    def glob(self, pattern: str) -> list[str]:
        """Glob a pattern (absolute, as seen inside the root) whose wildcards are in the last
        part."""
        import fnmatch  # only roots and library searches need it, not detect() of this process

        directory, _, name = pattern.rpartition("/")
        directory = directory or "/"
        entries = sorted(self.listdir(directory))[:MAX_GLOB_ENTRIES]
        return [f"{directory.rstrip('/')}/{e}" for e in entries if fnmatch.fnmatchcase(e, name)]

    def open_elf(self, path: str) -> AbstractContextManager[ELFFile]:
        """``with root.open_elf(path) as elf``: the ELF file ``path`` resolves to, read through
        the resolved descriptor and named by its host path. Its version tables and notes are
        parsed on first use, inside the block (``lazy``: detection reads them for few files)."""
        return open_elf_fd(*self._open(path), lazy=True)

    def library_dirs(self) -> list[str]:
        """The directories glibc's ld.so searches, as seen inside the root: those of
        ``/etc/ld.so.conf`` (with its ``include`` globs, bounded), the multiarch directories,
        then the defaults."""
        dirs: list[str] = []
        seen_files: set[str] = set()

        def read_conf(conf: str, depth: int) -> None:
            if depth > 4 or len(seen_files) >= MAX_LD_SO_CONF_FILES or conf in seen_files:
                return
            seen_files.add(conf)
            data = self.read(conf, 64 * 1024)
            if data is None:
                return
            for line in data.decode("utf-8", "replace").splitlines():
                line = line.split("#", 1)[0].strip()
                if line.startswith("include"):
                    for match in self.glob(line[len("include") :].strip()):
                        read_conf(match, depth + 1)
                elif line.startswith("/"):
                    dirs.append(line)

        read_conf("/etc/ld.so.conf", 0)
        dirs.extend(self.glob("/lib/*-linux-*") + self.glob("/usr/lib/*-linux-*"))
        dirs.extend(LIBRARY_DIRS)
        return list(dict.fromkeys(dirs))[:256]


class _Host(Root):
    """The machine's own ``/`` (:data:`HOST`): the methods of :class:`Root` on paths opened by
    name, symbolic links followed by the kernel."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "HOST"

    @property
    def shown(self) -> Optional[str]:
        return None

    def __enter__(self) -> Root:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def host(self, names: list[str]) -> str:
        return "/" + "/".join(names)

    def inside(self, host: str) -> str:
        return host

    def walk(self, path: str) -> _Walk:  # pragma: no cover - the host is never walked
        raise NotImplementedError("the host resolves paths through the kernel")

    def resolve(self, path: str) -> str:
        return path

    def real_path(self, path: str) -> Optional[str]:
        try:
            return os.path.realpath(path)
        except (OSError, ValueError):
            return None

    def stat(self, path: str) -> Optional[os.stat_result]:
        try:
            return os.stat(path)
        except (OSError, ValueError):
            return None

    def _open(self, path: str) -> tuple[int, str]:
        return open_regular_file(path), path

    def listdir(self, path: str, limit: Optional[int] = None) -> list[str]:
        try:
            return _names(path, limit)
        except ValueError:  # a NUL byte
            return []

    def open_elf(self, path: str) -> AbstractContextManager[ELFFile]:
        return open_elf(path, lazy=True)


#: The machine's own filesystem, as a :class:`Root` whose paths the kernel resolves.
HOST: Root = _Host("/")


def _probe(name: str, dir_fd: int) -> tuple[Optional[int], int]:
    """(descriptor, 0), or (None, errno) when ``name`` cannot be opened under ``dir_fd``."""
    try:
        return os.open(name, _PROBE, dir_fd=dir_fd), 0
    except OSError as exc:
        return None, exc.errno or errno.ENOENT
    except ValueError:  # a NUL byte: no file has that name
        return None, errno.ENOENT


def _reopen(fd: int, shown: str) -> int:
    """A readable descriptor of the file an ``O_PATH`` descriptor refers to: the same inode,
    never a path looked up again."""
    if not _O_PATH:
        return os.dup(fd)
    try:
        return os.open(f"/proc/self/fd/{fd}", _READ)
    except FileNotFoundError:
        pass  # no /proc: open by name, then make sure it is the same file
    except OSError as exc:
        reason = "permission denied" if exc.errno == errno.EACCES else exc.strerror or str(exc)
        raise FileAccessError(reason, shown, exc.errno) from None
    try:
        new = os.open(shown, _READ | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise FileAccessError(exc.strerror or str(exc), shown, exc.errno) from None
    a, b = os.fstat(fd), os.fstat(new)
    if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino):
        os.close(new)
        raise FileAccessError("the file changed while it was opened", shown)
    return new


def _reopen_dir(fd: int) -> int:
    """A listable descriptor of the directory an ``O_PATH`` descriptor refers to."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC
    if _O_PATH:
        try:
            return os.open(f"/proc/self/fd/{fd}", flags)
        except FileNotFoundError:
            pass  # no /proc
    return os.open(".", flags, dir_fd=fd)


def _names(directory: Union[int, str], limit: Optional[int]) -> list[str]:
    """The names in a directory (a descriptor or a host path), at most ``limit`` of them in
    directory order; empty on an error."""
    try:
        if limit is None:
            return os.listdir(directory)
        names: list[str] = []
        with os.scandir(directory) as entries:
            for entry in entries:
                if len(names) >= limit:
                    break
                names.append(entry.name)
        return names
    except OSError:
        return []
