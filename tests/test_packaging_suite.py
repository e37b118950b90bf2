"""scripts/packaging-suite: packaging's own tests, run through libcprobe.compat."""

from __future__ import annotations

import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Optional

import pytest

from shared import load_script

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "packaging-suite"


suite = load_script(SCRIPT)


@lru_cache(maxsize=1)
def _index_unreachable() -> Optional[str]:
    """None when pip can list packaging's versions within a few seconds, else why not."""
    try:
        proc = subprocess.run(
            [
                sys.executable, "-m", "pip", "index", "versions", "packaging",
                "--disable-pip-version-check", "--retries", "0", "--timeout", "5",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"pip index versions failed: {exc}"
    if proc.returncode != 0 or "packaging" not in proc.stdout:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        return "the package index is unreachable: " + (lines[-1] if lines else "no output")
    return None


@pytest.mark.network
def test_packaging_suite_passes() -> None:
    reason = _index_unreachable()
    if reason is not None:
        pytest.skip(reason)
    env = dict(os.environ)
    env.pop("LIBCPROBE_LIBC", None)
    proc = subprocess.run(
        [sys.executable, str(SCRIPT)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "failed, unexpected:           0" in proc.stdout
    assert "OK: every failure is an expected, documented difference" in proc.stdout


def test_script_is_an_executable_python3_script() -> None:
    assert SCRIPT.read_text().startswith("#!/usr/bin/env python3\n")
    assert os.access(SCRIPT, os.X_OK)


def test_every_expected_difference_has_a_reason() -> None:
    assert suite.EXPECTED_DIFFERENCES
    for nodeid, reason in suite.EXPECTED_DIFFERENCES.items():
        path, _, name = nodeid.partition("::")
        assert path in suite.TEST_FILES, nodeid
        assert name, nodeid
        assert len(reason) > 60, nodeid


def test_summary_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    expected = next(iter(suite.EXPECTED_DIFFERENCES))
    ok = {"tests/test_tags.py::test_a": "passed", expected: "failed"}
    assert suite.summarize("0", ok, "") == 0
    assert "failed, expected to differ:   1" in capsys.readouterr().out

    bad = {**ok, "tests/test_tags.py::test_b": "failed"}
    assert suite.summarize("0", bad, "the log") == 1
    out = capsys.readouterr().out
    assert "UNEXPECTED" in out and "tests/test_tags.py::test_b" in out

    xpassed = {**ok, "tests/test_tags.py::test_c": "xpassed"}
    assert suite.summarize("0", xpassed, "") == 1

    stale = {expected: "passed"}
    assert suite.summarize("0", stale, "") == 0
    assert "passed here" in capsys.readouterr().out


def test_conftest_is_not_collected_by_our_run() -> None:
    conftest = ROOT / "tests" / "packaging_suite" / "conftest_packaging.py"
    assert conftest.is_file()
    assert conftest == suite.CONFTEST
    assert not (conftest.parent / "conftest.py").exists()
