"""``libcprobe.detect()``: which C library a program runs on, and how we know.

Three entry points share one per-program routine:

- the running interpreter (``executable=None``, ``root=None``): ``LIBCPROBE_LIBC`` if set;
  otherwise what the process really runs (``/proc/self/exe``), ``confstr`` for glibc, the libc
  mapped in ``/proc/self/maps`` for musl, ``strerror`` for static builds;
- a program on this machine (``executable=PATH``);
- a root filesystem (``root=DIR``): paths and symlinks resolved inside ``DIR``.

Nothing is executed unless ``allow_execute=True``, and then only to cross-check.
"""

from __future__ import annotations

import os
import stat
import sys
from _thread import allocate_lock  # not threading: that loads a dozen modules for one lock

from ._classify import Classification, classify, family_of_loader_name, family_of_needed_name
from ._elf import ELFFile, open_elf
from ._errors import FileAccessError, LibcprobeError, OverrideError, RootError
from ._libc_strings import glibc_version
from ._model import EvidenceLog, Family, LibcInfo, LibcVersion
from ._rootfs import HOST, LIBRARY_DIRS, Root

TYPE_CHECKING = False  # typing and collections.abc only for type checkers: see _records.py
if TYPE_CHECKING:  # pragma: no cover
    from typing import Callable, Optional, TypeVar, Union

    from ._model import Source

    T = TypeVar("T")

__all__ = ["clear_cache", "detect"]

#: Programs tried, in order, when ``root=`` is given without ``executable=``.
ROOT_PROGRAMS = (
    "/usr/bin/python3",
    "/usr/local/bin/python3",
    "/bin/sh",
    "/usr/bin/sh",
    "/bin/busybox",
    "/usr/bin/env",
    "/bin/ls",
    "/usr/bin/ls",
    # NixOS and Guix System: the system profile (there is no /usr/bin/python3)
    "/run/current-system/sw/bin/python3",
    "/run/current-system/sw/bin/sh",
    "/run/current-system/profile/bin/python3",
    "/run/current-system/profile/bin/sh",
)
#: Where loaders and libcs are looked for in a root that has no dynamic program.
_LOADER_NAMES = ("ld-musl-*.so.1", "ld-linux*.so.*", "ld64.so.*", "ld.so.1")
#: Where loaders and libcs are looked for in a root that has no dynamic program: /lib, /lib64
#: and their merged-/usr twins (an unpacked usr-merged package has no /lib symlink).
LOADER_GLOBS = (
    *(f"{d}/{n}" for d in ("lib", "lib64", "usr/lib", "usr/lib64") for n in _LOADER_NAMES),
    "lib/*-linux-gnu*/libc.so.6",
    "usr/lib/*-linux-gnu*/libc.so.6",
    "system/bin/linker64",
    "system/bin/linker",
)
MAX_SHEBANG_HOPS = 4

ENV_OVERRIDE = "LIBCPROBE_LIBC"
#: The running program as the kernel presents it (a module constant, so tests can stand in
#: for an emulator).
PROC_SELF_EXE = "/proc/self/exe"
_NO_PROGRAM = "neither /proc/self/exe nor sys.executable names the running program"

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
            and a few more found in the root: ``libcprobe._detect.ROOT_PROGRAMS``).
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
        info = _detect_root(root_dir, exe, allow_execute)
    elif exe is not None:
        info = _detect_program(exe, exe, HOST, allow_execute, EvidenceLog())
    elif override is not None:
        info = _from_override(override)
    else:
        info = _detect_running(allow_execute)
    with _lock:
        _cache[key] = info
    return info


# -- the override ------------------------------------------------------------------------


def _from_override(value: str) -> LibcInfo:
    text = value.strip().lower()
    ev = EvidenceLog()
    ev.family(text, "env", None, f"{ENV_OVERRIDE}={value!r}")
    arch = _running_arch()
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
    version = None
    if text.endswith("-"):
        raise OverrideError(f"{ENV_OVERRIDE}={value!r}: a version must follow the '-'")
    if version_text:
        parts = version_text.split(".")  # \d{1,3}(\.\d{1,3}){0,2}, without re
        try:
            if len(parts) > 3 or not all(p.isdecimal() and len(p) <= 3 for p in parts):
                raise ValueError(version_text)
            version = LibcVersion.parse(version_text)
        except ValueError:
            raise OverrideError(
                f"{ENV_OVERRIDE}={value!r}: {version_text!r} is not a version like 1.2 or 2.28"
            ) from None
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


def _running_arch() -> Optional[str]:
    path = _running_program(EvidenceLog())[0]
    if path is None:
        return None
    try:
        with open_elf(path) as elf:
            return elf.arch
    except LibcprobeError:
        return None


def _running_program(ev: EvidenceLog) -> tuple[Optional[str], Optional[str]]:
    """(path to read, how to name it) for the running program: /proc/self/exe (what the
    kernel runs, even when deleted), else sys.executable, else nothing; ``ev`` says which."""
    if os.path.exists(PROC_SELF_EXE):
        shown = sys.executable or None
        try:  # noqa: SIM105  (contextlib.suppress would load contextlib on this path)
            shown = os.readlink(PROC_SELF_EXE)
        except OSError:
            pass
        why = "the running program, as the kernel sees it"
        ev.interpreter(shown or "", "proc-exe", PROC_SELF_EXE, why)
        return PROC_SELF_EXE, shown
    if sys.executable:
        ev.interpreter(sys.executable, "platform", sys.executable, "no /proc: using sys.executable")
        return sys.executable, sys.executable
    return None, None


# -- the running interpreter ---------------------------------------------------------------


def _detect_running(allow_execute: bool) -> LibcInfo:
    ev = EvidenceLog()
    if not sys.platform.startswith("linux") and sys.platform != "android":
        ev.family(
            "none", "platform", None, f"sys.platform is {sys.platform!r}: not Linux, no ELF libc"
        )
        return LibcInfo(family=None, evidence=ev.items, running=True)
    exe_path, shown = _running_program(ev)
    if exe_path is None:
        # Nothing to read; the running glibc can still say what it is.
        answer = _glibc_confstr()
        ev.family("none", "platform", None, _NO_PROGRAM)
        if answer:
            said = f"glibc {answer[0]}"
            ev.family("glibc", "confstr", None, f"os.confstr('CS_GNU_LIBC_VERSION') is {said!r}")
        return LibcInfo(
            family=Family.GLIBC if answer else None,
            version=answer[0] if answer else None,
            evidence=ev.items,
            running=True,
        )

    api = _android_api_level()
    if api is not None:
        ev.family("bionic", "platform", None, f"sys.getandroidapilevel() is {api}")
        info = _detect_program(exe_path, shown, HOST, allow_execute, ev, running=True)
        return _as_bionic(info, api)

    confstr = _glibc_confstr()
    if confstr is not None:
        version, text = confstr
        ev.family("glibc", "confstr", None, f"os.confstr('CS_GNU_LIBC_VERSION') is {text!r}")
        ev.version(version, "confstr", None, f"os.confstr('CS_GNU_LIBC_VERSION') is {text!r}")
        info = _detect_program(
            exe_path, shown, HOST, allow_execute, ev, running=True, known=(Family.GLIBC, version)
        )
        return info
    mapped = _mapped_libc()
    return _detect_program(exe_path, shown, HOST, allow_execute, ev, running=True, mapped=mapped)


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


def _mapped_libc() -> Optional[str]:
    """The libc file the running process has mapped, from /proc/self/maps, or None."""
    try:
        with open("/proc/self/maps", "rb") as maps:
            content = maps.read(4 * 1024 * 1024)
    except OSError:
        return None
    for line in content.splitlines():
        fields = line.split(None, 5)
        if len(fields) < 6 or not fields[5].startswith(b"/"):
            continue
        path = os.fsdecode(fields[5])
        if path.endswith(" (deleted)"):
            path = path[: -len(" (deleted)")]
        name = path.rsplit("/", 1)[-1]
        if family_of_needed_name(name) is not None or family_of_loader_name(path) is not None:
            return path
    return None


def _static_running_family(ev: EvidenceLog) -> Optional[Family]:
    # What the running libc's own strerror says (musl: "No error information" for 0; glibc and
    # bionic: "Success"). No I/O; works where nothing can be read.
    try:
        text = os.strerror(0)
    except (ValueError, OverflowError):  # pragma: no cover
        return None
    family = Family.MUSL if text == "No error information" else None
    if family is not None:
        what = f"os.strerror(0) is {text!r}, musl's wording (glibc says 'Success')"
        ev.family("musl", "strerror", None, what)
    return family


def _sysconfig_support(ev: EvidenceLog, family: Family) -> None:
    # Supporting evidence only (some musl builds said "-gnu" here): never decides anything.
    multiarch = getattr(sys.implementation, "_multiarch", None)
    if isinstance(multiarch, str) and multiarch:
        agrees = ("musl" in multiarch) == (family is Family.MUSL)
        what = f"sys.implementation._multiarch is {multiarch!r}"
        ev.family(
            family.value, "sysconfig", None, what + ("" if agrees else " (disagrees; not used)")
        )


# -- one program ---------------------------------------------------------------------------


def _detect_program(
    path: str,
    shown: Optional[str],
    root: Root,
    allow_execute: bool,
    ev: EvidenceLog,
    *,
    running: bool = False,
    known: Optional[tuple[Family, LibcVersion]] = None,
    mapped: Optional[str] = None,
    hops: int = 0,
) -> LibcInfo:
    """Detect for one program file (``path`` as seen in ``root``); ``shown`` is how to name
    it."""
    ev = ev.copy()
    try:
        with root.open_elf(path) as elf:
            foreign = running and path == PROC_SELF_EXE and _foreign_to_this_process(elf)
            if not foreign:
                return _detect_elf(elf, shown, root, allow_execute, ev, running, known, mapped)
        return _past_an_emulator(elf, allow_execute, ev, known)
    except LibcprobeError as exc:
        if isinstance(exc, FileAccessError) and not running and hops == 0 and root is HOST:
            raise
        host_path = _host_path(root, path)
        interpreter = _shebang(path, root)
        target = None
        if interpreter is not None and hops < MAX_SHEBANG_HOPS:
            try:
                target = root.resolve(interpreter)
            except RootError as loop:
                ev.interpreter(interpreter, "file", host_path, loop.reason)
        if interpreter is not None and target is not None:
            ev.interpreter(
                interpreter,
                "file",
                host_path,
                f"{shown} is a script for {interpreter}; this describes {interpreter} (a "
                "launcher such as a pyenv shim picks the real interpreter only when run: to "
                "describe that one, pass its path, e.g. what `pyenv which python3` prints)",
            )
            return _detect_program(
                interpreter,
                interpreter,
                root,
                allow_execute,
                ev,
                running=running,
                known=known,
                mapped=mapped,
                hops=hops + 1,
            )
        ev.family("none", "elf-header", host_path, exc.reason)
        family, version = known if known is not None else (None, None)
        return LibcInfo(
            family=family,
            version=version,
            executable=shown,
            root=root.shown,
            evidence=ev.items,
            running=running,
        )


def _host_path(root: Root, path: str) -> str:
    """The host path of ``path`` in ``root``, as evidence names a file (``path`` itself when
    it cannot be resolved)."""
    try:
        return root.resolve(path)
    except RootError:
        return path


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


def _machine_family(name: Optional[str]) -> Optional[str]:
    for family, prefixes in MACHINE_FAMILIES:
        if name is not None and name.startswith(prefixes):
            return family
    return None


def _foreign_to_this_process(elf: ELFFile) -> bool:
    """True when /proc/self/exe cannot be this interpreter: its word size or byte order differ
    from this process's, or its machine is not of the kernel's family (the emulator's own file
    under an emulator that does not present the guest program there)."""
    if (elf.elf_class == 64) != (sys.maxsize > 2**32):
        return True
    if elf.little_endian != (sys.byteorder == "little"):
        return True
    try:
        kernel = os.uname().machine
    except (AttributeError, OSError):  # pragma: no cover - Linux always has uname
        return False
    mine, theirs = _machine_family(elf.arch), _machine_family(kernel)
    return mine is not None and theirs is not None and mine != theirs


def _past_an_emulator(
    proc_exe: ELFFile,
    allow_execute: bool,
    ev: EvidenceLog,
    known: Optional[tuple[Family, LibcVersion]],
) -> LibcInfo:
    why = (
        f"/proc/self/exe is {proc_exe.arch} ELF{proc_exe.elf_class} code, not the running program "
        f"(this process is {'64' if sys.maxsize > 2**32 else '32'}-bit {sys.byteorder}-endian on "
        f"a {os.uname().machine} kernel): an emulator's own file"
    )
    if not sys.executable:
        ev.interpreter("none", "proc-exe", PROC_SELF_EXE, why)
        family, version = known if known is not None else (None, None)
        return LibcInfo(family=family, version=version, evidence=ev.items, running=True)
    ev.interpreter(sys.executable, "proc-exe", PROC_SELF_EXE, why + "; using sys.executable")
    return _detect_program(
        sys.executable, sys.executable, HOST, allow_execute, ev, running=True, known=known, hops=1
    )


def _shebang(path: str, root: Root) -> Optional[str]:
    """The interpreter a ``#!`` script names (``env NAME`` searched in the usual directories
    of ``root``), or None. Only a regular file is read: never a FIFO or device, which could
    block or have side effects."""
    head = root.read(path, 256)
    if head is None or not head.startswith(b"#!"):
        return None
    words = head[2:].split(b"\n", 1)[0].split()
    if not words:
        return None
    program = os.fsdecode(words[0])
    if program.rsplit("/", 1)[-1] == "env" and len(words) > 1:
        name = os.fsdecode(words[1])
        for directory in ("/usr/local/bin", "/usr/bin", "/bin"):
            candidate = f"{directory}/{name}"
            if root.is_file(candidate):
                return candidate
        return None
    return program


class _Program:
    """What every answer about one program shares: its architecture, the name it is shown by,
    the root it lives in and whether it is the running process. :meth:`answer` builds the
    :class:`LibcInfo` with those filled in (typed, unlike a ``**dict`` of them)."""

    __slots__ = ("arch", "executable", "root", "running")

    def __init__(
        self, arch: Optional[str], executable: Optional[str], root: Root, running: bool
    ) -> None:
        self.arch = arch
        self.executable = executable
        self.root = root
        self.running = running

    def answer(
        self,
        family: Optional[Family],
        linkage: str,
        evidence: EvidenceLog,
        *,
        version: Optional[LibcVersion] = None,
        interpreter: Optional[str] = None,
        library: Optional[str] = None,
        can_load_extensions: Optional[bool],
    ) -> LibcInfo:
        return LibcInfo(
            family=family,
            version=version,
            linkage=linkage,
            arch=self.arch,
            interpreter=interpreter,
            library=library,
            can_load_extensions=can_load_extensions,
            executable=self.executable,
            root=self.root.shown,
            running=self.running,
            evidence=evidence.items,
        )


def _detect_elf(
    elf: ELFFile,
    shown: Optional[str],
    root: Root,
    allow_execute: bool,
    ev: EvidenceLog,
    running: bool,
    known: Optional[tuple[Family, LibcVersion]],
    mapped: Optional[str],
) -> LibcInfo:
    """One ELF program's libc: the per-program routine every question (the running process,
    a program, a root) ends in."""
    arch = elf.arch
    ev.arch(
        arch,
        "elf-header",
        elf.path,
        f"ELF{elf.elf_class} {elf.endian}-endian, e_machine {elf.machine}",
    )
    cls = classify(elf, scan=True)
    program = _Program(arch, shown, root, running)
    if cls.is_libc:
        # The program is the loader/libc itself (e.g. python started as `ld-musl-* python3`,
        # where /proc/self/exe is the loader).
        ev.extend(cls.evidence)
        version = known[1] if known else (cls.libc_version.version if cls.libc_version else None)
        return program.answer(
            cls.family,
            "dynamic",
            ev,
            version=version,
            library=shown,
            can_load_extensions=True,
        )
    if elf.linkage == "static":
        return _static_program(elf, cls, program, ev, known)
    interp = elf.interpreter
    if interp is not None:
        ev.interpreter(interp, "elf-interp", elf.path, "PT_INTERP")
    ev.extend(cls.evidence)
    if known is not None:
        return program.answer(
            known[0],
            "dynamic",
            ev,
            version=known[1],
            interpreter=interp,
            can_load_extensions=True,
        )
    found = _dynamic_from_loader(elf, cls, program, allow_execute, ev, mapped)
    return found if found is not None else _dynamic_from_names(elf, cls, program, ev)


def _static_program(
    elf: ELFFile,
    cls: Classification,
    program: _Program,
    ev: EvidenceLog,
    known: Optional[tuple[Family, LibcVersion]],
) -> LibcInfo:
    """A statically linked program: its own bytes (or the running libc) name the family; it
    can load no extension module."""
    path = elf.path
    ev.linkage("static", "elf-header", path, "no PT_INTERP and no DT_NEEDED: statically linked")
    family = cls.family
    ev.extend(cls.evidence)
    if known is not None:
        family = known[0]
    elif family is None and program.running:
        family = _static_running_family(ev)
    if program.running and family is not None:
        _sysconfig_support(ev, family)
    ev.extensions(
        "false",
        "elf-header",
        path,
        "a statically linked program has no dynamic loader: its dlopen "
        "cannot load extension modules; use a dynamically linked build",
    )
    if family is Family.MUSL:
        ev.version("none", "elf-header", path, "static musl embeds no version string")
    return program.answer(
        family,
        "static",
        ev,
        version=known[1] if known else None,
        can_load_extensions=False,
    )


def _dynamic_from_loader(
    elf: ELFFile,
    cls: Classification,
    program: _Program,
    allow_execute: bool,
    ev: EvidenceLog,
    mapped: Optional[str],
) -> Optional[LibcInfo]:
    """A dynamic program's libc read from what the process maps, else from its loader; None
    when neither can be read."""
    interp, root, shown = elf.interpreter, program.root, program.executable
    candidates: list[tuple[str, str, Source]] = []  # (path in the root, shown path, source)
    if mapped is not None:
        candidates.append((mapped, mapped, "proc-maps"))
    if interp is not None:
        loader = _loader_path(interp, root, ev)
        if loader is not None and not program.running and not root.exists(loader):
            return _cannot_start(cls, interp, program, ev)
        if loader is not None:
            candidates.append((loader, interp, "elf-interp"))
    for path, where, source in candidates:
        lib = _read_libc(path, where, root, source, elf, ev)
        if lib is None and source == "elf-interp":
            lib = _through_shim(path, where, root, elf, ev)
        if lib is None:
            continue
        family, version, library = lib
        if source == "proc-maps":
            ev.family(
                str(family), "proc-maps", where, "the running process has this C library mapped"
            )
        if family is Family.GLIBC and source == "elf-interp":
            # The version libc.so.6 itself carries, found as ld.so would find it; the
            # loader's own banner (same glibc build) only when there is no libc.so.6.
            found = _glibc_from_libc_so(elf, root, ev, origin=shown, loader=where)
            version, library = found or (version, library)
        if family is Family.MUSL and allow_execute and library == where:
            from ._execute import cross_check_musl

            version = cross_check_musl(root.resolve(path), version, ev)
        return program.answer(
            family,
            "dynamic",
            ev,
            version=version,
            interpreter=interp,
            library=library,
            can_load_extensions=True,
        )
    return None


def _dynamic_from_names(
    elf: ELFFile, cls: Classification, program: _Program, ev: EvidenceLog
) -> LibcInfo:
    """No loader could be read: keep what the names said, and the version a libc found by
    them carries."""
    named_version: Optional[LibcVersion] = None
    named_library: Optional[str] = None
    root = program.root
    if cls.family is Family.GLIBC:
        found = _glibc_from_libc_so(elf, root, ev, origin=program.executable)
        named_version, named_library = found or (None, None)
    elif cls.family is Family.MUSL and elf.interpreter is None:
        named_version, named_library = _musl_from_needed(elf, root, ev) or (None, None)
    elif cls.family is Family.BIONIC:
        named_version = _android_api(cls, root, ev)
    return program.answer(
        cls.family,
        "dynamic",
        ev,
        version=named_version,
        interpreter=elf.interpreter,
        library=named_library,
        can_load_extensions=True if cls.family else None,
    )


def _loader_path(interp: str, root: Root, ev: EvidenceLog) -> Optional[str]:
    """Where a PT_INTERP is in the root (None when it cannot be resolved inside it)."""
    if root is HOST:
        return interp
    # merged /usr: /lib is a symlink to usr/lib on current distributions, and an unpacked
    # package or image layer may lack that link.
    merged = "/usr" + interp
    try:
        if root.stat(interp) is None and interp.startswith("/lib") and root.stat(merged):
            return merged
    except RootError as exc:
        ev.version("none", "file", interp, exc.reason)
        return None
    return interp


def _cannot_start(cls: Classification, interp: str, program: _Program, ev: EvidenceLog) -> LibcInfo:
    """A dynamic program whose loader is missing: the kernel refuses to start it (ENOENT), so
    it loads nothing and no binary wheel suits it here, whatever it was built for."""
    where = "on this machine" if program.root is HOST else "in this root"
    ev.interpreter("missing", "elf-interp", interp, f"{interp} does not exist {where}")
    ev.extensions(
        "false",
        "elf-interp",
        interp,
        f"its loader {interp} (PT_INTERP) does not exist {where}: the kernel cannot start "
        "the program here, so it loads no extension module and no wheel tag applies"
        + (f" (it was built for {cls.family.value})" if cls.family is not None else ""),
    )
    return program.answer(cls.family, "dynamic", ev, interpreter=interp, can_load_extensions=False)


#: How a glibc-compatibility shim names musl's loader (gcompat's loader execs it).
_MUSL_LOADER_PREFIX = b"/lib/ld-musl-"
#: Most read-only bytes read from a file under glibc's loader name to find what it runs on
#: (gcompat's shim is ~25 KB).
SHIM_SCAN = 1024 * 1024


def _through_shim(
    path: str, interp: str, root: Root, program: ELFFile, ev: EvidenceLog
) -> Optional[tuple[Optional[Family], Optional[LibcVersion], str]]:
    """PT_INTERP is a program, not a libc: a compatibility shim such as Alpine's gcompat
    (``/lib/ld-linux-x86-64.so.2`` re-executes musl's loader with libgcompat preloaded). What
    runs the program is then the musl loader the shim names, or the one it is linked with."""
    try:
        with root.open_elf(path) as shim:
            if sum(size for _, size in shim.readonly_ranges()) > SHIM_SCAN:
                return None
            named = _named_musl_loader(shim.readonly_data())
            shim_family = classify(shim, scan=True).family
            shim_interp = shim.interpreter
    except LibcprobeError:
        return None
    loaders = [named] if named is not None else []
    if shim_interp is not None and family_of_loader_name(shim_interp) is Family.MUSL:
        loaders.append(shim_interp)
    if shim_family is Family.MUSL and not loaders:
        for directory in ("/lib", "/usr/lib"):
            loaders.extend(root.glob(f"{directory}/ld-musl-*.so.1"))
    for loader in loaders:
        if not root.exists(loader):
            continue
        lib = _read_libc(loader, loader, root, "elf-interp", program, EvidenceLog())
        if lib is None or lib[0] is not Family.MUSL:
            continue
        ev.family(
            "musl",
            "elf-interp",
            interp,
            f"PT_INTERP {interp} is not glibc's loader but a compatibility shim that runs "
            f"the program on musl's loader {loader} (as Alpine's gcompat does)",
        )
        _read_libc(loader, loader, root, "elf-interp", program, ev)
        _note_compat_library(program, root, ev)
        return lib
    return None


def _named_musl_loader(chunks: list[tuple[int, bytes]]) -> Optional[str]:
    for _, data in chunks:
        at = data.find(_MUSL_LOADER_PREFIX)
        if at < 0:
            continue
        end = data.find(b"\0", at, at + 64)
        name = data[at:end] if end > 0 else b""
        if name.endswith(b".so.1"):
            return name.decode("ascii", "replace")
    return None


def _note_compat_library(program: ELFFile, root: Root, ev: EvidenceLog) -> None:
    """Say which file answers to glibc's name (libc.so.6 -> libgcompat.so.0) and that its
    glibc version is made up."""

    def note(shown: str, lib: ELFFile) -> bool:
        if classify(lib, scan=False).is_libc:
            return True
        ev.family(
            "musl",
            "elf-soname",
            shown,
            f"libc.so.6 is {lib.soname or 'a library'} over musl, not glibc: glibc's version "
            "query (gnu_get_libc_version) there returns a fixed made-up answer (gcompat: "
            "'2.8' or $GLIBC_FAKE_VERSION), not a version of anything that runs",
        )
        return True

    _first_libc_so(root, root.library_dirs(), note)


def _first_libc_so(
    root: Root, dirs: list[str], read: Callable[[str, ELFFile], Optional[T]]
) -> Optional[T]:
    """The first answer ``read(shown, lib)`` gives for the ``libc.so.6`` of a directory of
    ``dirs``, in order, called while the file is open; a file that cannot be read is passed
    over."""
    for directory in dirs:
        shown = f"{directory.rstrip('/')}/libc.so.6"
        try:
            with root.open_elf(shown) as lib:
                found = read(shown, lib)
        except LibcprobeError:
            continue
        if found is not None:
            return found
    return None


def _android_api(cls: Classification, root: Root, ev: EvidenceLog) -> Optional[LibcVersion]:
    """bionic's version is the Android API level: the root's system/build.prop
    (ro.build.version.sdk), else the program's Android ident note (the API it targets)."""
    import re  # only for a root's build.prop, never on the path of this process

    prop = root.read("/system/build.prop", 256 * 1024) if root is not HOST else None
    if prop is not None:
        text = prop.decode("utf-8", "replace")
        match = re.search(r"^ro\.build\.version\.sdk=(\d{1,4})\s*$", text, re.MULTILINE)
        if match is not None:
            sdk = match.group(1)
            ev.version(sdk, "file", "/system/build.prop", f"ro.build.version.sdk={sdk}")
            return LibcVersion((int(sdk),))
    if cls.api_level is not None:
        what = f"the program's Android ident note targets API {cls.api_level}"
        ev.version(cls.api_level, "elf-note", None, what)
        return LibcVersion((cls.api_level,))
    return None


def _read_libc(
    path: str,
    shown: str,
    root: Root,
    source: Source,
    program: ELFFile,
    ev: EvidenceLog,
) -> Optional[tuple[Optional[Family], Optional[LibcVersion], str]]:
    """Read a loader/libc file; None when it cannot be read or is not a libc."""
    try:
        with root.open_elf(path) as lib:
            cls: Classification = classify(lib, scan=True)
            mismatch = (lib.machine, lib.elf_class) != (program.machine, program.elf_class)
            host = lib.path
    except LibcprobeError as exc:
        ev.version("none", source, shown, f"cannot read it: {exc.reason}")
        return None
    if not cls.is_libc:
        ev.family("none", source, shown, "it is not a C library or loader libcprobe knows")
        return None
    if mismatch:
        ev.arch("mismatch", source, shown, "its machine or class differs from the program's")
    ev.extend(
        e._replace(path=shown) if e.path == host and root is not HOST else e for e in cls.evidence
    )
    version = cls.libc_version.version if cls.libc_version else None
    return cls.family, version, shown


def _glibc_from_libc_so(
    program: ELFFile,
    root: Root,
    ev: EvidenceLog,
    *,
    origin: Optional[str] = None,
    loader: Optional[str] = None,
) -> Optional[tuple[Optional[LibcVersion], str]]:
    """Find libc.so.6 the way ld.so would and read its banner: the program's DT_RPATH /
    DT_RUNPATH (how Nix and Guix point at their glibc), ld.so.conf and the multiarch
    directories, the loader's own directory (a glibc's built-in directory: /nix/store/…/lib,
    /usr/glibc-compat/lib), then the defaults."""

    def banner(shown: str, lib: ELFFile) -> Optional[tuple[Optional[LibcVersion], str]]:
        if (lib.machine, lib.elf_class) != (program.machine, program.elf_class):
            return None
        cls = classify(lib, scan=True)
        found = cls.libc_version
        if cls.family is not Family.GLIBC or found is None:
            return None
        ev.version(
            found.version, "string", shown, f"libc.so.6 banner 'release version {found.text}'"
        )
        return found.version, shown

    return _first_libc_so(root, _libc_search_path(program, root, origin, loader), banner)


def _libc_search_path(
    program: ELFFile, root: Root, origin: Optional[str], loader: Optional[str]
) -> list[str]:
    own = [] if program.runpath else list(program.rpath)
    own.extend(program.runpath)
    here = origin.rsplit("/", 1)[0] or "/" if origin and origin.startswith("/") else None
    dirs = []
    for entry in own[:64]:
        if "$ORIGIN" in entry or "${ORIGIN}" in entry:
            if here is None:
                continue
            entry = entry.replace("${ORIGIN}", here).replace("$ORIGIN", here)
        if entry.startswith("/") and "$" not in entry:
            dirs.append(entry)
    configured = root.library_dirs()
    dirs.extend(d for d in configured if d not in LIBRARY_DIRS)
    if loader is not None and loader.startswith("/"):
        for path in (loader, root.real_path(loader)):
            if path is not None:
                dirs.append(path.rsplit("/", 1)[0] or "/")
    dirs.extend(LIBRARY_DIRS)
    return list(dict.fromkeys(dirs))


def _musl_from_needed(
    program: ELFFile, root: Root, ev: EvidenceLog
) -> Optional[tuple[Optional[LibcVersion], str]]:
    """For a musl file without PT_INTERP (an extension module, a shared library): the musl
    libc it needs (libc.musl-<arch>.so.1 on Alpine), found in the library directories."""
    names = [n for n in program.needed if n.startswith("libc.musl-")]
    for name in names[:2]:
        for directory in ("/lib", "/usr/lib", "/usr/local/lib"):
            shown = f"{directory}/{name}"
            if not root.is_file(shown):
                continue
            lib = _read_libc(shown, shown, root, "elf-needed", program, ev)
            if lib is not None and lib[0] is Family.MUSL:
                return lib[1], shown
    return None


# -- a root filesystem ---------------------------------------------------------------------


def _detect_root(root_dir: str, exe: Optional[str], allow_execute: bool) -> LibcInfo:
    if not os.path.isdir(root_dir):
        raise RootError("root is not a directory", root_dir)
    with Root(os.path.abspath(root_dir)) as root:
        return _scan_root(root, exe, allow_execute)


def _scan_root(root: Root, exe: Optional[str], allow_execute: bool) -> LibcInfo:
    ev = EvidenceLog()
    if exe is not None:
        if root.stat(exe) is None:
            raise FileAccessError("no such file in the root", exe)
        return _detect_program(exe, exe, root, allow_execute, ev)
    first_static: Optional[LibcInfo] = None
    cannot_start: Optional[LibcInfo] = None
    for program in ROOT_PROGRAMS:
        if not _usable(root, program, ev):
            continue
        tried = ev.copy()
        tried.interpreter(program, "file", program, "the first dynamic program found in the root")
        info = _detect_program(program, program, root, allow_execute, tried)
        if info.linkage == "dynamic" and info.can_load_extensions is False:
            if cannot_start is None:  # its loader is missing: look further
                cannot_start = info
        elif info.linkage == "dynamic":
            return info
        elif first_static is None and info.linkage == "static":
            first_static = info
    loaders = _root_loaders(root)
    if loaders:
        from_loader = _from_root_loader(root, loaders, ev)
        if from_loader is not None:
            return from_loader
    if first_static is not None:
        return first_static
    if cannot_start is not None:
        return cannot_start
    ev.family("none", "file", None, "no program and no C library or loader found in the root")
    return LibcInfo(family=None, root=root.shown, evidence=ev.items)


def _usable(root: Root, program: str, ev: EvidenceLog) -> bool:
    """Whether ``program`` is a regular file in the root; one that cannot be resolved (a
    symlink loop, a link out of the root) is said, so the answer says why it was passed over."""
    try:
        found = root.stat(program)
    except RootError as exc:
        ev.interpreter(program, "file", program, f"not used: {exc.reason}")
        return False
    return found is not None and stat.S_ISREG(found.st_mode)


def _from_root_loader(root: Root, loaders: list[str], ev: EvidenceLog) -> Optional[LibcInfo]:
    """The answer for a root with no dynamic program: its first loader/libc."""
    shown = loaders[0]
    try:
        with root.open_elf(shown) as lib:
            cls = classify(lib, scan=True)
    except LibcprobeError as exc:
        ev.family("none", "file", shown, exc.reason)
        return None
    if not cls.is_libc:
        return None
    what = "no dynamic program in the root; its loader/libc is this"
    ev.family(str(cls.family), "file", shown, what)
    ev.extend(e._replace(path=shown) for e in cls.evidence)
    if loaders[1:]:
        ev.family(str(cls.family), "file", shown, f"also present: {', '.join(loaders[1:5])}")
    version = cls.libc_version.version if cls.libc_version else None
    library = shown
    if cls.family is Family.GLIBC and not shown.endswith("/libc.so.6"):
        # The loader's banner is the same glibc build's; libc.so.6 is what programs load.
        found = _glibc_from_libc_so(lib, root, ev, loader=shown)
        version, library = found or (version, library)
    return LibcInfo(
        family=cls.family,
        version=version,
        linkage="dynamic",
        arch=lib.arch,
        library=library,
        can_load_extensions=True,
        root=root.shown,
        evidence=ev.items,
    )


def _root_loaders(root: Root) -> list[str]:
    """The loader/libc files in the root; glibc's first when both are present, so a stray
    musl loader on a glibc system does not win; then those in a Nix or Guix store, newest
    first."""
    found: list[tuple[int, str]] = []
    for pattern in LOADER_GLOBS:
        for shown in root.glob("/" + pattern):
            if root.is_file(shown):
                found.append((1 if shown.rsplit("/", 1)[-1].startswith("ld-musl-") else 0, shown))
    found.sort(key=lambda t: t[0])
    return [shown for _, shown in found] + _store_loaders(root)


#: Nix and Guix keep every package in its own store directory, ``<hash>-<name>-<version>``;
#: their images need have no /lib at all (NixOS manual, "Nix store"; Guix manual, "The Store").
STORES = ("/nix/store", "/gnu/store")
STORE_LIBCS = ("glibc-", "musl-")
#: Store entries looked at (a NixOS store holds tens of thousands) and libc entries kept.
MAX_STORE_ENTRIES = 200_000
MAX_STORE_LIBCS = 16


def _store_loaders(root: Root) -> list[str]:
    """The loaders under a Nix or Guix store's glibc/musl entries, newest version first."""
    found: list[tuple[tuple[int, ...], str]] = []
    for store in STORES:
        for entry in _store_libc_entries(root, store):
            for pattern in _LOADER_NAMES:
                for shown in root.glob(f"{store}/{entry}/lib/{pattern}"):
                    if root.is_file(shown):
                        found.append((_store_version(entry), shown))
    found.sort(key=lambda t: t[0], reverse=True)
    return [shown for _, shown in found]


def _store_libc_entries(root: Root, store: str) -> list[str]:
    names: list[str] = []
    for name in root.listdir(store, MAX_STORE_ENTRIES):
        _, _, rest = name.partition("-")
        if rest.startswith(STORE_LIBCS) and rest[rest.index("-") + 1 :][:1].isdigit():
            names.append(name)
            if len(names) >= MAX_STORE_LIBCS:
                break
    return sorted(names)


def _store_version(entry: str) -> tuple[int, ...]:
    # "<hash>-glibc-2.41-48" -> (2, 41, 48)
    version = entry.split("-", 2)[2]
    parts = []
    for part in version.replace("-", ".").split(".")[:4]:
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


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
