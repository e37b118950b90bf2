"""The exceptions libcprobe raises.

Every error libcprobe raises on purpose is a :class:`LibcprobeError`. Errors about one
file name that file in their message and keep it in :attr:`LibcprobeError.path`.
The ELF errors are also :class:`ValueError` subclasses, which is what ``packaging``'s own
ELF reader raises, so callers migrating from it keep working.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is only needed by type checkers here
if TYPE_CHECKING:
    from typing import Optional

__all__ = [
    "CorruptELFError",
    "ELFError",
    "FileAccessError",
    "LibcprobeError",
    "NotELFError",
    "OverrideError",
    "ReadLimitError",
    "RootError",
    "TruncatedELFError",
    "ZipError",
]


class LibcprobeError(Exception):
    """Base class of every error libcprobe raises.

    ``path`` is the file the error is about (``None`` when it is not about one file) and
    ``reason`` the message without the path.
    """

    def __init__(self, reason: str, path: Optional[str] = None) -> None:
        self.reason = reason
        self.path = path
        super().__init__(f"{path}: {reason}" if path is not None else reason)


class FileAccessError(LibcprobeError):
    """The file could not be opened or read: missing, unreadable, a directory, not a regular
    file, a dangling symlink. ``errno`` is the operating system's error number when there is
    one."""

    def __init__(self, reason: str, path: Optional[str] = None, errno: Optional[int] = None):
        super().__init__(reason, path)
        self.errno = errno


class ELFError(LibcprobeError, ValueError):
    """The file is not a usable ELF file. Base of the three kinds below."""


class NotELFError(ELFError):
    """The file does not start with the ELF magic (or is empty)."""


class TruncatedELFError(ELFError):
    """A header, table or string the file declares lies (partly) past its end."""


class CorruptELFError(ELFError):
    """A field holds an impossible value: unknown class or byte order, a wrong entry size, a
    count past libcprobe's bounds, a chain that loops."""


class ReadLimitError(LibcprobeError):
    """Answering would mean reading more of a file than libcprobe's documented cap
    (:data:`libcprobe.MAX_BYTES_PER_FILE`)."""


class RootError(LibcprobeError):
    """A path could not be resolved inside a ``root=`` directory: a symlink loop, too many
    symlink hops, or a link that leads out of the root."""


class OverrideError(LibcprobeError):
    """The ``LIBCPROBE_LIBC`` environment variable holds a value libcprobe cannot parse."""


class ZipError(LibcprobeError):
    """A wheel (or other zip file) is damaged, inconsistent or uses something libcprobe does
    not read: no end record, a central directory or local header whose sizes, offsets, counts,
    names or CRC lie, a member that overlaps another, bytes that belong to no member (a second
    archive), duplicate names, an encrypted member, a compression method other than stored
    and deflate, corrupt deflate data. ``path`` is the zip, or ``zip!member`` for one member.
    Not a :class:`ValueError`."""
