"""Expand ``inspect``/``check`` targets: ELF files, directories (walked without following any
symlink out of the tree) and wheels (read in place), in a stable order, optionally in a
process pool."""

from __future__ import annotations

import errno
import os
import stat
import sys
import time
from collections.abc import Iterable, Iterator
from typing import NamedTuple, Optional

from .._elf import ELFMAG, ELFFile, open_elf, open_regular_file
from .._errors import LibcprobeError
from ._inspect import FileReport, report_for
from ._wheel import iter_wheel_members

__all__ = ["MAX_TREE_DEPTH", "MAX_TREE_FILES", "Entry", "Item", "iter_items", "walk"]

#: Most entries one directory target may hold.
MAX_TREE_FILES = 1_000_000
#: Deepest directory level walked.
MAX_TREE_DEPTH = 256


class Item(NamedTuple):
    """One inspected file: its report, whether it is ELF at all, (in-process only) the parsed
    file for ``check``, and ``tag_arch``: the architecture as platform tags name it
    (:attr:`ELFFile.arch <libcprobe._elf.ELFFile.arch>`, packaging's rule: ``armv7l`` is the
    EABI5 hard-float ABI whatever the CPU level), which is what a wheel tag or a target is
    compared with; ``report.arch`` is the CPU the file is built for (``armv6l`` for an ARMv6
    hard-float module)."""

    report: FileReport
    is_elf: bool
    elf: Optional[ELFFile] = None
    tag_arch: Optional[str] = None


class Entry(NamedTuple):
    """One entry met by :func:`walk`: a regular file to read (``note`` None), or why not.
    ``error`` says the note is a failure (an unreadable directory, a symlink loop), not a
    skip (a symlink out of the tree, a FIFO)."""

    path: str
    note: Optional[str] = None
    error: bool = False


_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def walk(top: str) -> Iterator[Entry]:
    """Every entry under ``top``, depth first in sorted order, without recursion. Regular
    files (and symlinks to regular files inside the tree) are yielded to be read; symlinks are
    never followed as directories, so the walk cannot loop. Bounded by
    :data:`MAX_TREE_FILES` entries and :data:`MAX_TREE_DEPTH` levels."""
    real_top = os.path.realpath(top)
    count = 0
    stack: list[tuple[str, int]] = [(top, 0)]
    while stack:
        directory, depth = stack.pop()
        try:
            with os.scandir(directory) as it:
                names = sorted(e.name for e in it)
        except OSError as exc:
            yield Entry(directory, f"cannot list the directory: {_why(exc)}", True)
            continue
        subdirs = []
        for name in names:
            count += 1
            if count > MAX_TREE_FILES:
                yield Entry(top, f"more than {MAX_TREE_FILES} entries: the rest is not read", True)
                return
            path = os.path.join(directory, name)
            entry = _classify(path, real_top)
            if entry is None:
                if depth + 1 >= MAX_TREE_DEPTH:
                    yield Entry(path, f"deeper than {MAX_TREE_DEPTH} levels: not read", True)
                else:
                    subdirs.append((path, depth + 1))
            elif entry.note != "":
                yield entry
        stack.extend(reversed(subdirs))


def _classify(path: str, real_top: str) -> Optional[Entry]:
    """None for a directory to descend into; an entry with note "" for one to ignore."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        return Entry(path, f"cannot read the entry: {_why(exc)}", True)
    if stat.S_ISLNK(st.st_mode):
        target = os.path.realpath(path)
        if os.path.commonpath([real_top, target]) != real_top:
            return Entry(path, "symbolic link out of the tree: not followed")
        try:
            st = os.stat(path)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return Entry(path, "symbolic link loop", True)
            return Entry(path, "dangling symbolic link")
        if stat.S_ISDIR(st.st_mode):
            return Entry(path, "")  # its directory is walked where it lies, not through here
    elif stat.S_ISDIR(st.st_mode):
        return None
    if stat.S_ISREG(st.st_mode):
        return Entry(path)
    kind = next((what for test, what in _KINDS if test(st.st_mode)), "a special file")
    return Entry(path, f"not a regular file ({kind}): not read")


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _is_elf_file(path: str) -> bool:
    try:
        fd = open_regular_file(path)
    except LibcprobeError:
        return True  # let inspect report why it cannot be read
    try:
        return os.read(fd, 4) == ELFMAG
    except OSError:
        return True
    finally:
        os.close(fd)


def _inspect_path(path: str, keep_elf: bool) -> Item:
    try:
        with open_elf(path) as elf:
            return Item(report_for(elf), True, elf if keep_elf else None, elf.arch)
    except LibcprobeError as exc:
        return Item(FileReport(path=path, error=exc.reason), True)


def _inspect_path_for_pool(path: str) -> Item:
    return _inspect_path(path, False)


def _expand(targets: Iterable[str], all_files: bool) -> Iterator[tuple[str, str, Optional[str]]]:
    """(kind, path, note): kind is "file", "wheel", "skip" (a note under ``--all``) or "error"
    (an entry of a directory that could not be read)."""
    for target in targets:
        if os.path.isdir(target):
            for path, note, error in walk(target):
                if note is not None:
                    if error:
                        yield "error", path, note
                    elif all_files:
                        yield "skip", path, note
                elif path.endswith(".whl"):
                    yield "wheel", path, None
                elif _is_elf_file(path):
                    yield "file", path, None
                elif all_files:
                    yield "skip", path, "not an ELF file"
        elif target.endswith(".whl") and os.path.isfile(target):
            yield "wheel", target, None
        else:
            yield "file", target, None


def iter_items(
    targets: Iterable[str],
    *,
    all_files: bool = False,
    jobs: int = 1,
    keep_elf: bool = False,
    progress: bool = False,
) -> Iterator[Item]:
    """Inspect every target, in a stable order whatever ``jobs`` is."""
    plan = list(_expand(targets, all_files))
    done = 0
    started = time.monotonic()

    def tick(n: int = 1) -> None:
        nonlocal done
        done += n
        if progress and (done % 50 == 0 or done == len(plan)):
            rate = done / max(time.monotonic() - started, 1e-6)
            sys.stderr.write(f"\r{done}/{len(plan)} files, {rate:.0f} files/s")
            sys.stderr.flush()

    pooled: dict[int, Item] = {}
    if jobs > 1 and not keep_elf:
        from concurrent.futures import ProcessPoolExecutor

        indexes = [i for i, (kind, _, _) in enumerate(plan) if kind == "file"]
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            paths = [plan[i][1] for i in indexes]
            for i, item in zip(indexes, pool.map(_inspect_path_for_pool, paths, chunksize=32)):
                pooled[i] = item
                tick()
    for i, (kind, path, note) in enumerate(plan):
        if kind in ("skip", "error"):
            yield Item(FileReport(path=path, error=note), kind == "error")
        elif kind == "file":
            pooled_item = pooled.get(i)
            if pooled_item is None:
                pooled_item = _inspect_path(path, keep_elf)
                tick()
            yield pooled_item
        else:
            yield from _wheel_items(path, all_files, keep_elf)
            tick()
    if progress and plan:
        sys.stderr.write("\n")


def _wheel_items(path: str, all_files: bool, keep_elf: bool) -> Iterator[Item]:
    try:
        members = list(iter_wheel_members(path, all_files=all_files))
    except LibcprobeError as exc:
        yield Item(FileReport(path=path, error=exc.reason), True)
        return
    for member in members:
        if member.elf is not None:
            elf = member.elf
            yield Item(report_for(elf), True, elf if keep_elf else None, elf.arch)
        else:
            yield Item(FileReport(path=member.name, error=member.error), member.is_elf)
