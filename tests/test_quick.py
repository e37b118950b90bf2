"""The short way of reading the running musl process (``libcprobe._quick``) against the general
routine it stands in for: wherever it answers, the answer is the general routine's, to the
last line of evidence; where it cannot be sure, it does not answer.

Material: every real musl ``libc.so`` in tests/fixtures (Debian bullseye, bookworm and trixie,
nine architectures; see tests/fixtures/README.md) and this host's, each behind a program built
for its machine (``elfbuild``) whose ``PT_INTERP`` names a copy of it; then damaged copies of
the amd64 pair (bytes overwritten where the two readers look: the headers, the dynamic section,
the string table, the read-only data around the version)."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Optional

import pytest

from elfbuild import Spec, build
from libcprobe import LibcInfo
from libcprobe._elf import read_elf
from libcprobe._model import EvidenceLog
from libcprobe._program import Ask, detect_program
from libcprobe._quick import quick_musl
from libcprobe._rootfs import HOST

FIXTURES = Path(__file__).resolve().parent / "fixtures"
HOST_MUSL = Path("/usr/lib/x86_64-linux-musl/libc.so")
LOADERS = sorted(FIXTURES.glob("debian/*/*/musl/libc.so")) + (
    [HOST_MUSL] if HOST_MUSL.is_file() else []
)
SHOWN = "/usr/bin/python3"


def _never_foreign(elf_class: int, little_endian: bool, arch: Optional[str]) -> bool:
    return False


def _pair(tmp: Path, loader: Path) -> tuple[Path, Path]:
    """A copy of ``loader`` as ``<tmp>/ld-musl-<arch>.so.1`` and a program for its machine
    whose PT_INTERP names it."""
    lib = read_elf(loader)
    copy = tmp / f"ld-musl-{lib.arch}.so.1"
    shutil.copyfile(loader, copy)
    spec = Spec(
        elf_class=lib.elf_class,
        little=lib.little_endian,
        machine=lib.machine,
        flags=lib.flags,
        etype=3,
        interp=str(copy),
        needed=["libc.so"],
        runpath=None,
        verneed=[],
        notes=[],
    )
    program = tmp / "python3"
    program.write_bytes(build(spec).data)
    return program, copy


def _both(program: Path) -> tuple[Optional[LibcInfo], LibcInfo]:
    """(the short way's answer, the general routine's) for ``program`` as the running one."""
    quick = quick_musl(str(program), SHOWN, EvidenceLog(), _never_foreign)
    ask = Ask(HOST, False, running=True, mapped=lambda: None)
    general = detect_program(str(program), SHOWN, ask, EvidenceLog())
    return quick, general


@pytest.mark.parametrize("loader", LOADERS, ids=[str(p.relative_to(p.anchor)) for p in LOADERS])
def test_the_same_answer_on_real_loaders(tmp_path: Path, loader: Path) -> None:
    program, _ = _pair(tmp_path, loader)
    quick, general = _both(program)
    assert general.family is not None and str(general.family) == "musl"
    if quick is not None:
        assert quick == general
        assert quick.evidence == general.evidence
    assert quick is not None, "the short way answers for every real musl here"


@pytest.mark.parametrize(
    "change", ["soname", "static", "glibc-loader", "android-note", "no-usage-text"]
)
def test_other_programs_are_left_to_the_general_routine(tmp_path: Path, change: str) -> None:
    loader = FIXTURES / "debian/bookworm/amd64/musl/libc.so"
    lib = tmp_path / "ld-musl-x86_64.so.1"
    shutil.copyfile(loader, lib)
    spec = Spec(interp=str(lib), needed=["libc.so"], runpath=None, verneed=[], notes=[])
    if change == "soname":
        spec.soname = "libpython3.so"
    elif change == "static":
        spec.interp, spec.needed = None, []
    elif change == "glibc-loader":
        glibc = tmp_path / "ld-linux-x86-64.so.2"
        lib.rename(glibc)
        spec.interp = str(glibc)
    elif change == "android-note":
        spec.notes = [("Android", 1, (30).to_bytes(4, "little"))]
    elif change == "no-usage-text":
        data = lib.read_bytes()
        lib.write_bytes(data.replace(b"musl libc", b"other lib"))
    program = tmp_path / "python3"
    program.write_bytes(build(spec).data)
    quick, general = _both(program)
    assert quick is None, general


#: A loader of musl's shape built whole (elfbuild: one R+X PT_LOAD, so the version is found by
#: the search over all read-only data): the short way answers for it as it is.
_LIB: dict[str, object] = dict(
    interp=None, needed=[], runpath=None, verneed=[], flags_1=0, notes=[]
)
_LIB_RODATA = b"\0musl libc (x86_64)\0Version %s\0\x009.8.7\0"


def _built_pair(tmp: Path, **loader: object) -> Path:
    spec = Spec(**{**_LIB, "extra_rodata": _LIB_RODATA, **loader})  # type: ignore[arg-type]
    lib = tmp / "ld-musl-x86_64.so.1"
    lib.write_bytes(build(spec).data)
    program = tmp / "python3"
    program.write_bytes(build(Spec(interp=str(lib), runpath=None, verneed=[], notes=[])).data)
    return program


def test_a_built_loader_of_musls_shape_takes_the_short_way(tmp_path: Path) -> None:
    quick, general = _both(_built_pair(tmp_path))
    assert quick is not None and quick == general and str(quick.version) == "9.8.7"


# Each loader differs from musl's libc.so in one way that makes the general routine answer
# otherwise (no version, or no libc at all): the short way must not answer, whichever of its
# checks sees it. Dropping any one of those checks fails one of these.
@pytest.mark.parametrize(
    "loader",
    [
        {"needed": ["libfoo.so"]},  # musl's libc.so needs nothing
        {"soname": "libfoo.so"},  # no soname, or Alpine's libc.musl-<arch>.so.1
        {"soname": "libc.so"},  # bionic's name: the general rules look at its version definitions
        {"interp": "/lib/ld-musl-x86_64.so.1"},  # a loader has no PT_INTERP
        {"etype": 2},  # ET_EXEC: not a shared object
        {"machine": 183},  # another machine than the program's
        {"notes": [("Android", 1, (30).to_bytes(4, "little"))]},  # Android's ident note
        {"extra_rodata": b"\0musl libc (x86_64)\0Version %s\0"},  # the usage text, no version
    ],
    ids=["needed", "soname", "bionic-soname", "interp", "exec", "machine", "android", "no-version"],
)
def test_loaders_the_general_routine_reads_otherwise(
    tmp_path: Path, loader: dict[str, object]
) -> None:
    quick, general = _both(_built_pair(tmp_path, **loader))
    assert quick is None, (general.to_dict(), loader)


def _patched(program: Path, at: int, raw: bytes) -> None:
    data = bytearray(program.read_bytes())
    data[at : at + len(raw)] = raw
    program.write_bytes(bytes(data))


def _phdr_at(program: Path, index: int) -> int:
    return 64 + 56 * index  # elfbuild: ELF64 program headers right after the header


@pytest.mark.parametrize(
    "damage",
    [
        "interp-unterminated",
        "second-interp",
        "phentsize",
        "load-filesz",
        "no-strtab",
        "name-unterminated",
        "dynamic-past-end",
        "dynamic-without-end",
        "notes-too-large",
    ],
)
def test_programs_the_general_reader_refuses(tmp_path: Path, damage: str) -> None:
    # Each damage makes the general reader refuse /proc/self/exe (a CorruptELFError or
    # TruncatedELFError, so no loader is read) where the loader named still answers: the
    # short way must not answer either.
    loader = FIXTURES / "debian/trixie/amd64/musl/libc.so"
    program, lib = _pair(tmp_path, loader)
    if damage == "interp-unterminated":  # "<loader>\0x" whose last byte is not NUL
        spec = Spec(interp=f"{lib}\0x", runpath=None, verneed=[], notes=[])
        program.write_bytes(build(spec).data)
    elif damage == "notes-too-large":  # a note segment past MAX_NOTE_SEGMENT, in the file
        spec = Spec(interp=str(lib), runpath=None, verneed=[], notes=[("GNU", 3, bytes(20))])
        program.write_bytes(build(spec).data + bytes(1 << 20))
    elf = read_elf(program)
    interp, load, dynamic = (next(p for p in elf.program_headers if p.type == t) for t in (3, 1, 2))
    if damage == "interp-unterminated":
        _patched(program, interp.offset + interp.filesz - 1, b"y")
    elif damage == "notes-too-large":
        index = next(i for i, p in enumerate(elf.program_headers) if p.type == 4)
        _patched(program, _phdr_at(program, index) + 32, (1 << 20 | 1).to_bytes(8, "little"))
    elif damage == "second-interp":
        # The PT_PHDR entry made the first PT_INTERP (the header table's bytes, which end in
        # a NUL): the general reader takes that one; the second names a real musl loader.
        _patched(program, _phdr_at(program, 0), (3).to_bytes(4, "little"))
    elif damage == "dynamic-without-end":  # 8193 entries and no DT_NULL among them
        blob = b"".join(
            e.tag.to_bytes(8, "little") + e.value.to_bytes(8, "little") for e in elf.dynamic
        )
        blob += (21).to_bytes(8, "little") * 2 * 8193  # DT_DEBUG
        index = elf.program_headers.index(dynamic)
        at = len(program.read_bytes())
        program.write_bytes(program.read_bytes() + blob)
        _patched(program, _phdr_at(program, index) + 8, at.to_bytes(8, "little"))  # p_offset
        _patched(program, _phdr_at(program, index) + 32, len(blob).to_bytes(8, "little"))
    elif damage == "phentsize":
        _patched(program, 54, (48).to_bytes(2, "little"))
    elif damage == "load-filesz":
        index = elf.program_headers.index(load)
        _patched(program, _phdr_at(program, index) + 40, (1).to_bytes(8, "little"))  # memsz
    elif damage == "no-strtab":
        entries = elf.dynamic
        at = next(i for i, e in enumerate(entries) if e.tag == 5)  # DT_STRTAB
        _patched(program, dynamic.offset + 16 * at, (21).to_bytes(8, "little"))  # DT_DEBUG
    elif damage == "name-unterminated":
        strtab = next(e.value for e in elf.dynamic if e.tag == 5) - 0x10000
        size = next(e.value for e in elf.dynamic if e.tag == 10)
        _patched(program, strtab, b"l" * size)
    elif damage == "dynamic-past-end":
        index = elf.program_headers.index(dynamic)
        _patched(program, _phdr_at(program, index) + 32, (1 << 20).to_bytes(8, "little"))
    quick, general = _both(program)
    assert general.version is None, general.to_dict()  # the general reader refused it
    assert quick is None


def test_a_program_that_cannot_be_this_process(tmp_path: Path) -> None:
    program, _ = _pair(tmp_path, FIXTURES / "debian/trixie/amd64/musl/libc.so")
    assert quick_musl(str(program), SHOWN, EvidenceLog(), lambda *args: True) is None


def _mutants(data: bytes, regions: list[tuple[int, int]], count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        blob = bytearray(data)
        for _ in range(rng.choice((1, 1, 2, 4))):
            start, stop = rng.choice(regions)
            at = rng.randrange(start, min(stop, len(blob)))
            blob[at] = rng.choice((0, 0xFF, 0x2E, 0x31, rng.randrange(256)))
        out.append(bytes(blob))
    return out


def _regions_of(path: Path) -> list[tuple[int, int]]:
    """Where the readers look in ``path``: its first 4 KiB, its dynamic section and string
    table, and the 24 KiB of read-only data around the end of its last read-only segment."""
    elf = read_elf(path)
    regions = [(0, 4096)]
    for ph in elf.program_headers:
        if ph.type == 2:  # PT_DYNAMIC
            regions.append((ph.offset, ph.offset + ph.filesz))
    ranges = elf.readonly_ranges(code=False)
    if ranges:
        start, size = ranges[-1]
        regions.append((max(start, start + size - 24 * 1024), start + size))
    return regions


@pytest.mark.parametrize("which", ["program", "loader"])
def test_damaged_copies_get_the_same_answer_or_none(tmp_path: Path, which: str) -> None:
    loader = FIXTURES / "debian/trixie/amd64/musl/libc.so"
    program, lib = _pair(tmp_path, loader)
    target = program if which == "program" else lib
    original = target.read_bytes()
    answered = 0
    for blob in _mutants(original, _regions_of(target), 300, seed=16):
        target.write_bytes(blob)
        quick, general = _both(program)
        if quick is not None:
            answered += 1
            assert quick == general, (quick.to_dict(), general.to_dict())
            assert quick.evidence == general.evidence
    target.write_bytes(original)
    assert answered > 100  # most damage is where nothing depends on it


def test_a_file_that_changes_under_it_is_left_alone(tmp_path: Path) -> None:
    # A loader cut short after the program was read: no answer from a half-read file.
    program, lib = _pair(tmp_path, FIXTURES / "debian/trixie/amd64/musl/libc.so")
    lib.write_bytes(lib.read_bytes()[:2048])
    quick, general = _both(program)
    assert quick is None
    assert general.version is None


def test_not_a_regular_file(tmp_path: Path) -> None:
    assert quick_musl(str(tmp_path), SHOWN, EvidenceLog(), _never_foreign) is None
    missing = str(tmp_path / "gone")
    assert quick_musl(missing, SHOWN, EvidenceLog(), _never_foreign) is None


@pytest.mark.skipif(not HOST_MUSL.is_file(), reason="no musl on this host")
def test_the_running_process_routine_takes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # detect_running on a stand-in /proc/self/exe: the short way answers, and the answer is
    # the one the general routine gives when the short way is out of the picture.
    from libcprobe import _process, _quick

    program, _ = _pair(tmp_path, HOST_MUSL)
    monkeypatch.setattr(_process, "PROC_SELF_EXE", str(program))
    monkeypatch.setattr(_process, "_glibc_confstr", lambda: None)
    monkeypatch.setattr(_process, "_foreign", _never_foreign)
    calls: list[bool] = []
    real = _quick.quick_musl

    def counted(*args: object) -> Optional[LibcInfo]:
        found = real(*args)  # type: ignore[arg-type]
        calls.append(found is not None)
        return found

    monkeypatch.setattr(_quick, "quick_musl", counted)
    fast = _process.detect_running(False)
    assert calls == [True]
    monkeypatch.setattr(_quick, "quick_musl", lambda *args: None)
    slow = _process.detect_running(False)
    assert fast == slow and fast.evidence == slow.evidence
    assert os.fspath(program) == fast.evidence[0].path
