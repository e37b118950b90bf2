"""Wheel audit speed: ``libcprobe inspect`` of a wheel against ``auditwheel show`` on the same
wheels, in one run (issue 15's target: libcprobe at least 10x faster).

    .venv/bin/python benchmarks/wheel_audit.py [--json] [--limit N]

The wheels are the sha256-pinned oracle set (tests/oracle-wheels.json), fetched into
the wheel cache by scripts/fetch-oracle-wheels. Two comparisons, each wheel measured once per
tool, the tools taking turns wheel by wheel:

- in process: ``iter_items`` + ``summarize_wheel`` (everything the wheel row needs) against
  auditwheel's ``analyze_wheel_abi`` (what ``auditwheel show`` computes; its ``lru_cache`` is
  cleared before each call), both already imported;
- whole command: ``python -m libcprobe inspect --json WHEEL`` against
  ``python -m auditwheel show --json WHEEL``, interpreter start-up included; and all the wheels
  in one ``libcprobe inspect`` command (``auditwheel show`` takes one wheel).

Times are CPU seconds (user + system, children included) and wall seconds: the machine is
shared, and CPU time is what the load does not inflate.

The ratio is auditwheel's total time over libcprobe's, per comparison. auditwheel (and
pyelftools) come from the interpreter that runs the script: the test extras install them.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def _wheels(limit: int) -> list[Path]:
    sys.path.insert(0, str(ROOT / "tests"))  # the oracle set and its fetching: tests/oracle.py
    from oracle import oracle_wheels

    found, problems = oracle_wheels()
    if problems:
        raise SystemExit(f"wheel_audit: {problems[0]}")
    return [path for _, path in found][:limit]


def _libcprobe(path: Path) -> Any:
    from libcprobe.audit._tree import iter_items
    from libcprobe.audit._wheel_summary import summarize_wheel

    return summarize_wheel(str(path), list(iter_items([str(path)])))


def _auditwheel(path: Path) -> Any:
    import logging

    from auditwheel.wheel_abi import (  # type: ignore[import-untyped]
        analyze_wheel_abi,
        get_wheel_elfdata,
    )
    from auditwheel.wheeltools import (  # type: ignore[import-untyped]
        get_wheel_architecture,
        get_wheel_libc,
    )

    logging.disable(logging.WARNING)
    get_wheel_elfdata.cache_clear()
    return analyze_wheel_abi(
        get_wheel_libc(path.name),
        get_wheel_architecture(path.name),
        path,
        frozenset(),
        disable_isa_ext_check=False,
        allow_graft=False,
    )


def _cpu() -> float:
    # This process's CPU time and that of the children it has waited for (user + system):
    # the machine is shared, so wall-clock time measures the load as much as the tools.
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one call."""
    cpu, wall = _cpu(), time.perf_counter()
    fn()
    return _cpu() - cpu, time.perf_counter() - wall


def _command(args: list[str]) -> Callable[[], object]:
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
    return functools.partial(subprocess.run, args, capture_output=True, check=False, env=env)


def measure(wheels: list[Path]) -> dict[str, Any]:
    """CPU and wall totals in seconds per tool and comparison, and the ratios."""
    _libcprobe(wheels[0])  # imports, outside the timing
    _auditwheel(wheels[0])
    py = sys.executable
    kinds = ("libcprobe", "auditwheel", "libcprobe_cli", "auditwheel_cli")
    cpu = dict.fromkeys(kinds, 0.0)
    wall = dict.fromkeys(kinds, 0.0)
    rows = []
    for path in wheels:
        calls: dict[str, Callable[[], object]] = {
            "libcprobe": functools.partial(_libcprobe, path),
            "auditwheel": functools.partial(_auditwheel, path),
            "libcprobe_cli": _command([py, "-m", "libcprobe", "inspect", "--json", str(path)]),
            "auditwheel_cli": _command([py, "-m", "auditwheel", "show", "--json", str(path)]),
        }
        row: dict[str, Any] = {"wheel": path.name}
        for kind, call in calls.items():
            used, took = _timed(call)
            cpu[kind] += used
            wall[kind] += took
            row[kind] = {"cpu": used, "wall": took}
        rows.append(row)
    # libcprobe inspects any number of wheels in one command; auditwheel show takes one.
    used, took = _timed(_command([py, "-m", "libcprobe", "inspect", "--json", *map(str, wheels)]))
    cpu["libcprobe_one_command"], wall["libcprobe_one_command"] = used, took
    return {
        "wheels": len(wheels),
        "bytes": sum(p.stat().st_size for p in wheels),
        "cpu": cpu,
        "wall": wall,
        "ratio_in_process_cpu": cpu["auditwheel"] / cpu["libcprobe"],
        "ratio_command_cpu": cpu["auditwheel_cli"] / cpu["libcprobe_cli"],
        "ratio_one_command_cpu": cpu["auditwheel_cli"] / cpu["libcprobe_one_command"],
        "ratio_in_process_wall": wall["auditwheel"] / wall["libcprobe"],
        "ratio_command_wall": wall["auditwheel_cli"] / wall["libcprobe_cli"],
        "load_average": os.getloadavg(),
        "rows": rows,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--limit", type=int, default=1000)
    args = parser.parse_args(argv)
    result = measure(_wheels(args.limit))
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(
        f"{result['wheels']} wheels, {result['bytes'] / 1e6:.1f} MB, load {result['load_average']}"
    )
    for label, key in (("in process", "in_process"), ("whole command", "command")):
        lib, aw = (
            ("libcprobe", "auditwheel")
            if key == "in_process"
            else ("libcprobe_cli", "auditwheel_cli")
        )
        print(
            f"{label:14} CPU: libcprobe {result['cpu'][lib]:.2f} s, auditwheel "
            f"{result['cpu'][aw]:.2f} s -> {result[f'ratio_{key}_cpu']:.1f}x;  wall: "
            f"{result['wall'][lib]:.2f} s vs {result['wall'][aw]:.2f} s -> "
            f"{result[f'ratio_{key}_wall']:.1f}x"
        )
    print(
        f"all wheels in one libcprobe command: CPU {result['cpu']['libcprobe_one_command']:.2f} s"
        f" -> {result['ratio_one_command_cpu']:.1f}x against one auditwheel show per wheel"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
