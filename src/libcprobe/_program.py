"""One program's C library: the routine every question (the running process, a program, a
root) ends in.

:func:`detect_program` opens a program file inside its :class:`~._rootfs.Root` (a ``#!``
script: the interpreter it names, at most :data:`MAX_SHEBANG_HOPS` times) and
:func:`detect_elf` decides for the ELF file: the program is a libc itself, statically linked
(its own bytes name the family; the running libc's ``strerror`` when they do not), or
dynamic, when the libc it loads decides (:mod:`._libc_files`: the one the process maps, its
loader, ``libc.so.6`` as ``ld.so`` finds it), else what its names say. What one detection asks
of every program it reads travels as one :class:`Ask`.
"""

from __future__ import annotations

import os
import sys

from ._classify import Classification, classify
from ._errors import FileAccessError, LibcprobeError, RootError
from ._model import EvidenceLog, Family, LibcInfo, LibcVersion
from ._rootfs import HOST, Root

TYPE_CHECKING = False  # typing and collections.abc only for type checkers: see _records.py
if TYPE_CHECKING:  # pragma: no cover
    from typing import Callable, Optional

    from ._elf import ELFFile
    from ._libc_files import LibcFile
    from ._model import Source

__all__ = ["MAX_SHEBANG_HOPS", "Ask", "arch_evidence", "detect_elf", "detect_program"]

#: ``#!`` scripts followed from one program to the interpreter it names.
MAX_SHEBANG_HOPS = 4


class Ask:
    """What one detection asks of every program it reads: where their files are (``root``),
    whether a musl loader may run (``allow_execute``), whether the program is this running
    process (``running``), what the running libc already said of itself (``known``: glibc's
    ``confstr``) and how to learn which libc file the process has mapped (``mapped``: asked
    only when the loader its ``PT_INTERP`` names does not answer)."""

    __slots__ = ("allow_execute", "known", "mapped", "root", "running")

    def __init__(
        self,
        root: Root,
        allow_execute: bool,
        *,
        running: bool = False,
        known: Optional[tuple[Family, LibcVersion]] = None,
        mapped: Optional[Callable[[], Optional[str]]] = None,
    ) -> None:
        self.root = root
        self.allow_execute = allow_execute
        self.running = running
        self.known = known
        self.mapped = mapped


class _Program:
    """One ELF program being decided: the file, the name it is shown by, what is asked and
    the evidence so far. :meth:`answer` builds the :class:`LibcInfo` with those filled in."""

    __slots__ = ("ask", "elf", "ev", "shown")

    def __init__(self, elf: ELFFile, shown: Optional[str], ask: Ask, ev: EvidenceLog) -> None:
        self.elf = elf
        self.shown = shown
        self.ask = ask
        self.ev = ev

    def answer(
        self,
        family: Optional[Family],
        linkage: str,
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
            arch=self.elf.arch,
            interpreter=interpreter,
            library=library,
            can_load_extensions=can_load_extensions,
            executable=self.shown,
            root=self.ask.root.shown,
            running=self.ask.running,
            evidence=self.ev.items,
        )


# -- a program file ------------------------------------------------------------------------


def detect_program(
    path: str, shown: Optional[str], ask: Ask, ev: EvidenceLog, hops: int = 0
) -> LibcInfo:
    """Detect for one program file (``path`` as seen in ``ask.root``); ``shown`` is how to
    name it, ``ev`` the evidence gathered before (copied, not changed)."""
    ev = ev.copy()
    try:
        with ask.root.open_elf(path) as elf:
            return detect_elf(elf, shown, ask, ev)
    except LibcprobeError as exc:
        explicit = not ask.running and hops == 0 and ask.root is HOST
        if explicit and isinstance(exc, FileAccessError):
            raise  # the program asked for cannot be read at all
        return _not_elf(path, shown, ask, ev, hops, exc)


def _not_elf(
    path: str, shown: Optional[str], ask: Ask, ev: EvidenceLog, hops: int, exc: LibcprobeError
) -> LibcInfo:
    """A program file that cannot be read as ELF: the interpreter of a ``#!`` script, else an
    answer without a libc (or with what the running libc said of itself) that says why."""
    host_path = _host_path(ask.root, path)
    interpreter = _shebang(path, ask.root)
    target = None
    if interpreter is not None and hops < MAX_SHEBANG_HOPS:
        try:
            target = ask.root.resolve(interpreter)
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
        return detect_program(interpreter, interpreter, ask, ev, hops + 1)
    ev.family("none", "elf-header", host_path, exc.reason)
    family, version = ask.known if ask.known is not None else (None, None)
    return LibcInfo(
        family=family,
        version=version,
        executable=shown,
        root=ask.root.shown,
        evidence=ev.items,
        running=ask.running,
    )


def _host_path(root: Root, path: str) -> str:
    """The host path of ``path`` in ``root``, as evidence names a file (``path`` itself when
    it cannot be resolved)."""
    try:
        return root.resolve(path)
    except RootError:
        return path


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


# -- an ELF program ------------------------------------------------------------------------


def detect_elf(elf: ELFFile, shown: Optional[str], ask: Ask, ev: EvidenceLog) -> LibcInfo:
    """One ELF program's libc (``ev`` grows with the evidence)."""
    arch_evidence(ev, elf.arch, elf.elf_class, elf.little_endian, elf.machine, elf.path)
    cls = classify(elf, scan=True)
    program = _Program(elf, shown, ask, ev)
    known = ask.known
    if cls.is_libc:
        # The program is the loader/libc itself (e.g. python started as `ld-musl-* python3`,
        # where /proc/self/exe is the loader).
        ev.extend(cls.evidence)
        version = known[1] if known else (cls.libc_version.version if cls.libc_version else None)
        return program.answer(
            cls.family, "dynamic", version=version, library=shown, can_load_extensions=True
        )
    if elf.linkage == "static":
        return _static_program(program, cls)
    interp = elf.interpreter
    if interp is not None:
        ev.interpreter(interp, "elf-interp", elf.path, "PT_INTERP")
    ev.extend(cls.evidence)
    if known is not None:
        return program.answer(
            known[0], "dynamic", version=known[1], interpreter=interp, can_load_extensions=True
        )
    found = _dynamic_from_loader(program, cls)
    return found if found is not None else _dynamic_from_names(program, cls)


def arch_evidence(
    ev: EvidenceLog,
    arch: Optional[str],
    elf_class: int,
    little_endian: bool,
    machine: int,
    path: str,
) -> None:
    """The evidence of a program's architecture, from its ELF header."""
    endian = "little" if little_endian else "big"
    ev.arch(arch, "elf-header", path, f"ELF{elf_class} {endian}-endian, e_machine {machine}")


def _static_program(program: _Program, cls: Classification) -> LibcInfo:
    """A statically linked program: its own bytes (or the running libc) name the family; it
    can load no extension module."""
    path, ev, known, running = program.elf.path, program.ev, program.ask.known, program.ask.running
    ev.linkage("static", "elf-header", path, "no PT_INTERP and no DT_NEEDED: statically linked")
    family = cls.family
    ev.extend(cls.evidence)
    if known is not None:
        family = known[0]
    elif family is None and running:
        family = _static_running_family(ev)
    if running and family is not None:
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
    version = known[1] if known else None
    return program.answer(family, "static", version=version, can_load_extensions=False)


def _static_running_family(ev: EvidenceLog) -> Optional[Family]:
    # A static running process: what its own libc's strerror says (musl: "No error
    # information" for 0; glibc and bionic: "Success"). No I/O; works where nothing can be read.
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


# -- a dynamic program: the libc it loads --------------------------------------------------


def _dynamic_from_loader(program: _Program, cls: Classification) -> Optional[LibcInfo]:
    """A dynamic program's libc read from its loader (``PT_INTERP``), else, for the running
    process, from the libc file it has mapped; None when neither can be read."""
    from ._libc_files import read_libc  # not on the path of a glibc process confstr answers

    elf, ask, ev = program.elf, program.ask, program.ev
    interp = elf.interpreter
    if interp is not None:
        # The kernel maps exactly the PT_INTERP file when it starts the program, so for the
        # running process too this is the loader it runs on, unless the path was re-pointed
        # since (docs/how-it-works.md); cheaper to learn than /proc/self/maps, which the
        # kernel formats line by line up to the libc's, near its end for musl (17-60 us in
        # a musl CPython).
        loader = _loader_path(interp, ask.root, ev)
        if loader is not None and not ask.running and not ask.root.exists(loader):
            return _cannot_start(program, cls, interp)
        if loader is not None:
            lib = read_libc(loader, interp, ask.root, "elf-interp", elf, ev)
            if lib is None:
                from ._shim import through_shim  # only a loader that is not a libc needs it

                lib = through_shim(loader, interp, ask.root, elf, ev)
            if lib is not None:
                return _from_libc(program, lib, loader, interp, "elf-interp")
    mapped = ask.mapped() if ask.mapped is not None else None
    if mapped is not None:
        lib = read_libc(mapped, mapped, ask.root, "proc-maps", elf, ev)
        if lib is not None:
            return _from_libc(program, lib, mapped, mapped, "proc-maps")
    return None


def _from_libc(program: _Program, lib: LibcFile, path: str, where: str, source: Source) -> LibcInfo:
    """The answer from the libc file the program loads, found through ``source`` at ``path``
    in the root (``where``: the name the program or process gives it): glibc's version as its
    ``libc.so.6`` carries it, musl's cross-checked by running the loader when allowed."""
    from ._libc_files import glibc_from_libc_so

    family, version, library = lib
    ask, ev, elf = program.ask, program.ev, program.elf
    if source == "proc-maps":
        ev.family(str(family), "proc-maps", where, "the running process has this C library mapped")
    if family is Family.GLIBC and source == "elf-interp":
        # The version libc.so.6 itself carries, found as ld.so would find it; the loader's
        # own banner (same glibc build) only when there is no libc.so.6.
        found = glibc_from_libc_so(elf, ask.root, ev, origin=program.shown, loader=where)
        version, library = found or (version, library)
    if family is Family.MUSL and ask.allow_execute and library == where:
        from ._execute import cross_check_musl

        version = cross_check_musl(ask.root.resolve(path), version, ev)
    return program.answer(
        family,
        "dynamic",
        version=version,
        interpreter=elf.interpreter,
        library=library,
        can_load_extensions=True,
    )


def _dynamic_from_names(program: _Program, cls: Classification) -> LibcInfo:
    """No loader could be read: keep what the names said, and the version a libc found by
    them carries."""
    from ._libc_files import android_api, glibc_from_libc_so, musl_from_needed

    elf, root, ev = program.elf, program.ask.root, program.ev
    named_version: Optional[LibcVersion] = None
    named_library: Optional[str] = None
    if cls.family is Family.GLIBC:
        found = glibc_from_libc_so(elf, root, ev, origin=program.shown)
        named_version, named_library = found or (None, None)
    elif cls.family is Family.MUSL and elf.interpreter is None:
        named_version, named_library = musl_from_needed(elf, root, ev) or (None, None)
    elif cls.family is Family.BIONIC:
        named_version = android_api(cls, root, ev)
    return program.answer(
        cls.family,
        "dynamic",
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


def _cannot_start(program: _Program, cls: Classification, interp: str) -> LibcInfo:
    """A dynamic program whose loader is missing: the kernel refuses to start it (ENOENT), so
    it loads nothing and no binary wheel suits it here, whatever it was built for."""
    where = "on this machine" if program.ask.root is HOST else "in this root"
    program.ev.interpreter("missing", "elf-interp", interp, f"{interp} does not exist {where}")
    program.ev.extensions(
        "false",
        "elf-interp",
        interp,
        f"its loader {interp} (PT_INTERP) does not exist {where}: the kernel cannot start "
        "the program here, so it loads no extension module and no wheel tag applies"
        + (f" (it was built for {cls.family.value})" if cls.family is not None else ""),
    )
    return program.answer(cls.family, "dynamic", interpreter=interp, can_load_extensions=False)
