"""The e2e cache: where it is, what of it the tests need, and building it at session start.

``LIBCPROBE_E2E=1`` with the cache incomplete builds it with ``e2e/build`` from
``pytest_sessionstart`` (tests/conftest.py), before any test module is imported, so every test
that looks for the built interpreters (tests/e2e and the few in test_compat.py) finds them in
that same run. The recipe's progress lines (one per step, with the elapsed time) go to the
terminal as they come; everything it prints is kept in ``$E2E_DIR/logs/build.log``."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "e2e"
ENABLE = "LIBCPROBE_E2E"
BUILD_FAILURE = pytest.StashKey[str]()


def e2e_dir() -> Path:
    """``$E2E_DIR``, by default ``~/.cache/libcprobe-e2e``, made absolute."""
    return Path(os.environ.get("E2E_DIR") or Path.home() / ".cache" / "libcprobe-e2e").absolute()


def missing(directory: Path) -> list[Path]:
    """What the tests need from the built cache and is not there."""
    rootfs = directory / "rootfs"
    needed = [
        directory / "dynamic" / "bin" / "python3",
        directory / "static" / "bin" / "python3",
        rootfs / "lib" / "ld-musl-x86_64.so.1",
        rootfs / "proc",
        rootfs / "opt" / "pythonpath",
    ]
    # The rootfs holds both installs at the same absolute paths as on the host.
    needed += [Path(f"{rootfs}{directory}/{kind}/bin/python3") for kind in ("dynamic", "static")]
    return [p for p in needed if not p.exists()]


def unsupported() -> Optional[str]:
    """Why e2e cannot run on this machine, or None."""
    if sys.platform != "linux" or platform.machine() != "x86_64":
        return f"e2e needs Linux x86_64, not {sys.platform} {platform.machine()}"
    if os.geteuid() != 0:
        return "e2e needs root (mount, chroot)"
    return None


def _stream(proc: subprocess.Popen[bytes], log: IO[bytes], terminal: IO[str]) -> None:
    """Copy the recipe's stderr (its progress lines) to the terminal and the log, line by line."""
    assert proc.stderr is not None
    for raw in proc.stderr:
        log.write(raw)
        log.flush()
        terminal.write(raw.decode(errors="replace"))
        terminal.flush()


def build(directory: Path, terminal: IO[str]) -> Optional[str]:
    """Run ``e2e/build`` into ``directory``; None when it worked, else what went wrong."""
    recipe = RECIPE / "build"
    (directory / "logs").mkdir(parents=True, exist_ok=True)
    log_path = directory / "logs" / "build.log"
    terminal.write(
        f"\ne2e: building the musl interpreters into {directory} with {recipe} "
        f"(about 6-8 minutes the first time; log: {log_path})\n"
    )
    start = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(recipe)],
            env={**os.environ, "E2E_DIR": str(directory)},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.PIPE,
        )
        _stream(proc, log, terminal)
        rc = proc.wait()
    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])
    if rc != 0:
        return f"{recipe} failed (exit {rc}); its output: {log_path}\n{tail}"
    left_out = missing(directory)
    if left_out:
        return f"{recipe} exited 0 but left out {', '.join(map(str, left_out))}; see {log_path}"
    terminal.write(f"e2e: built in {time.monotonic() - start:.0f} s ({log_path})\n\n")
    return None


def build_if_wanted(config: pytest.Config) -> None:
    """``pytest_sessionstart``: with LIBCPROBE_E2E=1, build a missing cache before collection.

    A failure is kept in the config's stash: the ``e2e`` fixture then fails every e2e test with
    it, and the rest of the suite still runs."""
    directory = e2e_dir()
    if os.environ.get(ENABLE) != "1" or unsupported() is not None or not missing(directory):
        return
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        failure = build(directory, sys.stderr)
    else:
        with capture.global_and_fixture_disabled():
            failure = build(directory, sys.stderr)
    if failure is not None:
        config.stash[BUILD_FAILURE] = failure
        sys.stderr.write(f"e2e: {failure}\n")
