"""The command line: output shapes, JSON, exit statuses."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

import elfbuild
from libcprobe import __version__
from libcprobe._cli import build_parser, main
from shared import INSPECT_KEYS


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(argv), out=out)
    return status, out.getvalue()


def test_summary_and_json() -> None:
    status, text = run()
    assert status == 0 and text.startswith("libc:")
    status, text = run("--json")
    data = json.loads(text)
    assert status == 0 and data["family"] == "glibc" and data["platform_tags"]
    status, text = run("-v")
    assert "why:" in text and "confstr" in text


def test_tags_command() -> None:
    status, text = run("tags")
    assert status == 0 and text.splitlines()[0].startswith("linux_")
    status, text = run("tags", "--linux-last")
    assert status == 0 and text.splitlines()[-1].startswith("linux_")
    status, text = run("tags", "--json")
    assert isinstance(json.loads(text), list)


def test_inspect_json_lines_and_exit_status(tmp_path: Path) -> None:
    good = tmp_path / "good.so"
    good.write_bytes(elfbuild.build(elfbuild.Spec()).data)
    bad = tmp_path / "bad.txt"
    bad.write_text("hello")
    status, text = run("inspect", "--json", str(good))
    assert status == 0
    row = json.loads(text)
    assert tuple(row) == INSPECT_KEYS
    assert row["family"] == "musl" and row["glibc_requires"] == "2.17"
    status, text = run("inspect", "--json", str(good), str(bad), str(tmp_path / "missing"))
    rows = [json.loads(line) for line in text.splitlines()]
    assert status == 1 and [r["error"] is None for r in rows] == [True, False, False]
    status, text = run("inspect", str(good), str(bad))
    assert status == 1 and "error: not an ELF file" in text


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--no-such-flag"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["inspect"])
    assert info.value.code == 2


def test_help_teaches_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "examples:" in text and "libcprobe --root" in text and "exit status" in text
    with pytest.raises(SystemExit):
        main(["--version"])
    assert __version__ in capsys.readouterr().out
    assert build_parser().prog == "libcprobe"


def test_bad_root_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _ = run("--root", str(tmp_path / "nope"))
    assert status == 1
    assert "root is not a directory" in capsys.readouterr().err


def test_python_dash_m_is_the_same_cli() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "libcprobe", "--json"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["family"] == "glibc"
