"""benchmarks/run.py --quick --json runs and reports every section (no timing assertions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"

SECTIONS = [
    "meta",
    "imports",
    "process",
    "in_process",
    "musl_interpreter",
    "musl_version",
    "inspect",
    "memory",
    "cold",
    "targets",
]
TARGETS = 12


def test_quick_json() -> None:
    env = dict(os.environ)
    env["PIP_NO_INDEX"] = "1"  # quick mode must not install anything
    proc = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=1500,  # callgrind runs in quick mode too; a loaded machine is slow
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(proc.stdout)
    assert sorted(data) == sorted(SECTIONS)
    assert data["meta"]["quick"] is True

    imports = data["imports"]
    for key in (
        "importtime_libcprobe_cumulative_ms",
        "importtime_libcprobe_own_self_ms",
        "modules_after_import",
        "modules_after_detect",
        "forbidden_after_detect",
        "fresh_process",
    ):
        assert key in imports, key
    assert "libcprobe._detect" in imports["modules_after_detect"]

    process = data["process"]["results"]
    assert {"python -c pass", "libcprobe: detect().platform_tags()"} <= set(process)
    assert "libcprobe.detect()" in data["in_process"]["results"]
    assert "median_ms" in data["in_process"]["results"]["libcprobe.detect()"]

    musl = data["musl_interpreter"]
    assert "skipped" in musl or {"process", "in_process"} <= set(musl)
    assert "skipped" in data["musl_version"] or "results" in data["musl_version"]

    inspect = data["inspect"]
    assert "skipped" in inspect or (
        inspect["files"] > 0 and "libcprobe.inspect" in inspect["results"]
    )
    memory = data["memory"]
    assert "skipped" in memory or (memory["runs"] and "verdicts" in memory)

    cold = data["cold"]
    for key in ("fresh_host", "fresh_musl", "clock_host", "clock_musl", "inspect_mix"):
        assert key in cold, key
    assert "all" in cold["inspect_mix"]

    targets = data["targets"]
    assert len(targets) == TARGETS
    for row in targets:
        assert set(row) == {"target", "status", "value", "detail"}
        assert row["status"] in {"PASS", "FAIL", "SKIP"}


def test_profile_phases_each_run() -> None:
    """benchmarks/profile_cold.py's child runs every phase it names (once; the counting under
    callgrind is the script's own business)."""
    script = RUN.parent / "profile_cold.py"
    sys.path.insert(0, str(RUN.parent))
    try:
        import profile_cold
    finally:
        sys.path.remove(str(RUN.parent))
    musl_libc = Path(profile_cold.MUSL_LIBC).exists()
    for group, _, which in profile_cold.PHASES:
        if group == "musl" and which in ("open_libc", "classify_libc") and not musl_libc:
            continue
        proc = subprocess.run(
            [sys.executable, str(script), "--child", which, "1"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, (which, proc.stderr[-2000:])
