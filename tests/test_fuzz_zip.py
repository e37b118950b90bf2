"""A seeded, bounded run of fuzz/fuzz_zip.py (structural zip and directory-tree mutations):
the same inputs every time, and none may make anything but a LibcprobeError escape."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parent.parent / "fuzz" / "fuzz_zip.py"


def test_fuzz_zip_seeded_run() -> None:
    runs = int(os.environ.get("LIBCPROBE_FUZZ_ZIP_RUNS", "200"))
    if runs == 0:
        pytest.skip("LIBCPROBE_FUZZ_ZIP_RUNS=0")
    spec = importlib.util.spec_from_file_location("libcprobe_fuzz_zip", FUZZ)
    assert spec is not None and spec.loader is not None
    harness = importlib.util.module_from_spec(spec)
    sys.modules["libcprobe_fuzz_zip"] = harness
    spec.loader.exec_module(harness)
    crashes: list[str] = []
    targets = harness.Targets()
    try:
        done, count = harness.plain_loop(
            targets, runs, 13, 1e9, lambda data, exc: crashes.append(f"{data.hex()}: {exc!r}")
        )
    finally:
        targets.cleanup()
    assert done == runs
    assert count == 0, crashes[:3]
