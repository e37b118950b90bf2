#!/usr/bin/env python3
"""libcprobe against its peers, and the speed targets.

    python benchmarks/run.py            # full run (installs numpy + scipy into its own venv)
    python benchmarks/run.py --quick    # a few iterations, small inputs, no network: seconds
    python benchmarks/run.py --json     # the same, as one JSON object on stdout

Run it with the project's venv (``.venv/bin/python``): ``packaging`` and ``pyelftools`` are
taken from the interpreter that runs this script. Every measurement runs in child processes
that import a byte-compiled snapshot of ``src/libcprobe`` (and of the same ``packaging`` and
``pyelftools``) from a temporary directory, so pyc files exist as they do in a real install
even under ``PYTHONDONTWRITEBYTECODE``. Progress goes to stderr. See ``benchmarks/README.md``.

This file only drives the parts, one module per measured question (each with ``bench``,
``report`` and ``targets``): ``_imports`` (import cost), ``_detect_time`` (1a-1c: detection
in whole processes and in process, on this host and in the musl CPython), ``_musl_version``
(2), ``_inspect_speed`` (3), ``_memory`` (4) and ``_cold`` (the cold-start ratios of issue
16); ``_common`` holds what they share, ``_probe.py`` is the child half, ``_callgrind`` counts
instructions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import _cold
import _detect_time
import _imports
import _inspect_speed
import _memory
import _musl_version
from _common import (
    E2E_DIR,
    MUSL_LOADER,
    REPO,
    SRC,
    Settings,
    child_env,
    log,
    musl_python,
    print_table,
    stage,
)

#: The report's parts in order; each prints its section and gives its targets.
PARTS = (_imports, _detect_time, _musl_version, _inspect_speed, _memory)


def evaluate(results: dict[str, Any]) -> list[dict[str, str]]:
    out = _cold.targets(results.get("cold", {}))
    for part in PARTS:
        out += part.targets(results)
    return out


def print_report(results: dict[str, Any]) -> None:
    meta = results["meta"]
    print(
        f"# libcprobe benchmarks ({'quick' if meta['quick'] else 'full'}): python "
        f"{meta['python']}, {meta['machine']}, {meta['cpus']} CPUs, load {meta['loadavg']}, "
        f"libcprobe at {meta['source']}"
    )
    for part in PARTS:
        part.report(results)
    for title, (header, rows) in _cold.report_rows(results.get("cold", {})).items():
        print_table(title, header, rows)
    print_table(
        "targets",
        ["target", "result", "measured", "detail"],
        [[t["target"], t["status"], t["value"], t["detail"]] for t in results["targets"]],
    )


def measure(
    results: dict[str, Any],
    python: str,
    env: dict[str, str],
    tmp: Path,
    settings: Settings,
    src: Path,
    no_install: bool,
) -> None:
    """Every section into ``results``, in the order of the report."""
    log("imports")
    results["imports"] = _imports.bench_imports(python, env, settings)
    log("1a. whole process")
    results["process"] = _detect_time.bench_process(python, env, settings.process_runs)
    log("1b. in-process")
    results["in_process"] = _detect_time.bench_in_process(python, env, settings)
    musl = musl_python()
    if musl is None:
        results["musl_interpreter"] = {
            "skipped": f"no musl interpreter at {E2E_DIR}/dynamic/bin/python3 "
            f"(build it with e2e/build) or no {MUSL_LOADER}"
        }
    else:
        log(f"1c. musl interpreter {musl}")
        results["musl_interpreter"] = _detect_time.bench_musl_interpreter(musl, tmp, settings, src)
    log("2. musl version")
    results["musl_version"] = _musl_version.bench_musl_version(python, env, settings)
    log("3. inspect")
    results["inspect"] = _inspect_speed.bench_inspect(python, env, tmp, settings, no_install)
    log("4. memory")
    results["memory"] = _memory.bench_memory(python, env, tmp)
    log("cold start (issue 16 targets)")
    site = None if settings.quick or no_install else _inspect_speed.bench_venv_site()[0]
    results["cold"] = _cold.bench(python, env, tmp, settings, results, site)


def git_state() -> str:
    """The commit measured, and whether src/ had uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes in src/" if dirty else "")


# -- main --------------------------------------------------------------------------------------


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a few iterations, small inputs")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--save", metavar="FILE", help="also write the JSON to FILE")
    parser.add_argument(
        "--no-install",
        action="store_true",
        help="inspect the system libraries instead of installing numpy and scipy",
    )
    parser.add_argument(
        "--src",
        metavar="DIR",
        type=Path,
        default=SRC,
        help="measure the libcprobe package in DIR/libcprobe (default: this checkout's src)",
    )
    args = parser.parse_args(argv)
    src: Path = args.src.resolve()
    if not (src / "libcprobe" / "__init__.py").is_file():
        parser.error(f"no libcprobe package in {src}")
    settings = Settings(args.quick)
    python = sys.executable
    started = time.perf_counter()
    results: dict[str, Any] = {
        "meta": {
            "quick": settings.quick,
            "python": platform.python_version(),
            "executable": python,
            "machine": f"{platform.system()} {platform.machine()}",
            "cpus": os.cpu_count(),
            "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "source": git_state() if src == SRC.resolve() else str(src),
        }
    }
    with tempfile.TemporaryDirectory(prefix="libcprobe-bench-") as tmp_name:
        tmp = Path(tmp_name)
        log("staging a byte-compiled copy of libcprobe, packaging, pyelftools")
        env = child_env(stage(python, tmp / "host-site", src))
        measure(results, python, env, tmp, settings, src, args.no_install)
    results["targets"] = evaluate(results)
    results["meta"]["seconds"] = round(time.perf_counter() - started, 1)
    text = json.dumps(results, indent=2)
    if args.save:
        Path(args.save).write_text(text + "\n", encoding="utf-8")
    if args.json:
        print(text)
    else:
        print_report(results)
        print(f"\n({results['meta']['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
