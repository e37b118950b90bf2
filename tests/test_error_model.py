"""The error model of docs/errors.md, enforced: every public call on every kind of bad input
gives the documented result or LibcprobeError subclass, and nothing else escapes.

Also: regression tests for the gaps the fuzzer and these tests found (docs/errors.md, "Fixed
gaps"). Random and corrupted input, and the bounded fuzz run, are in test_random_input.py.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Union

import pytest

import elfbuild
import libcprobe
from libcprobe import (
    CorruptELFError,
    FileAccessError,
    LibcInfo,
    LibcprobeError,
    NotELFError,
    OverrideError,
    ReadLimitError,
    RootError,
    TruncatedELFError,
)
from libcprobe._cli import main as cli_main
from libcprobe._elf import MAX_BYTES_PER_FILE, open_elf, read_elf
from shared import exercise_info, hang_guard

REPO = Path(__file__).resolve().parent.parent
GIB = 1 << 30


# -- the kinds of bad input --------------------------------------------------------------------

PROGRAM = elfbuild.build(elfbuild.Spec()).data


def _read_limit_file(path: Path) -> None:
    """A 32 MiB file with 6000 DT_NEEDED names of 4000 bytes, 4 KiB apart, in its string
    table: each name is read (up to its NUL, at most MAX_STRING bytes) from new blocks, about
    24 MiB in all, whatever the reader's block size."""
    mib = 1 << 20
    size = 32 * mib
    entries = [(5, mib), (10, size - mib)] + [(1, k * 4096) for k in range(6000)] + [(0, 0)]
    dynamic = b"".join(struct.pack("<qQ", tag, value) for tag, value in entries)
    head = bytearray(4096)
    head[0:16] = b"\x7fELF\x02\x01\x01" + bytes(9)
    struct.pack_into("<HHIQQQIHHHHHH", head, 16, 3, 62, 1, 0, 64, 0, 0, 64, 56, 2, 64, 0, 0)
    struct.pack_into("<IIQQQQQQ", head, 64, 1, 4, 0, 0, 0, size, size, 4096)  # PT_LOAD
    struct.pack_into("<IIQQQQQQ", head, 120, 2, 6, 4096, 4096, 0, len(dynamic), len(dynamic), 8)
    with open(path, "wb") as f:
        f.write(head + dynamic)
        f.seek(mib)
        f.write((b"n" * 4000 + bytes(96)) * 6000)
        f.truncate(size)


def _sparse(path: Path, head: bytes) -> None:
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(GIB)


def make_kind(directory: Path, kind: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Create one kind of bad input named ``prog`` in ``directory``. Symbolic links are
    absolute inside ``directory`` so they mean the same as a host path and inside a root."""
    path = directory / "prog"
    if kind == "missing":
        pass
    elif kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "dangling":
        path.symlink_to(directory / "nowhere")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "not_elf":
        path.write_bytes(b"hello, world\n")
    elif kind == "truncated":
        path.write_bytes(PROGRAM[:40])
    elif kind == "corrupt":
        path.write_bytes(PROGRAM[:4] + b"\x09" + PROGRAM[5:])
    elif kind == "sparse_zeros":
        _sparse(path, b"")
    elif kind == "sparse_elf":
        _sparse(path, PROGRAM)
    elif kind == "read_limit":
        _read_limit_file(path)
    elif kind == "unreadable":
        path.write_bytes(PROGRAM)
        deny_open(monkeypatch, path)
    else:  # pragma: no cover
        raise AssertionError(kind)
    return path


def deny_open(monkeypatch: pytest.MonkeyPatch, denied: Path) -> None:
    """Make ``os.open`` of ``denied`` fail with EACCES, as for a mode-0 file when not root."""
    real_open = os.open

    def fake_open(path: Any, flags: int, mode: int = 0o777, **kwargs: Any) -> int:
        if os.fsdecode(path) == str(denied):
            raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(path))
        return real_open(path, flags, mode, **kwargs)

    monkeypatch.setattr(os, "open", fake_open)


R = "result"  # a LibcInfo / FileReport, no exception
Expect = Union[str, type[LibcprobeError], int, None]

CALLS = ("read_elf", "inspect", "detect", "detect_in_root", "root_scan", "cli_inspect", "cli_exe")

#: kind -> expected outcome of each call in CALLS. For inspect: the text the report's error
#: contains (None: the report is ok). CLI columns: the exit status (1: not ELF or unreadable,
#: for --executable as for inspect; see docs/cli.md).
TABLE: dict[str, tuple[Expect, ...]] = {
    "missing": (FileAccessError, "no such file", FileAccessError, FileAccessError, R, 1, 1),
    "directory": (FileAccessError, "directory", FileAccessError, R, R, 0, 1),
    "fifo": (FileAccessError, "not a regular file", FileAccessError, R, R, 1, 1),
    "dangling": (FileAccessError, "dangling", FileAccessError, FileAccessError, R, 1, 1),
    "empty": (NotELFError, "empty", R, R, R, 1, 1),
    "not_elf": (NotELFError, "no ELF magic", R, R, R, 1, 1),
    "truncated": (TruncatedELFError, "past the end", R, R, R, 1, 1),
    "corrupt": (CorruptELFError, "unknown ELF class", R, R, R, 1, 1),
    "sparse_zeros": (NotELFError, "no ELF magic", R, R, R, 1, 1),
    "sparse_elf": (R, None, R, R, R, 0, 0),
    "read_limit": (ReadLimitError, f"more than {MAX_BYTES_PER_FILE}", R, R, R, 1, 1),
    "unreadable": (FileAccessError, "permission denied", FileAccessError, R, R, 1, 1),
}


def _cases() -> Iterator[Any]:
    for kind in TABLE:
        for call in CALLS:
            # ("fifo", "detect_in_root") once blocked forever (a blocking #! read); fixed.
            yield pytest.param(kind, call, id=f"{kind}-{call}")


def _run(call: str, kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    if call in ("detect_in_root", "root_scan"):
        root = tmp_path / "root"
        (root / "usr/bin").mkdir(parents=True)
        if call == "detect_in_root":
            make_kind(root, kind, monkeypatch)
            if kind == "dangling":  # absolute inside the root: /nowhere
                (root / "prog").unlink()
                (root / "prog").symlink_to("/nowhere")
            return libcprobe.detect("/prog", root=root)
        made = make_kind(root, kind, monkeypatch)
        if made.exists() or made.is_symlink():
            made.rename(root / "usr/bin/python3")
            if kind == "unreadable":
                deny_open(monkeypatch, root / "usr/bin/python3")
        return libcprobe.detect(root=root)
    path = make_kind(tmp_path, kind, monkeypatch)
    if call == "read_elf":
        return read_elf(path)
    if call == "inspect":
        return libcprobe.inspect(path)
    if call == "detect":
        return libcprobe.detect(path)
    argv = ["inspect", str(path)] if call == "cli_inspect" else ["--executable", str(path)]
    return cli_main(argv, out=io.StringIO())


@pytest.mark.parametrize(("kind", "call"), list(_cases()))
def test_error_model_table(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    call: str,
) -> None:
    expected = TABLE[kind][CALLS.index(call)]
    outcome: object
    with hang_guard(1 if kind == "fifo" else 10):
        try:
            outcome = _run(call, kind, tmp_path, monkeypatch)
        except LibcprobeError as exc:
            outcome = exc
    if call == "inspect":
        assert isinstance(outcome, libcprobe.FileReport)
        if expected is None:
            assert outcome.ok, outcome.error
        else:
            assert not outcome.ok and outcome.error is not None
            assert str(expected) in outcome.error
            assert outcome.arch is None and outcome.needed == ()
        return
    if call.startswith("cli_"):
        assert outcome == expected, capsys.readouterr().err
        err = capsys.readouterr().err
        if call == "cli_exe" and expected == 1:
            assert err.startswith("libcprobe: error: ") and "Traceback" not in err
        return
    if isinstance(expected, type):
        assert isinstance(outcome, expected), outcome
        assert outcome.path is not None and outcome.path in str(outcome)
        return
    assert not isinstance(outcome, BaseException), outcome
    if isinstance(outcome, LibcInfo):
        exercise_info(outcome)
        if kind != "sparse_elf" and call == "detect":
            assert outcome.family is None and outcome.evidence
            if isinstance(TABLE[kind][0], type) and TABLE[kind][0] is not FileAccessError:
                assert TABLE[kind][1] is not None
                assert str(TABLE[kind][1]) in outcome.evidence[-1].detail


# -- the other documented errors -----------------------------------------------------------------


def test_root_that_is_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    for root in (tmp_path / "missing", tmp_path / "file"):
        with pytest.raises(RootError) as info:
            libcprobe.detect(root=root)
        assert info.value.path == str(root)
    assert cli_main(["--root", str(tmp_path / "missing")], out=io.StringIO()) == 1


def test_override_errors_only_for_the_running_interpreter(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LIBCPROBE_LIBC", "musl-one")
    with pytest.raises(OverrideError) as info:
        libcprobe.detect()
    assert info.value.path is None and not isinstance(info.value, ValueError)
    assert cli_main([], out=io.StringIO()) == 2  # an override error, like a usage error
    assert libcprobe.detect(sys.executable).family is not None  # not consulted
    assert libcprobe.detect(root=tmp_path).family is None


def test_exception_hierarchy() -> None:
    elf_errors: list[type[Exception]] = [NotELFError, TruncatedELFError, CorruptELFError]
    others: list[type[Exception]] = [FileAccessError, ReadLimitError, RootError, OverrideError]
    for cls in elf_errors:
        assert issubclass(cls, libcprobe.ELFError) and issubclass(cls, ValueError)
    for cls in others:
        assert issubclass(cls, LibcprobeError) and not issubclass(cls, ValueError)


def test_readonly_data_after_close_is_a_file_access_error() -> None:
    with open_elf(sys.executable) as elf:
        elf.readonly_data(limit=16)
    with pytest.raises(FileAccessError, match="closed"):
        elf.readonly_data()
    assert read_elf(PROGRAM).readonly_data()  # bytes input stays readable


def test_value_constructors_raise_value_error() -> None:
    with pytest.raises(ValueError):
        LibcInfo(family="foo")
    with pytest.raises(ValueError):
        libcprobe.LibcVersion(())
    with pytest.raises(ValueError):
        libcprobe.LibcVersion.parse("abc")
    with pytest.raises(AttributeError):
        setattr(libcprobe.detect(), "family", None)  # noqa: B010


def test_wrong_argument_types_are_type_errors() -> None:
    with pytest.raises(TypeError):
        libcprobe.inspect(123)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        libcprobe.detect(123)  # type: ignore[arg-type]


def test_bytes_kinds_through_read_elf() -> None:
    for data, error in (
        (b"", NotELFError),
        (b"MZ\x90\x00", NotELFError),
        (PROGRAM[:40], TruncatedELFError),
        (PROGRAM[:5] + b"\x07" + PROGRAM[6:], CorruptELFError),
    ):
        with pytest.raises(error) as info:
            read_elf(data, name="memory")
        assert info.value.path == "memory"


# -- regression tests for the fixed gaps ----------------------------------------------------------


def _nul_case(kind: str, tmp_path: Path) -> object:
    if kind == "inspect-arg":
        return libcprobe.inspect("bad\0name")
    if kind == "detect-arg":
        with contextlib.suppress(FileAccessError):
            libcprobe.detect("bad\0name")
        return None
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "etc").mkdir()
    if kind == "shebang-in-root":
        (root / "usr/bin/python3").write_bytes(b"#!/usr/bin/py\0thon\n")
        return libcprobe.detect(root=root)
    if kind == "shebang-on-host":
        (tmp_path / "script").write_bytes(b"#!/usr/bin/py\0thon\n")
        return libcprobe.detect(tmp_path / "script")
    program = elfbuild.Spec(interp="/lib64/ld-linux-x86-64.so.2", needed=["libc.so.6"])
    (root / "usr/bin/python3").write_bytes(elfbuild.build(program).data)
    if kind == "ld-so-conf-line":
        (root / "etc/ld.so.conf").write_bytes(b"/usr/li\0b\n")
    else:
        (root / "etc/ld.so.conf").write_bytes(b"include /etc/\0/*.conf\n")
    return libcprobe.detect(root=root)


@pytest.mark.parametrize(
    "kind",
    [
        "inspect-arg",
        "detect-arg",
        "shebang-in-root",
        "shebang-on-host",
        "ld-so-conf-line",
        "ld-so-conf-include",
    ],
)
def test_nul_byte_in_paths(tmp_path: Path, kind: str) -> None:
    with contextlib.suppress(LibcprobeError):
        _nul_case(kind, tmp_path)


def test_non_ascii_digit_in_glibc_version_need(tmp_path: Path) -> None:
    data = elfbuild.build(elfbuild.Spec(verneed=[("libc.so.6", ["GLIBC_2.\u00b2"])])).data
    path = tmp_path / "lib.so"
    path.write_bytes(data)
    assert read_elf(data).glibc_requires is None
    assert libcprobe.inspect(path).ok


@pytest.mark.parametrize("argv", [["inspect"], ["-v", "--executable"]])
def test_cli_prints_undecodable_names(tmp_path: Path, argv: list[str]) -> None:
    data = elfbuild.build(
        elfbuild.Spec(interp="/lib/ld-QQ.so.1", needed=["libc.so", "libQQ.so"])
    ).data.replace(b"QQ", b"\xff\xfe")
    path = tmp_path / "lib.so"
    path.write_bytes(data)
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    assert cli_main([*argv, str(path)], out=out) == 0
    out.flush()


def _blocking_fifo_script(tmp_path: Path) -> Path:
    os.mkfifo(tmp_path / "fifo")
    script = tmp_path / "script"
    script.write_text(f"#!{tmp_path / 'fifo'}\n")
    return script


def test_fifo_as_script_interpreter_does_not_block(tmp_path: Path) -> None:
    script = _blocking_fifo_script(tmp_path)
    with hang_guard(1):
        info = libcprobe.detect(script)
    assert info.family is None


def test_root_scan_skips_a_script_whose_interpreter_loops(tmp_path: Path) -> None:
    (tmp_path / "usr/bin").mkdir(parents=True)
    (tmp_path / "lib").mkdir()
    (tmp_path / "usr/bin/python3").write_text("#!/usr/bin/loop\n")
    (tmp_path / "usr/bin/loop").symlink_to("/usr/bin/loop")
    musl = elfbuild.Spec(
        interp=None,
        needed=[],
        runpath=None,
        verneed=[],
        notes=[],
        extra_rodata=b"\0musl libc (x86_64)\0\x001.2.4\0",
    )
    (tmp_path / "lib/ld-musl-x86_64.so.1").write_bytes(elfbuild.build(musl).data)
    assert libcprobe.detect(root=tmp_path).family is libcprobe.Family.MUSL


@pytest.mark.parametrize("value", ["musl-1.999999999", "glibc-999999999.0"])
def test_override_with_a_huge_version_gives_bounded_tags(value: str) -> None:
    code = (
        "import resource; resource.setrlimit(resource.RLIMIT_AS, (320 << 20, 320 << 20))\n"
        "import libcprobe\n"
        "try:\n"
        "    info = libcprobe.detect()\n"
        "except libcprobe.LibcprobeError:\n"
        "    raise SystemExit(0)\n"
        "assert len(info.platform_tags()) < 100000\n"
    )
    env = dict(os.environ, LIBCPROBE_LIBC=value)
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=10
        )
    except subprocess.TimeoutExpired:
        pytest.fail("platform_tags() ran for more than 10 s")
    assert proc.returncode == 0, proc.stderr[-500:]
