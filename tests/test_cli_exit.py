"""One exit-status rule for every command, as ``--help`` and docs/cli.md state it:
0 answered (check: everything can load); 1 a problem found, or a file that is not ELF or cannot
be read, or a --root that is not a directory; 2 a usage error or a malformed LIBCPROBE_LIBC.
Also the small output rules that go with it (check's summary, plurals, wrapped help)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import libcprobe
from libcprobe._cli import EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, build_parser, main

FIXTURES = Path(__file__).resolve().parent / "fixtures"
STATIC_MUSL = FIXTURES / "built" / "musl-gcc-static" / "hello"
WHEEL = (
    FIXTURES
    / "wheels"
    / "greenlet-3.2.5-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
)
COMMANDS = ("detect", "tags", "inspect", "check")


def run(*argv: str) -> tuple[int, str, str]:
    """(status, stdout, stderr) of ``main(argv)``; a usage error's SystemExit becomes 2."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stderr
    sys.stderr = err
    try:
        status = main(list(argv), out=out)
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 2
    finally:
        sys.stderr = saved
        libcprobe.clear_cache()
    return status, out.getvalue(), err.getvalue()


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text("not a program\n")
    return path


def test_the_numbers() -> None:
    assert (EXIT_OK, EXIT_PROBLEM, EXIT_USAGE) == (0, 1, 2)


# -- 0: answered ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [[], ["detect"], ["tags"], ["--json"], ["detect", "-v"]])
def test_an_answer_is_0(command: list[str]) -> None:
    assert run(*command)[0] == EXIT_OK


def test_a_static_program_without_tags_is_an_answer() -> None:
    status, out, err = run("tags", "--executable", str(STATIC_MUSL))
    assert (status, out) == (EXIT_OK, "")
    assert "statically linked" in err


def test_an_empty_root_answers_none_found(tmp_path: Path) -> None:
    status, out, _ = run("--root", str(tmp_path))
    assert status == EXIT_OK and "none found" in out


def test_inspect_and_check_that_read_everything_are_0() -> None:
    assert run("inspect", sys.executable)[0] == EXIT_OK
    status, out, err = run("check", sys.executable)
    assert status == EXIT_OK and out == ""
    assert re.fullmatch(r"1 binary checked against glibc \S+, x86_64: can load\n", err) or (
        "can load" in err  # on a host that is not glibc x86_64 the target reads differently
    )


# -- 1: a problem, not ELF, unreadable --------------------------------------------------------


@pytest.mark.parametrize("command", [[], ["tags"], ["--json"]])
def test_executable_that_is_not_elf_is_1(command: list[str], notes: Path) -> None:
    status, out, err = run(*command, "--executable", str(notes))
    assert status == EXIT_PROBLEM and out == ""
    assert f"{notes}: not an ELF file" in err


@pytest.mark.parametrize("path", ["/dev/zero", "/nonexistent/python3", "/"])
def test_executable_that_cannot_be_read_is_1(path: str) -> None:
    if not os.path.exists(path) and path != "/nonexistent/python3":
        pytest.skip(f"no {path} here")
    status, out, err = run("--executable", path)
    assert status == EXIT_PROBLEM and out == ""
    assert err.startswith("libcprobe: error: ")


def test_root_that_is_not_a_directory_is_1(tmp_path: Path) -> None:
    status, _, err = run("tags", "--root", str(tmp_path / "missing"))
    assert status == EXIT_PROBLEM and "root is not a directory" in err


def test_inspect_of_a_file_that_is_not_elf_is_1(notes: Path) -> None:
    status, out, _ = run("inspect", str(notes))
    assert status == EXIT_PROBLEM and "not an ELF file" in out
    # inside a directory a non-ELF file is skipped, not an error
    assert run("inspect", str(notes.parent))[0] == EXIT_OK


def test_check_with_a_problem_is_1_and_the_summary_stays_on_stderr() -> None:
    status, out, err = run("check", "--platform", "manylinux_2_5_x86_64", str(WHEEL))
    lines = out.splitlines()
    assert status == EXIT_PROBLEM
    assert err == "3 binaries checked against platform tag manylinux_2_5_x86_64: 4 problems\n"
    # one problem per cause: GLIBC_2.14 in two modules, GLIBCXX_ and CXXABI_ in the C++ one
    assert sum("needs GLIBC_2.14 from libc.so.6" in line for line in lines) == 2
    assert len(lines) == 4


def test_check_of_a_file_that_is_not_elf_is_1(notes: Path) -> None:
    status, out, _ = run("check", str(notes))
    assert status == EXIT_PROBLEM and "not an ELF file" in out


# -- 2: usage and override errors -------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["--no-such-option"],
        ["no-such-command"],
        ["inspect"],
        ["check"],
        ["inspect", "-j", "0", "x"],
        ["check", "-j", "0", "x"],
        ["check", "--jobs", "-3", "x"],
        ["check", "-j", "2", "x"],  # check has no -j (it would be ignored)
        ["inspect", "-j", "two", "x"],
        ["check", "--platform", "manylinux_2_17_x86_64", "--root", "/", "x"],
        ["--root", "/", "check", "--platform", "manylinux_2_17_x86_64", "x"],
        ["check", "--platform", "not-a-tag", "x"],
    ],
)
def test_usage_errors_are_2(argv: list[str]) -> None:
    status, out, err = run(*argv)
    assert status == EXIT_USAGE and out == ""
    assert "error" in err


def test_root_and_platform_exclude_each_other_before_reading_anything(tmp_path: Path) -> None:
    status, _, err = run("check", "--root", "/", "--platform", "manylinux_2_17_x86_64", "missing")
    assert status == EXIT_USAGE and "exclude each other" in err


@pytest.mark.parametrize("command", [[], ["tags"], ["detect", "--json"]])
def test_malformed_override_is_2(monkeypatch: pytest.MonkeyPatch, command: list[str]) -> None:
    monkeypatch.setenv("LIBCPROBE_LIBC", "muslx-1.2")
    status, out, err = run(*command)
    assert status == EXIT_USAGE and out == "" and "LIBCPROBE_LIBC" in err


@pytest.mark.parametrize("value", ["", " "])
def test_empty_override_is_unset(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.delenv("LIBCPROBE_LIBC", raising=False)
    unset = run("--json")
    monkeypatch.setenv("LIBCPROBE_LIBC", value)
    assert run("--json") == unset
    assert libcprobe.detect().evidence[0].source != "env"


# -- the rule is stated where users look ------------------------------------------------------


def _help(*command: str) -> str:
    out = io.StringIO()
    saved = sys.stdout
    sys.stdout = out
    try:
        with pytest.raises(SystemExit):
            main([*command, "--help"])
    finally:
        sys.stdout = saved
    return out.getvalue()


def test_help_states_the_rule() -> None:
    text = _help()
    assert "exit status, the same for every command:" in text
    for line in ("0  answered", "1  a problem found", "2  a usage error, or a malformed"):
        assert line in text
    for command in COMMANDS:
        assert "exit status: 0 " in " ".join(_help(command).split()), command


def test_docs_state_the_rule() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text()
    assert "## Exit status" in text
    for status in ("| 0 |", "| 1 |", "| 2 |"):
        assert status in text


def test_descriptions_are_wrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    for command in ((), *((c,) for c in COMMANDS)):
        for line in _help(*command).splitlines():
            # an example command line may be longer; prose may not
            if not line.startswith("  libcprobe "):
                assert len(line) <= 80, (command, line)
    assert build_parser().prog == "libcprobe"


# -- the answer mentions what it passed over --------------------------------------------------


def test_symlink_loop_at_a_roots_python_is_mentioned(tmp_path: Path) -> None:
    (tmp_path / "usr" / "bin").mkdir(parents=True)
    (tmp_path / "usr" / "bin" / "python3").symlink_to("python3")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "sh").write_bytes(STATIC_MUSL.read_bytes())
    info = libcprobe.detect(root=tmp_path)
    assert info.family is libcprobe.Family.MUSL  # /bin/sh answered
    loop = [e for e in info.evidence if e.value == "/usr/bin/python3"]
    assert loop and loop[0].detail.startswith("not used: ") and "loop" in loop[0].detail
    status, out, _ = run("--root", str(tmp_path))
    assert status == EXIT_OK
    assert re.search(r"^skipped: +/usr/bin/python3: .*loop", out, re.MULTILINE)


def test_python_dash_m_exit_status(notes: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "libcprobe", "--executable", str(notes)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == EXIT_PROBLEM and "not an ELF file" in proc.stderr
