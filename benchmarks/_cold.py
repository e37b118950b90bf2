"""The cold-start targets of issue 16, measured for ``run.py``, each as a ratio to a peer in the
same run:

1. a fresh process: ``import libcprobe; libcprobe.detect().platform_tags()`` against
   ``import packaging.tags; list(packaging.tags.platform_tags())``, both over bare python, on
   this host (in a clean venv: no ``.pth`` file imports anything first) and in the dynamic musl
   CPython; instructions (callgrind) where valgrind exists, else medians of interleaved runs;
2. in-process, cold (caches cleared): ``detect().platform_tags()`` against packaging's
   ``list(platform_tags())``; in instructions on this host when packaging runs no program here
   (glibc), and by the clock, interleaved call by call, always (in the musl CPython packaging
   runs the loader in a child process, whose cost callgrind cannot see);
4. ``inspect`` against pyelftools reading the same facts, on a mix of real ``libc.so.6`` files,
   musl loaders, executables and extension modules.

(3, the musl version from bytes against running the loader, is ``run.py``'s section 2.)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Optional

import _callgrind
from _common import PROBE, REPO, Settings, child_env, get, is_elf, log, musl_python, probe

FRESH = {
    "python -c pass": "pass",
    "libcprobe": "import libcprobe; libcprobe.detect().platform_tags()",
    "packaging": "import packaging.tags; list(packaging.tags.platform_tags())",
}
TARGET_FRESH = 0.25
STRETCH_FRESH = 0.1
TARGET_COLD_GLIBC = 1.5
TARGET_COLD_MUSL = 1 / 3
TARGET_INSPECT_MIX = 10.0
#: Cold calls counted per library under callgrind (the count with 0 calls is subtracted).
LOOP_CALLS = 100


def fresh_instructions(python: str, env: dict[str, str]) -> dict[str, Any]:
    """Instructions of the three fresh processes; the two libraries over bare python."""
    counts = {
        name: _callgrind.instructions([python, "-c", code], env) for name, code in FRESH.items()
    }
    out: dict[str, Any] = {"python": python, "instructions": counts, "how": "callgrind"}
    bare, mine, theirs = (counts[k] for k in FRESH)
    if bare and mine and theirs:
        out["libcprobe_over_bare"] = mine - bare
        out["packaging_over_bare"] = theirs - bare
        out["ratio"] = (mine - bare) / (theirs - bare)
    return out


def fresh_from_clock(process: dict[str, Any]) -> dict[str, Any]:
    """The same ratio from run.py's interleaved whole-process runs (no valgrind)."""
    res = process.get("results", {})
    mine = (res.get("libcprobe: detect().platform_tags()") or {}).get("over_bare_ms")
    theirs = (res.get("packaging: list(tags.platform_tags())") or {}).get("over_bare_ms")
    out: dict[str, Any] = {"how": "medians of interleaved runs (no valgrind)"}
    if mine is not None and theirs:
        out.update(libcprobe_over_bare_ms=mine, packaging_over_bare_ms=theirs, ratio=mine / theirs)
    return out


def loop_instructions(python: str, env: dict[str, str]) -> dict[str, Any]:
    """Instructions per cold call for each library: (count with N calls - count with 0) / N."""
    out: dict[str, Any] = {"calls": LOOP_CALLS, "how": "callgrind"}
    for which in ("libcprobe", "packaging"):
        counts = [
            _callgrind.instructions([python, str(PROBE), "loop", which, str(n)], env)
            for n in (0, LOOP_CALLS)
        ]
        if counts[0] and counts[1]:
            out[which] = (counts[1] - counts[0]) / LOOP_CALLS
    if out.get("libcprobe") and out.get("packaging"):
        out["ratio"] = out["libcprobe"] / out["packaging"]
    return out


def clock_ratio(cold: dict[str, Any]) -> Optional[float]:
    res = cold.get("results", {})
    mine = (res.get("libcprobe.detect().platform_tags()") or {}).get("median_ms")
    theirs = (res.get("packaging list(tags.platform_tags())") or {}).get("median_ms")
    return mine / theirs if mine and theirs else None


# -- the measurements, in the order run.py takes them ----------------------------------------------


def bench(
    python: str,
    env: dict[str, str],
    tmp: Path,
    settings: Settings,
    results: dict[str, Any],
    site: Optional[Path],
) -> dict[str, Any]:
    """Targets 1, 2 and 4 (``results`` holds run.py's earlier sections: the host's family, and
    the whole-process clock figures used when valgrind is missing)."""
    out: dict[str, Any] = {"host_family": get(results, "in_process", "detected", "family")}
    musl = musl_python()
    musl_env = child_env(tmp / "musl-site") if musl is not None else None
    if _callgrind.available():
        clean = _callgrind.clean_venv(python, tmp / "clean-venv")
        log("  fresh processes under callgrind (host)")
        out["fresh_host"] = fresh_instructions(clean, env)
        if out["host_family"] == "glibc" and not settings.quick:  # quick: the clock only
            log("  cold calls under callgrind (host)")
            out["loop_host"] = loop_instructions(clean, env)
        if musl is not None and musl_env is not None:
            log("  fresh processes under callgrind (musl)")
            out["fresh_musl"] = fresh_instructions(str(musl), musl_env)
    else:
        out["fresh_host"] = fresh_from_clock(results.get("process", {}))
        if musl is not None:
            out["fresh_musl"] = fresh_from_clock(get(results, "musl_interpreter", "process") or {})
    if musl is None:
        out["fresh_musl"] = out["clock_musl"] = {"skipped": "no musl interpreter"}
    log("  cold calls by the clock, interleaved")
    out["clock_host"] = probe(python, env, "cold", str(settings.iterations), str(settings.budget))
    if musl is not None and musl_env is not None:
        out["clock_musl"] = probe(
            str(musl), musl_env, "cold", str(settings.iterations), str(settings.budget)
        )
    log("  inspect on a mix of real files")
    out["inspect_mix"] = bench_inspect_mix(python, env, tmp, settings, site)
    return out


def bench_inspect_mix(
    python: str, env: dict[str, str], tmp: Path, settings: Settings, site: Optional[Path]
) -> dict[str, Any]:
    """Target 4: files/s of libcprobe and pyelftools on each kind of :func:`inspect_mix`, and
    on all of them together."""
    mix: dict[str, Any] = {}
    kinds = inspect_mix(settings.quick, site)
    kinds["all"] = [p for files in kinds.values() for p in files]
    for kind, files in kinds.items():
        if not files:
            continue
        listfile = tmp / "mix.txt"
        listfile.write_text("\n".join(files) + "\n", encoding="utf-8")
        data = probe(python, env, "inspect", str(listfile), str(settings.inspect_passes))
        mix[kind] = {
            "files": len(files),
            "libcprobe": get(data, "results", "libcprobe.inspect", "files_per_second"),
            "pyelftools": get(data, "results", "pyelftools (same facts)", "files_per_second"),
            "facts_differ": data.get("facts_differ"),
            "facts_differ_examples": data.get("facts_differ_examples"),
        }
    return mix


# -- the inspect mix -----------------------------------------------------------------------------


def _first_elf(paths: list[Path], limit: int) -> list[str]:
    found: list[str] = []
    seen: set[str] = set()
    for path in paths:
        real = os.path.realpath(path)
        if real in seen or not os.path.isfile(real) or not is_elf(Path(real)):
            continue
        seen.add(real)
        found.append(real)
        if len(found) >= limit:
            break
    return found


def inspect_mix(quick: bool, site: Optional[Path]) -> dict[str, list[str]]:
    """Real files of four kinds: glibc's libc.so.6 (this host's and the Debian fixtures of
    several releases and architectures), musl loaders (the host's and the fixtures'),
    executables (/usr/bin) and extension modules (the interpreter's lib-dynload, and numpy /
    scipy when run.py installed them)."""
    fixtures = REPO / "tests" / "fixtures" / "debian"
    per = 4 if quick else 40
    libc6 = [
        Path("/usr/lib/x86_64-linux-gnu/libc.so.6"),
        *sorted(fixtures.glob("*/*/libc6/libc.so.6")),
    ]
    musl = [Path("/usr/lib/x86_64-linux-musl/libc.so"), *sorted(fixtures.glob("*/*/musl/libc.so"))]
    exes = sorted(Path("/usr/bin").iterdir()) if Path("/usr/bin").is_dir() else []
    dynload = Path(sys.base_prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    modules = sorted((dynload / "lib-dynload").glob("*.so"))
    if site is not None and not quick:
        modules += sorted(site.glob("*/**/*.so"))
    return {
        "libc.so.6": _first_elf(libc6, per),
        "musl loaders": _first_elf(musl, per),
        "executables": _first_elf(exes, per),
        "extension modules": _first_elf(modules, per),
    }


# -- targets and output ---------------------------------------------------------------------------


def _status(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def targets(cold: dict[str, Any]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for where in ("host", "musl"):
        data = cold.get(f"fresh_{where}") or {}
        name = (
            f"1. fresh process ({where}): libcprobe <= {TARGET_FRESH:g}x packaging over bare "
            f"python (stretch {STRETCH_FRESH:g})"
        )
        ratio = data.get("ratio")
        if ratio is None:
            out.append(_target(name, "SKIP", "-", str(data.get("skipped", "no data"))))
            continue
        status = _status(ratio <= TARGET_FRESH)
        stretch = "stretch met" if ratio <= STRETCH_FRESH else "stretch not met"
        if "libcprobe_over_bare" in data:
            mine, theirs = data["libcprobe_over_bare"] / 1e6, data["packaging_over_bare"] / 1e6
            detail = f"+{mine:.1f} M vs +{theirs:.1f} M instructions"
        else:
            mine, theirs = data["libcprobe_over_bare_ms"], data["packaging_over_bare_ms"]
            detail = f"+{mine:.2f} ms vs +{theirs:.2f} ms"
        out.append(_target(name, status, f"{ratio:.3f}x", f"{detail} ({data['how']}); {stretch}"))
    loop = cold.get("loop_host") or {}
    clock_host = clock_ratio(cold.get("clock_host") or {})
    family = cold.get("host_family")
    name = f"2. in-process cold ({family} host): <= {TARGET_COLD_GLIBC:g}x packaging"
    if family == "glibc" and loop.get("ratio"):
        mine, theirs = loop["libcprobe"] / 1e3, loop["packaging"] / 1e3
        detail = f"{mine:.0f} k vs {theirs:.0f} k instructions per call"
        if clock_host:
            detail += f"; by the clock {clock_host:.2f}x"
        out.append(
            _target(
                name, _status(loop["ratio"] <= TARGET_COLD_GLIBC), f"{loop['ratio']:.2f}x", detail
            )
        )
    elif family == "glibc" and clock_host:
        out.append(
            _target(
                name, _status(clock_host <= TARGET_COLD_GLIBC), f"{clock_host:.2f}x", "by the clock"
            )
        )
    else:
        out.append(_target(name, "SKIP", "-", f"host family {family}"))
    musl = cold.get("clock_musl") or {}
    ratio = clock_ratio(musl)
    name = f"2. in-process cold (musl CPython): <= 1/{1 / TARGET_COLD_MUSL:.0f} of packaging"
    if ratio is None:
        out.append(_target(name, "SKIP", "-", str(musl.get("skipped", "no data"))))
    else:
        res = musl["results"]
        out.append(
            _target(
                name,
                _status(ratio <= TARGET_COLD_MUSL),
                f"{ratio:.3f}x",
                f"{res['libcprobe.detect().platform_tags()']['median_ms']:.3f} ms vs "
                f"{res['packaging list(tags.platform_tags())']['median_ms']:.3f} ms, interleaved "
                "medians (packaging runs the loader)",
            )
        )
    mix = cold.get("inspect_mix") or {}
    mine = (mix.get("all") or {}).get("libcprobe")
    theirs = (mix.get("all") or {}).get("pyelftools")
    name = (
        f"4. inspect >= {TARGET_INSPECT_MIX:g}x pyelftools on a mix of libc.so.6, musl loaders, "
        "executables, extension modules"
    )
    if mine and theirs:
        ratio = mine / theirs
        out.append(
            _target(
                name,
                _status(ratio >= TARGET_INSPECT_MIX),
                f"{ratio:.1f}x",
                f"{mine:.0f} vs {theirs:.0f} files/s over {mix['all']['files']} files",
            )
        )
    else:
        out.append(_target(name, "SKIP", "-", "no data"))
    return out


def _target(name: str, status: str, value: str, detail: str) -> dict[str, str]:
    return {"target": name, "status": status, "value": value, "detail": detail}


def report_rows(cold: dict[str, Any]) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Tables for run.py's report: {title: (header, rows)}."""
    tables: dict[str, tuple[list[str], list[list[str]]]] = {}
    rows = []
    for where in ("host", "musl"):
        data = cold.get(f"fresh_{where}") or {}
        counts = data.get("instructions")
        if counts:
            rows.append(
                [where, data["python"]]
                + [f"{counts[k] / 1e6:.1f} M" if counts[k] else "-" for k in FRESH]
                + [f"{data.get('ratio', 0):.3f}x"]
            )
    if rows:
        tables["cold start: a fresh process, instructions (callgrind)"] = (
            [
                "where",
                "python",
                "bare python",
                "libcprobe",
                "packaging",
                "libcprobe/packaging over bare",
            ],
            rows,
        )
    rows = []
    loop = cold.get("loop_host") or {}
    if loop.get("ratio"):
        rows.append(
            [
                "host, instructions per call",
                f"{loop['libcprobe'] / 1e3:.0f} k",
                f"{loop['packaging'] / 1e3:.0f} k",
                f"{loop['ratio']:.2f}x",
            ]
        )
    for where in ("host", "musl"):
        res = (cold.get(f"clock_{where}") or {}).get("results")
        if res:
            a = res["libcprobe.detect().platform_tags()"]["median_ms"]
            b = res["packaging list(tags.platform_tags())"]["median_ms"]
            rows.append(
                [
                    f"{where}, ms per call (interleaved medians)",
                    f"{a:.3f}",
                    f"{b:.3f}",
                    f"{a / b:.2f}x",
                ]
            )
    if rows:
        tables[
            "cold, in-process: detect().platform_tags() vs packaging's list(platform_tags())"
        ] = (
            ["measure", "libcprobe", "packaging", "ratio"],
            rows,
        )
    mix = cold.get("inspect_mix") or {}
    rows = [
        [
            kind,
            str(d["files"]),
            f"{d['libcprobe']:.0f}",
            f"{d['pyelftools']:.0f}",
            f"{d['libcprobe'] / d['pyelftools']:.1f}x",
            str(d.get("facts_differ")),
        ]
        for kind, d in mix.items()
        if isinstance(d, dict) and d.get("libcprobe") and d.get("pyelftools")
    ]
    if rows:
        tables["4. inspect on a mix of real files (files/s, interleaved passes)"] = (
            ["files", "count", "libcprobe", "pyelftools", "faster by", "facts differ"],
            rows,
        )
    return tables
