"""How long detection takes: whole ``python -c`` processes (1a), cold in-process calls next
to packaging's, ``platform.libc_ver()`` and pyelftools (1b), and both again inside the dynamic
musl CPython of ``e2e/build`` (1c)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

from _common import (
    Settings,
    child_env,
    fmt_ms,
    get,
    median,
    print_table,
    probe,
    ratio_text,
    stage,
    target,
)

TARGET_DETECT_GLIBC_MS = 0.5
TARGET_DETECT_MUSL_MS = 2.0

PROCESS_COMMANDS = {
    "python -c pass": "pass",
    "libcprobe: detect().platform_tags()": ("import libcprobe; libcprobe.detect().platform_tags()"),
    "packaging: list(tags.platform_tags())": (
        "import packaging.tags; list(packaging.tags.platform_tags())"
    ),
}


def bench_process(python: str, env: dict[str, str], runs: int) -> dict[str, Any]:
    """Wall time of whole ``python -c ...`` processes, the commands interleaved."""
    times: dict[str, list[float]] = {name: [] for name in PROCESS_COMMANDS}
    errors: dict[str, str] = {}
    for i in range(runs + 1):  # round 0 warms up the page cache
        for name, code in PROCESS_COMMANDS.items():
            start = time.perf_counter()
            proc = subprocess.run(
                [python, "-c", code],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            elapsed = (time.perf_counter() - start) * 1e3
            if proc.returncode != 0:
                errors[name] = proc.stderr.strip()[-500:]
            elif i:
                times[name].append(elapsed)
    bare = median(times["python -c pass"])
    results: dict[str, Any] = {}
    for name, values in times.items():
        med = median(values)
        results[name] = {
            "median_ms": med,
            "min_ms": min(values) if values else None,
            "runs": len(values),
            "over_bare_ms": med - bare if med is not None and bare is not None else None,
        }
    out: dict[str, Any] = {"python": python, "results": results}
    if errors:
        out["errors"] = errors
    return out


def bench_in_process(python: str, env: dict[str, str], settings: Settings) -> dict[str, Any]:
    return probe(python, env, "inprocess", str(settings.iterations), str(settings.budget))


def bench_musl_interpreter(
    python: Path, tmp: Path, settings: Settings, src: Path
) -> dict[str, Any]:
    site = stage(str(python), tmp / "musl-site", src)
    env = child_env(site)
    return {
        "python": str(python),
        "process": bench_process(str(python), env, settings.musl_process_runs),
        "in_process": probe(
            str(python), env, "inprocess", str(settings.iterations), str(settings.budget)
        ),
    }


def print_process(title: str, data: dict[str, Any]) -> None:
    res = data.get("results", {})
    rows = [
        [name, fmt_ms(r.get("median_ms")), fmt_ms(r.get("min_ms")), fmt_ms(r.get("over_bare_ms"))]
        for name, r in res.items()
    ]
    print_table(title, ["command", "median ms", "min ms", "over bare python ms"], rows)
    for name, error in data.get("errors", {}).items():
        print(f"  error in {name}: {error}")


def print_in_process(title: str, data: dict[str, Any]) -> None:
    if "error" in data:
        print(f"\n## {title}\n\nerror: {data['error']}")
        return
    res = data.get("results", {})
    ref = get(res, "libcprobe.detect()", "median_ms")
    rows = []
    for name, r in res.items():
        if "error" in r:
            rows.append([name, "error", "-", "-", r["error"][:60]])
            continue
        rows.append(
            [
                name,
                fmt_ms(r["median_ms"]),
                fmt_ms(r["min_ms"]),
                ratio_text(r["median_ms"], ref),
                r["value"][:60],
            ]
        )
    print_table(
        f"{title} (caches cleared before each call; python {data.get('python')})",
        ["call", "median ms", "min ms", "vs detect()", "result"],
        rows,
    )
    print(
        f"\nfirst detect() in a fresh process, after import: {fmt_ms(data.get('first_detect_ms'))}"
        f" ms (lazy imports included); detected {data.get('detected')}"
    )
    for note in data.get("notes", []):
        print(f"  note: {note}")


def report(results: dict[str, Any]) -> None:

    print_process("1a. whole process, this host", results["process"])
    print_in_process("1b. in-process, cold, this host", results["in_process"])
    musl = results.get("musl_interpreter", {})
    if "skipped" in musl:
        print(f"\n## 1c. musl interpreter\n\nskipped: {musl['skipped']}")
    else:
        print_process(f"1c. whole process, musl interpreter {musl['python']}", musl["process"])
        print_in_process("1c. in-process, cold, musl interpreter", musl["in_process"])


def targets(results: dict[str, Any]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    host = get(results, "in_process", "results", "libcprobe.detect()", "median_ms")
    family = get(results, "in_process", "detected", "family")
    if host is None or family != "glibc":
        out.append(target("cold detect() <= 0.5 ms (glibc)", "SKIP", "-", f"host is {family}"))
    else:
        out.append(
            target(
                f"cold detect() <= {TARGET_DETECT_GLIBC_MS:g} ms (glibc, this host)",
                "PASS" if host <= TARGET_DETECT_GLIBC_MS else "FAIL",
                f"{host:.3f} ms",
            )
        )
    musl = get(results, "musl_interpreter", "in_process", "results", "libcprobe.detect()")
    if not isinstance(musl, dict) or "median_ms" not in musl:
        out.append(
            target(
                f"cold detect() <= {TARGET_DETECT_MUSL_MS:g} ms (musl)",
                "SKIP",
                "-",
                str(get(results, "musl_interpreter", "skipped") or musl),
            )
        )
    else:
        value = musl["median_ms"]
        out.append(
            target(
                f"cold detect() <= {TARGET_DETECT_MUSL_MS:g} ms (musl, e2e dynamic interpreter)",
                "PASS" if value <= TARGET_DETECT_MUSL_MS else "FAIL",
                f"{value:.3f} ms",
            )
        )
    return out
