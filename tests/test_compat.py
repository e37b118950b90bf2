"""libcprobe.compat against packaging's own private helpers, on real files of this machine."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging import _elffile, _manylinux, _musllinux

from libcprobe import ELFError, compat
from libcprobe._elf import read_elf
from shared import host_glibc_version

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
E2E = Path(os.environ.get("E2E_DIR") or Path.home() / ".cache" / "libcprobe-e2e")
MUSL_PYTHON = E2E / "dynamic" / "bin" / "python3"
STATIC_MUSL_PYTHON = E2E / "static" / "bin" / "python3"
SRC = HERE.parent / "src"

HOST_FILES = [
    sys.executable,
    "/usr/lib/x86_64-linux-musl/libc.so",
    "/lib/ld-musl-x86_64.so.1",
    "/bin/busybox",
    "/bin/sh",
    str(MUSL_PYTHON),
    str(STATIC_MUSL_PYTHON),
]
FIXTURE_FILES = (
    sorted(str(p) for p in FIXTURES.rglob("*") if p.is_file()) if FIXTURES.is_dir() else []
)
EXE_BYTES = Path(sys.executable).resolve().read_bytes()


def _t(version: Optional[tuple[int, int]]) -> Optional[tuple[int, ...]]:
    """A version named tuple as a plain tuple (compat's and packaging's are distinct types)."""
    return None if version is None else tuple(version)


def _short(path: str) -> str:
    return os.path.relpath(path, HERE) if path.startswith(str(HERE)) else path


def _outcome(cls: Callable[[Any], Any], data: bytes) -> tuple[str, Any]:
    """What an ELFFile class says about ``data``: the five facts, or the exception type."""
    try:
        ef = cls(io.BytesIO(data))
        return "ok", (ef.capacity, ef.encoding, ef.machine, ef.flags, ef.interpreter)
    except ValueError:
        return "invalid", None


# -- ELFFile -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", HOST_FILES + FIXTURE_FILES, ids=_short)
def test_elffile_matches_packaging_on_real_files(path: str) -> None:
    if not os.path.isfile(path):
        pytest.skip(f"{path} does not exist here")
    with open(path, "rb") as f, open(path, "rb") as g:
        try:
            theirs = _elffile.ELFFile(f)
        except _elffile.ELFInvalid:
            with pytest.raises(compat.ELFInvalid):
                compat.ELFFile(g)
            return
        ours = compat.ELFFile(g)
        assert ours.capacity == theirs.capacity
        assert ours.encoding == theirs.encoding
        assert ours.machine == theirs.machine
        assert ours.flags == theirs.flags
        assert ours.interpreter == theirs.interpreter
        assert (ours._e_phoff, ours._e_phentsize, ours._e_phnum, ours._p_fmt) == (
            theirs._e_phoff,
            theirs._e_phentsize,
            theirs._e_phnum,
            theirs._p_fmt,
        )


def test_elffile_facts_of_this_interpreter() -> None:
    with open(sys.executable, "rb") as f:
        ef = compat.ELFFile(f)
        info = read_elf(sys.executable)
        assert ef.capacity == (compat.EIClass.C64 if info.elf_class == 64 else compat.EIClass.C32)
        assert ef.encoding == (compat.EIData.Lsb if info.little_endian else compat.EIData.Msb)
        assert ef.machine == info.machine
        assert ef.flags == info.flags
        assert ef.interpreter == info.interpreter


def test_enums_match_packaging() -> None:
    for ours, theirs in (
        (compat.EIClass, _elffile.EIClass),
        (compat.EIData, _elffile.EIData),
        (compat.EMachine, _elffile.EMachine),
    ):
        assert {m.name: m.value for m in ours} == {m.name: m.value for m in theirs}
    assert issubclass(compat.ELFInvalid, ValueError)
    assert compat.EMachine["AArc64"] is compat.EMachine.AArch64  # packaging < 26 spelled it so


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\0",
        b"\x7fEL",
        b"#!/bin/bash" + b"\0" * 16,
        b"\x7fELF\3" + b"\0" * 16,  # unknown class
        b"\x7fELF\2\3" + b"\0" * 16,  # unknown encoding
        b"MZ\x90\x00" + b"\0" * 60,
        EXE_BYTES[:16],
        EXE_BYTES[:25],
        EXE_BYTES[:57],  # one byte short of e_phnum
    ],
    ids=lambda d: f"{len(d)}-bytes-{d[:4]!r}",
)
def test_elffile_invalid_is_valueerror(data: bytes) -> None:
    with pytest.raises(ValueError) as caught:
        compat.ELFFile(io.BytesIO(data))
    assert isinstance(caught.value, compat.ELFInvalid)
    with pytest.raises(_elffile.ELFInvalid):
        _elffile.ELFFile(io.BytesIO(data))


def test_elffile_header_up_to_phnum_is_enough() -> None:
    # packaging accepts 58 bytes of an ELF64 file (its header read stops at e_phnum);
    # libcprobe's full reader does not. compat follows packaging.
    data = EXE_BYTES[:58]
    assert compat.ELFFile(io.BytesIO(data)).interpreter is None
    assert _outcome(compat.ELFFile, data) == _outcome(_elffile.ELFFile, data)
    with pytest.raises(ELFError):
        read_elf(data)


def _phdrs(data: bytes) -> list[tuple[int, int]]:
    """(file offset of the entry, p_type) of each ELF64 LSB program header."""
    phoff, phentsize, phnum = (
        struct.unpack_from("<Q", data, 32)[0],
        *struct.unpack_from("<HH", data, 54),
    )
    return [
        (phoff + i * phentsize, struct.unpack_from("<I", data, phoff + i * phentsize)[0])
        for i in range(phnum)
    ]


needs_elf64_lsb = pytest.mark.skipif(
    EXE_BYTES[4:6] != b"\2\1", reason="sys.executable is not ELF64 little-endian"
)


@needs_elf64_lsb
def test_elffile_ignores_a_broken_dynamic_section() -> None:
    # PT_DYNAMIC pointing past the end of the file: libcprobe's full reader rejects the file,
    # packaging never looks at it, and neither does compat.ELFFile.
    data = bytearray(EXE_BYTES)
    (entry,) = [at for at, p_type in _phdrs(EXE_BYTES) if p_type == 2]
    struct.pack_into("<Q", data, entry + 8, len(data) + 4096)  # p_offset
    with pytest.raises(ELFError):
        read_elf(bytes(data))
    ours = _outcome(compat.ELFFile, bytes(data))
    assert ours == _outcome(_elffile.ELFFile, bytes(data))
    assert ours[0] == "ok"
    assert ours[1][4] == read_elf(EXE_BYTES).interpreter


@needs_elf64_lsb
def test_elffile_oversized_interpreter_is_none() -> None:
    # A PT_INTERP longer than PATH_MAX: Linux refuses to exec it (ENOEXEC); packaging reads
    # p_filesz bytes whatever they are, compat reads nothing and says None.
    data = bytearray(EXE_BYTES)
    (entry,) = [at for at, p_type in _phdrs(EXE_BYTES) if p_type == 3]
    struct.pack_into("<Q", data, entry + 32, 1 << 20)  # p_filesz
    theirs = _elffile.ELFFile(io.BytesIO(bytes(data))).interpreter
    assert theirs is not None and len(theirs) > compat.MAX_INTERPRETER
    assert compat.ELFFile(io.BytesIO(bytes(data))).interpreter is None


class _CountingIO(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: Optional[int] = -1) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


def test_elffile_reads_a_bounded_number_of_program_headers() -> None:
    header = b"\x7fELF\2\1\1" + b"\0" * 9
    header += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 64, 0, 0, 64, 56, 0xFFFF, 0, 0, 0)
    data = header + b"\0" * (56 * 0xFFFF)  # 65535 PT_NULL entries
    f = _CountingIO(data)
    assert compat.ELFFile(f).interpreter is None
    assert f.bytes_read <= 64 + 56 * compat.MAX_PROGRAM_HEADERS


def test_elffile_huge_offsets_do_not_raise() -> None:
    header = b"\x7fELF\2\1\1" + b"\0" * 9
    header += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 2**64 - 8, 0, 0, 64, 56, 3, 0, 0, 0)
    with pytest.raises(OverflowError):  # packaging: seek() past a signed 64-bit offset
        _ = _elffile.ELFFile(io.BytesIO(header)).interpreter
    assert compat.ELFFile(io.BytesIO(header)).interpreter is None


def test_elffile_interpreter_is_cached_after_first_read() -> None:
    f = open(sys.executable, "rb")  # noqa: SIM115 - closed by hand on purpose
    try:
        ef = compat.ELFFile(f)
        first = ef.interpreter
    finally:
        f.close()
    assert ef.interpreter == first


def _oracle(data: bytes) -> tuple[str, Any]:
    """packaging's answer, with compat's documented bounds applied."""
    f = _CountingRequestsIO(data)
    try:
        ef = _elffile.ELFFile(f)
        facts = [ef.capacity, ef.encoding, ef.machine, ef.flags]
    except ValueError:
        return "invalid", None
    try:
        interpreter = ef.interpreter
    except OverflowError:  # an offset past 2**63: compat stops there
        interpreter = None
    if interpreter is not None and f.requests[-1] > compat.MAX_INTERPRETER:
        interpreter = None
    return "ok", (*facts, interpreter)


class _CountingRequestsIO(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.requests: list[int] = []

    def read(self, size: Optional[int] = -1) -> bytes:
        self.requests.append(-1 if size is None else size)
        return super().read(size)


HEAD = EXE_BYTES[:4096]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(min_value=0, max_value=len(HEAD)),
    edits=st.lists(
        st.tuples(st.integers(min_value=0, max_value=len(HEAD) - 1), st.integers(0, 255)),
        max_size=6,
    ),
    header_edits=st.lists(
        st.tuples(st.integers(min_value=0, max_value=63), st.integers(0, 255)), max_size=4
    ),
)
def test_elffile_agrees_with_packaging_on_mutations(
    cut: int, edits: list[tuple[int, int]], header_edits: list[tuple[int, int]]
) -> None:
    data = bytearray(HEAD)
    for at, value in edits + header_edits:
        data[at] = value
    sample = bytes(data[:cut])
    assert _outcome(compat.ELFFile, sample) == _oracle(sample)


# -- musl ------------------------------------------------------------------------------------


MUSL_OUTPUTS = [
    "musl libc (x86_64)\nVersion 1.2.2\n",
    "musl libc (i386)\nVersion 1.2.1\nDynamic Program Loader\n",
    "musl libc\nVersion 1.1.24\n",
    "musl libc (invalid)\n",
    "musl libc (unknown)\nVersion unknown\n",
    "\n\n  musl libc (x86_64)  \n\n  Version 1.2.5-git-3-gabcdef\n",
    "glibc\nVersion 2.36\n",
    "",
]


@pytest.mark.parametrize("output", MUSL_OUTPUTS)
def test_parse_musl_version_matches_packaging(output: str) -> None:
    assert _t(compat._parse_musl_version(output)) == _t(_musllinux._parse_musl_version(output))


@given(st.text(alphabet="musl libcVeron0123456789.()\n x", max_size=60))
def test_parse_musl_version_matches_packaging_fuzzed(output: str) -> None:
    assert _t(compat._parse_musl_version(output)) == _t(_musllinux._parse_musl_version(output))


@pytest.mark.skipif(not MUSL_PYTHON.exists(), reason=f"no musl CPython at {MUSL_PYTHON}")
def test_get_musl_version_of_musl_python() -> None:
    compat._get_musl_version.cache_clear()
    version = compat._get_musl_version(str(MUSL_PYTHON))
    assert version == (1, 2)
    assert isinstance(version, compat._MuslVersion)
    assert compat.musl_version(MUSL_PYTHON) == (1, 2)


@pytest.mark.skipif(
    not (MUSL_PYTHON.exists() and os.path.exists("/lib/ld-musl-x86_64.so.1")),
    reason="needs the musl CPython and this host's musl loader",
)
def test_get_musl_version_agrees_with_executing_the_loader() -> None:
    _musllinux._get_musl_version.cache_clear()
    compat._get_musl_version.cache_clear()
    ours = compat._get_musl_version(str(MUSL_PYTHON))
    assert _t(ours) == _t(_musllinux._get_musl_version(str(MUSL_PYTHON)))


def test_get_musl_version_of_glibc_python_is_none() -> None:
    compat._get_musl_version.cache_clear()
    if compat._glibc_version_string() is None:
        pytest.skip("this interpreter does not run on glibc")
    assert compat._get_musl_version(sys.executable) is None


def test_get_musl_version_failures_are_none(tmp_path: Path) -> None:
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\n")
    fake = tmp_path / "fake-musl-program"
    # A real program whose PT_INTERP names a musl loader that does not exist.
    data = bytearray(EXE_BYTES)
    interp = read_elf(EXE_BYTES).interpreter
    if interp is not None:
        at = data.find(interp.encode())
        missing = b"/x/ld-musl-none.so"
        data[at : at + len(interp)] = missing.ljust(len(interp), b"\0")
        fake.write_bytes(bytes(data))
    compat._get_musl_version.cache_clear()
    assert compat._get_musl_version(str(tmp_path / "does-not-exist")) is None
    assert compat._get_musl_version(str(script)) is None
    assert compat._get_musl_version(str(tmp_path)) is None  # a directory
    if interp is not None:
        assert compat._get_musl_version(str(fake)) is None
    assert hasattr(compat._get_musl_version, "cache_clear")


@pytest.mark.skipif(
    not os.path.exists("/usr/lib/x86_64-linux-musl/libc.so"), reason="no musl libc.so here"
)
def test_musl_loader_version_reads_the_loader() -> None:
    # The file PT_INTERP names is read, not run.
    assert compat._musl_loader_version("/usr/lib/x86_64-linux-musl/libc.so") == (1, 2)
    assert compat._musl_loader_version(sys.executable) is None


# -- glibc -----------------------------------------------------------------------------------


@pytest.mark.skipif(host_glibc_version() is None, reason="not a glibc interpreter")
def test_glibc_version_string_equals_confstr() -> None:
    assert compat._glibc_version_string() == host_glibc_version()
    assert compat.glibc_version_string() == host_glibc_version()
    assert compat._glibc_version_string_detect() == host_glibc_version()
    compat._get_glibc_version.cache_clear()
    assert _t(compat._get_glibc_version()) == _t(_manylinux._get_glibc_version())
    assert _t(compat.glibc_version()) == _t(_manylinux._get_glibc_version())


@pytest.mark.parametrize(
    "confstr",
    [
        lambda _: "glibc 2.20",
        lambda _: "glibc 2.20-2014.11",
        lambda _: None,
        lambda _: "XXX",
        lambda _: "a b c",
        lambda _: 17,
    ],
    ids=["plain", "suffix", "none", "one-word", "three-words", "not-str"],
)
def test_confstr_matches_packaging(
    monkeypatch: pytest.MonkeyPatch, confstr: Callable[[str], Any]
) -> None:
    monkeypatch.setattr(os, "confstr", confstr, raising=False)
    assert compat._glibc_version_string_confstr() == _confstr_of_packaging()


def _confstr_of_packaging() -> Optional[str]:
    try:
        return _manylinux._glibc_version_string_confstr()
    except AttributeError:  # packaging does not catch it for a non-str; compat does
        return None


@pytest.mark.parametrize("error", [OSError, ValueError, AttributeError])
def test_confstr_failures_are_none(monkeypatch: pytest.MonkeyPatch, error: type) -> None:
    def fail(_: str) -> str:
        raise error("no")

    monkeypatch.setattr(os, "confstr", fail, raising=False)
    assert compat._glibc_version_string_confstr() is None
    monkeypatch.delattr(os, "confstr", raising=False)
    assert compat._glibc_version_string_confstr() is None


def test_no_oserror_escapes(monkeypatch: pytest.MonkeyPatch) -> None:
    import libcprobe._detect

    def fail(*_: object, **__: object) -> None:
        raise OSError("Dynamic loading not supported")

    monkeypatch.setattr(os, "confstr", fail, raising=False)
    monkeypatch.setattr(libcprobe._detect, "detect", fail)
    assert compat._glibc_version_string() is None
    compat._get_glibc_version.cache_clear()
    try:
        assert compat._get_glibc_version() == (-1, -1)
    finally:
        compat._get_glibc_version.cache_clear()


@pytest.mark.parametrize("text", ["2.17", "2.20-2014.11", "3.0", "10.200.1"])
def test_parse_glibc_version_matches_packaging(text: str) -> None:
    assert _t(compat._parse_glibc_version(text)) == _t(_manylinux._parse_glibc_version(text))


@pytest.mark.parametrize("text", ["glibc-2.4.5", "2", ""])
def test_parse_glibc_version_warns_like_packaging(text: str) -> None:
    message = f"Expected glibc version with 2 components major.minor, got: {text}"
    with pytest.warns(RuntimeWarning) as ours:
        assert compat._parse_glibc_version(text) == (-1, -1)
    with pytest.warns(RuntimeWarning) as theirs:
        _manylinux._parse_glibc_version(text)
    assert [str(w.message) for w in ours] == [str(w.message) for w in theirs] == [message]


# -- no ctypes, no execution ------------------------------------------------------------------

_PROBE = textwrap.dedent(
    """
    import subprocess, sys
    def no_run(*args, **kwargs):
        raise AssertionError(f"executed {args!r}")
    subprocess.run = subprocess.Popen = no_run
    from libcprobe import compat
    results = [
        compat._glibc_version_string_confstr(),
        compat._glibc_version_string_detect(),
        compat._glibc_version_string(),
        tuple(compat._get_glibc_version()),
        compat._get_musl_version(sys.executable),
    ]
    musl = compat._get_musl_version(sys.argv[1])
    results.append(None if musl is None else tuple(musl))
    with open(sys.executable, "rb") as f:
        results.append(compat.ELFFile(f).interpreter)
    assert "ctypes" not in sys.modules, sorted(m for m in sys.modules if "ctypes" in m)
    print(results)
    """
)


def _run_probe(python: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    env.pop("LIBCPROBE_LIBC", None)
    return subprocess.run(
        [python, "-c", _PROBE, str(MUSL_PYTHON)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_compat_never_imports_ctypes_or_executes() -> None:
    proc = _run_probe(sys.executable)
    assert proc.returncode == 0, proc.stderr
    assert "executed" not in proc.stderr


@pytest.mark.skipif(
    not STATIC_MUSL_PYTHON.exists(), reason=f"no static musl CPython at {STATIC_MUSL_PYTHON}"
)
def test_compat_on_static_musl_python() -> None:
    # There `import ctypes` raises OSError, so packaging's glibc fallback crashes; compat
    # answers: not glibc, not dynamically linked against musl.
    proc = _run_probe(str(STATIC_MUSL_PYTHON))
    assert proc.returncode == 0, proc.stderr
    expected_musl = "(1, 2)" if MUSL_PYTHON.exists() else "None"
    assert proc.stdout.strip() == f"[None, None, None, (-1, -1), None, {expected_musl}, None]"
