"""Instruction counts with ``valgrind --tool=callgrind``: repeatable on a noisy machine, where
wall-clock medians move by 10-30 % from run to run. Used by ``run.py`` for whatever runs in one
process without a child process (a child's kernel work is invisible to callgrind, so anything
that forks is timed by the clock instead)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Optional

_COLLECTED = re.compile(r"Collected : (\d+)")


def valgrind() -> Optional[str]:
    """The valgrind program, or None (then run.py falls back to interleaved wall-clock runs)."""
    return shutil.which("valgrind")


def instructions(argv: list[str], env: dict[str, str], timeout: float = 600) -> Optional[int]:
    """Instructions executed by ``argv`` (user space, this process only), or None on failure.

    ``PYTHONHASHSEED=0`` keeps hashing, and so dict layouts, the same from run to run."""
    tool = valgrind()
    if tool is None:
        return None
    env = {**env, "PYTHONHASHSEED": "0"}
    proc = subprocess.run(
        [tool, "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=timeout,
    )
    match = _COLLECTED.search(proc.stderr)
    if proc.returncode != 0 or match is None:
        return None
    return int(match.group(1))


def clean_venv(python: str, dest: Path) -> str:
    """A venv without pip (no site-packages .pth file imports anything at start-up) made from
    the base interpreter of ``python``; returns its python."""
    subprocess.run(
        [python, "-m", "venv", "--without-pip", "--clear", str(dest)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return str(dest / "bin" / "python")


def available() -> bool:
    return valgrind() is not None and os.name == "posix"
