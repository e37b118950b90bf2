"""``detect()`` of the running interpreter: what this process really runs.

The program is ``/proc/self/exe`` (what the kernel runs, even when deleted; an emulator's own
file there is passed over for ``sys.executable``). Its libc says what it is where it can:
Android's API level, glibc's ``confstr`` (a static program's ``strerror`` is asked in
:mod:`._program`, which alone knows it is static); then the per-program routine reads the rest
from the files: for musl the loader ``PT_INTERP`` names (the file the kernel mapped), and the
libc ``/proc/self/maps`` shows only when that cannot answer.
"""

from __future__ import annotations

import os
import sys

from ._classify import family_of_loader_name, family_of_needed_name
from ._elf import _OPEN_FLAGS, open_elf_fd
from ._errors import LibcprobeError
from ._libc_strings import glibc_version
from ._model import EvidenceLog, Family, LibcInfo, LibcVersion
from ._program import Ask, detect_elf, detect_program
from ._rootfs import HOST

TYPE_CHECKING = False  # typing and collections.abc only for type checkers: see _records.py
if TYPE_CHECKING:  # pragma: no cover
    from contextlib import AbstractContextManager
    from typing import Callable, Optional

    from ._elf import ELFFile

__all__ = ["MACHINE_FAMILIES", "PROC_SELF_EXE", "detect_running", "running_arch"]

#: The running program as the kernel presents it (a module constant, so tests can stand in
#: for an emulator).
PROC_SELF_EXE = "/proc/self/exe"
_NO_PROGRAM = "neither /proc/self/exe nor sys.executable names the running program"
_CONFSTR = "os.confstr('CS_GNU_LIBC_VERSION') is {!r}"

#: Machine families, by the prefixes of their ``uname -m`` and wheel-tag names: the running
#: interpreter's /proc/self/exe must be of the family the kernel reports (a 32-bit program on a
#: 64-bit kernel, or one under ``linux32``, stays within its family).
MACHINE_FAMILIES = (
    ("x86", ("x86_64", "amd64", "i386", "i486", "i586", "i686", "x32")),
    ("arm", ("aarch64", "arm")),
    ("ppc", ("ppc", "powerpc")),
    ("s390", ("s390",)),
    ("riscv", ("riscv",)),
    ("mips", ("mips",)),
    ("loongarch", ("loongarch",)),
    ("sparc", ("sparc",)),
)


def detect_running(allow_execute: bool) -> LibcInfo:
    """The answer for ``detect()`` without the override."""
    ev = EvidenceLog()
    if not sys.platform.startswith("linux") and sys.platform != "android":
        what = f"sys.platform is {sys.platform!r}: not Linux, no ELF libc"
        ev.family("none", "platform", None, what)
        return LibcInfo(family=None, evidence=ev.items, running=True)
    exe_path, shown = _running_program(ev)
    if exe_path is None:
        # Nothing to read; the running glibc can still say what it is.
        answer = _glibc_confstr()
        ev.family("none", "platform", None, _NO_PROGRAM)
        if answer:
            ev.family("glibc", "confstr", None, _CONFSTR.format(f"glibc {answer[0]}"))
        return LibcInfo(
            family=Family.GLIBC if answer else None,
            version=answer[0] if answer else None,
            evidence=ev.items,
            running=True,
        )
    api = _android_api_level()
    if api is not None:
        ev.family("bionic", "platform", None, f"sys.getandroidapilevel() is {api}")
        info = _detect_exe(exe_path, shown, Ask(HOST, allow_execute, running=True), ev)
        return _as_bionic(info, api)
    confstr = _glibc_confstr()
    if confstr is not None:
        version, text = confstr
        ev.family("glibc", "confstr", None, _CONFSTR.format(text))
        ev.version(version, "confstr", None, _CONFSTR.format(text))
        ask = Ask(HOST, allow_execute, running=True, known=(Family.GLIBC, version))
        return _detect_exe(exe_path, shown, ask, ev)
    if exe_path == PROC_SELF_EXE and not allow_execute:
        from ._quick import quick_musl

        quick = quick_musl(exe_path, shown, ev, _foreign)
        if quick is not None:  # the commonest musl case, read the short way: the same answer
            return quick
    ask = Ask(HOST, allow_execute, running=True, mapped=_mapped_libc)
    return _detect_exe(exe_path, shown, ask, ev)


def running_arch() -> Optional[str]:
    """The architecture of the running program (None when it cannot be read)."""
    path = _running_program(EvidenceLog())[0]
    if path is None:
        return None
    try:
        with HOST.open_elf(path) as elf:
            return elf.arch
    except LibcprobeError:
        return None


def _running_program(ev: EvidenceLog) -> tuple[Optional[str], Optional[str]]:
    """(path to read, how to name it) for the running program: /proc/self/exe (what the
    kernel runs, even when deleted), else sys.executable, else nothing; ``ev`` says which."""
    try:  # a link /proc resolves (even to a deleted file): there when it can be read
        shown: Optional[str] = os.readlink(PROC_SELF_EXE)
        there = True
    except OSError:  # no /proc, or not a link (a stand-in in tests): is it there at all?
        shown, there = sys.executable or None, os.path.exists(PROC_SELF_EXE)
    if there:
        why = "the running program, as the kernel sees it"
        ev.interpreter(shown or "", "proc-exe", PROC_SELF_EXE, why)
        return PROC_SELF_EXE, shown
    if sys.executable:
        ev.interpreter(sys.executable, "platform", sys.executable, "no /proc: using sys.executable")
        return sys.executable, sys.executable
    return None, None


def _detect_exe(path: str, shown: Optional[str], ask: Ask, ev: EvidenceLog) -> LibcInfo:
    """The per-program routine for the running program; /proc/self/exe is opened once, and
    passed over when it is an emulator's own file rather than this process."""
    if path != PROC_SELF_EXE:
        return detect_program(path, shown, ask, ev)
    try:
        with _open_running_program(path) as elf:
            if not _foreign_to_this_process(elf):
                return detect_elf(elf, shown, ask, ev.copy())
            why = _emulated(elf)
    except LibcprobeError:  # not an ELF file that can be read: the routine says why
        return detect_program(path, shown, ask, ev)
    if not sys.executable:
        ev.interpreter("none", "proc-exe", PROC_SELF_EXE, why)
        family, version = ask.known if ask.known is not None else (None, None)
        return LibcInfo(family=family, version=version, evidence=ev.items, running=True)
    ev.interpreter(sys.executable, "proc-exe", PROC_SELF_EXE, why + "; using sys.executable")
    instead = Ask(HOST, ask.allow_execute, running=True, known=ask.known)
    return detect_program(sys.executable, sys.executable, instead, ev, hops=1)


def _open_running_program(path: str) -> AbstractContextManager[ELFFile]:
    """``with`` the running program's ELF file (lazy, as a root reads it). execve(2) runs
    only regular files, so /proc/self/exe is opened without a stat first (opening it cannot
    block or touch a device); the descriptor is still checked, and when it cannot be opened
    the host's open_elf says why."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except (OSError, ValueError):
        return HOST.open_elf(path)
    return open_elf_fd(fd, path, lazy=True)


def _machine_family(name: Optional[str]) -> Optional[str]:
    for family, prefixes in MACHINE_FAMILIES:
        if name is not None and name.startswith(prefixes):
            return family
    return None


def _foreign_to_this_process(elf: ELFFile) -> bool:
    """True when /proc/self/exe cannot be this interpreter: its word size or byte order differ
    from this process's, or its machine is not of the kernel's family (the emulator's own file
    under an emulator that does not present the guest program there)."""
    return _foreign(elf.elf_class, elf.little_endian, elf.arch)


def _foreign(elf_class: int, little_endian: bool, arch: Optional[str]) -> bool:
    # _foreign_to_this_process of a program with this class, byte order and architecture.
    if (elf_class == 64) != (sys.maxsize > 2**32):
        return True
    if little_endian != (sys.byteorder == "little"):
        return True
    try:
        kernel = os.uname().machine
    except (AttributeError, OSError):  # pragma: no cover - Linux always has uname
        return False
    mine, theirs = _machine_family(arch), _machine_family(kernel)
    return mine is not None and theirs is not None and mine != theirs


def _emulated(proc_exe: ELFFile) -> str:
    return (
        f"/proc/self/exe is {proc_exe.arch} ELF{proc_exe.elf_class} code, not the running program "
        f"(this process is {'64' if sys.maxsize > 2**32 else '32'}-bit {sys.byteorder}-endian on "
        f"a {os.uname().machine} kernel): an emulator's own file"
    )


def _android_api_level() -> Optional[int]:
    getter = getattr(sys, "getandroidapilevel", None)
    if getter is None:
        return None
    try:
        return int(getter())
    except Exception:  # pragma: no cover - defensive: it is documented to return an int
        return None


def _glibc_confstr() -> Optional[tuple[LibcVersion, str]]:
    # glibc answers "glibc 2.36"; musl raises OSError (EINVAL); other platforms may lack the
    # name (ValueError) or confstr itself (AttributeError).
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, OSError, ValueError):
        return None
    if not text:
        return None
    name, _, number = text.partition(" ")
    if name != "glibc":
        return None
    try:
        return glibc_version(number), text
    except ValueError:
        return None


#: The most of /proc/self/maps read (a process with tens of thousands of mappings has more).
MAPS_LIMIT = 4 * 1024 * 1024
#: How much is asked for at a time: procfs writes no more than asked, and musl's malloc makes
#: a larger buffer dear (``_libc_strings.PIECE``).
MAPS_PIECE = 16 * 1024


def _mapped_libc() -> Optional[str]:
    """The libc file the running process has mapped, from /proc/self/maps, or None: the
    first line whose path names a libc or loader (asked only when the loader ``PT_INTERP``
    names cannot answer). Reading stops at the piece that completes that line."""
    try:
        fd = os.open("/proc/self/maps", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        return _scan_maps(lambda size: os.read(fd, size))
    except OSError:
        return None
    finally:
        os.close(fd)


def _scan_maps(read: Callable[[int], bytes]) -> Optional[str]:
    """:func:`_mapped_libc` over the pieces ``read`` returns (empty at the end), at most
    :data:`MAPS_LIMIT` bytes in all: line by line, as bytes.splitlines() cuts them (a line
    with no end yet waits for the next piece, or counts at the end of the file)."""
    tail, budget = b"", MAPS_LIMIT  # tail: the line not ended yet
    while True:
        chunk = read(min(budget, MAPS_PIECE)) if budget > 0 else b""
        budget -= len(chunk)
        lines = (tail + chunk).splitlines(keepends=True)
        ended = not chunk or (lines and lines[-1].endswith((b"\n", b"\r")))
        tail = b"" if ended or not lines else lines.pop()
        for line in lines:
            path = _maps_libc_path(line.rstrip(b"\r\n"))
            if path is not None:
                return path
        if not chunk:
            return None


def _maps_libc_path(line: bytes) -> Optional[str]:
    """The path of one /proc/self/maps line (address, perms, offset, dev, inode, path) when
    it names a libc or loader."""
    fields = line.split(None, 5)
    if len(fields) < 6 or not fields[5].startswith(b"/"):
        return None
    path = os.fsdecode(fields[5])
    if path.endswith(" (deleted)"):
        path = path[: -len(" (deleted)")]
    name = path.rsplit("/", 1)[-1]
    if family_of_needed_name(name) is not None or family_of_loader_name(path) is not None:
        return path
    return None


def _as_bionic(info: LibcInfo, api: int) -> LibcInfo:
    """``info`` of a program on Android: bionic, its version the API level this process
    reports (whatever the program's own files said)."""
    return LibcInfo(
        family=Family.BIONIC,
        version=LibcVersion((api,)),
        linkage=info.linkage,
        arch=info.arch,
        interpreter=info.interpreter,
        library=info.library,
        can_load_extensions=info.can_load_extensions,
        executable=info.executable,
        root=info.root,
        running=info.running,
        evidence=info.evidence,
    )
