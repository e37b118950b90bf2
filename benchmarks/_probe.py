"""Measurements that must run inside one interpreter: the child half of ``run.py``.

``run.py`` runs this file as a script, under the host interpreter or under another one (the
musl CPython of ``e2e/build``), with ``libcprobe``, ``packaging`` and, when present,
``pyelftools`` importable. It prints one JSON object on stdout. Standard library only besides
those three; Python 3.9 syntax.

Subcommands:

- ``inprocess ITER BUDGET``: cold ``libcprobe.detect()`` (its cache cleared before each call)
  next to packaging's glibc and musl detection, ``platform.libc_ver()`` and a pyelftools
  reading of ``PT_INTERP`` of ``sys.executable``.
- ``muslver LOADER ITER BUDGET [MUSL_PYTHON]``: the musl version read from the loader's bytes
  vs running the loader (as packaging does), the two interleaved call by call.
- ``cold ITER BUDGET``: cold ``libcprobe.detect().platform_tags()`` and packaging's
  ``list(tags.platform_tags())`` (caches cleared), interleaved call by call.
- ``loop WHICH COUNT``: ``COUNT`` cold calls of one of those two (``libcprobe`` or
  ``packaging``), for counting instructions under callgrind.
- ``inspect LISTFILE PASSES``: files/second for ``libcprobe.inspect`` and for pyelftools
  reading the same facts, over the files named in LISTFILE (one per line).
- ``memory PATH``: peak memory of ``libcprobe.inspect(PATH)``: ``ru_maxrss``, and the peak
  RSS (``VmHWM``, reset just before the call) over the RSS before it.
"""

from __future__ import annotations

import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Optional

Facts = tuple[Optional[str], tuple[str, ...], Optional[str], Optional[str]]


def measure(
    fn: Callable[[], object],
    setup: Optional[Callable[[], None]] = None,
    iterations: int = 100,
    budget: float = 2.0,
) -> dict[str, Any]:
    """Time ``fn`` call by call (``setup`` before each call, not timed): median and min in ms.

    Stops after ``iterations`` calls or once ``budget`` seconds were spent (at least 3 calls).
    """
    value: object = None
    if setup is not None:
        setup()
    try:
        value = fn()  # warm-up: lazy imports, page cache
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    times: list[float] = []
    spent_from = time.perf_counter()
    while len(times) < iterations:
        if setup is not None:
            setup()
        start = time.perf_counter_ns()
        fn()
        times.append((time.perf_counter_ns() - start) / 1e6)
        if len(times) >= 3 and time.perf_counter() - spent_from > budget:
            break
    return {
        "median_ms": statistics.median(times),
        "min_ms": min(times),
        "n": len(times),
        "value": repr(value)[:200],
    }


def measure_interleaved(
    calls: dict[str, tuple[Callable[[], object], Optional[Callable[[], None]]]],
    iterations: int = 100,
    budget: float = 2.0,
) -> dict[str, Any]:
    """Like :func:`measure` for several calls at once, taking turns call by call, so a change
    in the machine's load hits each alike: ``{name: {median_ms, min_ms, n, value}}``."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    values: dict[str, object] = {}
    for name, (fn, setup) in calls.items():  # warm-up: lazy imports, page cache
        if setup is not None:
            setup()
        try:
            values[name] = fn()
        except Exception as exc:
            return {name: {"error": f"{type(exc).__name__}: {exc}"}}
    spent_from = time.perf_counter()
    for i in range(iterations):
        for name, (fn, setup) in calls.items():
            if setup is not None:
                setup()
            start = time.perf_counter_ns()
            fn()
            times[name].append((time.perf_counter_ns() - start) / 1e6)
        if i >= 2 and time.perf_counter() - spent_from > budget:
            break
    return {
        name: {
            "median_ms": statistics.median(t),
            "min_ms": min(t),
            "n": len(t),
            "value": repr(values[name])[:200],
        }
        for name, t in times.items()
    }


def _cold_calls() -> dict[str, tuple[Callable[[], object], Optional[Callable[[], None]]]]:
    """The two cold calls target 2 compares: each library's platform tags, caches cleared."""
    import packaging.tags
    from packaging import _manylinux, _musllinux

    import libcprobe

    def clear_packaging() -> None:
        _manylinux._get_glibc_version.cache_clear()
        _musllinux._get_musl_version.cache_clear()
        cached = getattr(_manylinux, "_get_manylinux_module", None)
        if cached is not None and hasattr(cached, "cache_clear"):
            cached.cache_clear()

    return {
        "libcprobe.detect().platform_tags()": (
            lambda: libcprobe.detect().platform_tags(),
            libcprobe.clear_cache,
        ),
        "packaging list(tags.platform_tags())": (
            lambda: list(packaging.tags.platform_tags()),
            clear_packaging,
        ),
    }


def cmd_cold(iterations: int, budget: float) -> dict[str, Any]:
    """Target 2 by the clock: the two cold calls, interleaved."""
    return {
        "python": sys.version.split()[0],
        "results": measure_interleaved(_cold_calls(), iterations, budget),
    }


def cmd_loop(which: str, count: int) -> dict[str, Any]:
    """Target 2 in instructions: import, one warm-up call, then ``count`` cold calls of one of
    :func:`_cold_calls` (run.py runs this under callgrind with two counts and takes the
    difference, so start-up, imports and the warm-up cancel out)."""
    calls = _cold_calls()
    name = next(n for n in calls if n.startswith(which))
    fn, setup = calls[name]
    for _ in range(count + 1):
        if setup is not None:
            setup()
        fn()
    return {"name": name, "count": count}


# -- in-process detection ------------------------------------------------------------------


def cmd_inprocess(iterations: int, budget: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "notes": [],
    }
    results: dict[str, Any] = {}
    out["results"] = results

    # First call in this fresh process: includes the lazy imports detect() needs.
    start = time.perf_counter_ns()
    import libcprobe

    out["import_libcprobe_ms"] = (time.perf_counter_ns() - start) / 1e6
    start = time.perf_counter_ns()
    info = libcprobe.detect()
    out["first_detect_ms"] = (time.perf_counter_ns() - start) / 1e6
    out["detected"] = {
        "family": str(info.family) if info.family is not None else None,
        "version": str(info.version) if info.version is not None else None,
        "library": info.library,
        "interpreter": info.interpreter,
    }
    start = time.perf_counter_ns()
    tags = info.platform_tags()
    out["first_platform_tags_ms"] = (time.perf_counter_ns() - start) / 1e6
    out["libcprobe_tags"] = tags[:6]

    results["libcprobe.detect()"] = measure(
        libcprobe.detect, libcprobe.clear_cache, iterations, budget
    )
    results["libcprobe.detect().platform_tags()"] = measure(
        lambda: libcprobe.detect().platform_tags(), libcprobe.clear_cache, iterations, budget
    )

    try:
        import packaging.tags
        from packaging import _manylinux, _musllinux
    except ImportError as exc:
        out["notes"].append(f"packaging not importable: {exc}")
    else:
        import packaging

        out["packaging_version"] = packaging.__version__

        def clear_packaging() -> None:
            _manylinux._get_glibc_version.cache_clear()
            _musllinux._get_musl_version.cache_clear()
            _manylinux._get_manylinux_module.cache_clear()

        results["packaging _manylinux._get_glibc_version()"] = measure(
            _manylinux._get_glibc_version,
            _manylinux._get_glibc_version.cache_clear,
            iterations,
            budget,
        )
        results["packaging _musllinux._get_musl_version(sys.executable)"] = measure(
            lambda: _musllinux._get_musl_version(sys.executable),
            _musllinux._get_musl_version.cache_clear,
            iterations,
            budget,
        )
        results["packaging list(tags.platform_tags())"] = measure(
            lambda: list(packaging.tags.platform_tags()), clear_packaging, iterations, budget
        )

    import platform

    results["platform.libc_ver()"] = measure(platform.libc_ver, None, iterations, budget)

    try:
        from elftools.elf.elffile import ELFFile
        from elftools.elf.segments import InterpSegment
    except ImportError as exc:
        out["notes"].append(f"pyelftools not importable: {exc}")
    else:

        def elftools_interp() -> Optional[str]:
            with open(sys.executable, "rb") as f:
                for segment in ELFFile(f).iter_segments():
                    if isinstance(segment, InterpSegment):
                        return str(segment.get_interp_name())
            return None

        results["pyelftools PT_INTERP of sys.executable"] = measure(
            elftools_interp, None, iterations, budget
        )
    return out


# -- the musl version: bytes vs executing --------------------------------------------------

_VERSION_LINE = re.compile(rb"^Version (\S+)$", re.MULTILINE)


def run_loader(loader: str) -> Optional[str]:
    """What packaging does: run the loader, read "Version x.y.z" from its stderr."""
    proc = subprocess.run(
        [loader], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    match = _VERSION_LINE.search(proc.stderr)
    return match.group(1).decode() if match else None


def cmd_muslver(
    loader: str, iterations: int, budget: float, musl_python: Optional[str]
) -> dict[str, Any]:
    from libcprobe._classify import classify
    from libcprobe._elf import open_elf
    from libcprobe._libc_strings import find_musl_version

    def from_bytes() -> Optional[str]:
        # As detect() reads a loader (a root's open_elf is lazy: no version tables, no notes).
        with open_elf(loader, lazy=True) as elf:
            found = classify(elf, scan=True).libc_version
        return str(found.version) if found is not None else None

    from libcprobe import _quick
    from libcprobe._elf import _open_regular

    with open_elf(loader) as elf:
        chunks = elf.readonly_data()
        abi = (elf.machine, elf.elf_class)

    def short_way() -> Optional[str]:
        # As detect() of a running musl process reads its loader (libcprobe._quick).
        fd, size = _open_regular(loader)
        try:
            found = _quick._loader(fd, size, abi)
        finally:
            os.close(fd)
        return str(found.version) if found is not None else None

    pair = measure_interleaved(
        {
            "libcprobe: open_elf + classify (bytes)": (from_bytes, None),
            "libcprobe: the short way (running process)": (short_way, None),
            "run the loader, parse stderr (subprocess)": (lambda: run_loader(loader), None),
        },
        iterations,
        budget,
    )
    results: dict[str, Any] = {
        **pair,
        "libcprobe: find_musl_version on read chunks": measure(
            lambda: find_musl_version(chunks), None, iterations, budget
        ),
    }
    if musl_python:
        try:
            from packaging import _musllinux
        except ImportError:
            pass
        else:
            results["packaging _get_musl_version(<musl python>)"] = measure(
                lambda: _musllinux._get_musl_version(musl_python),
                _musllinux._get_musl_version.cache_clear,
                iterations,
                budget,
            )
    return {"loader": loader, "results": results}


# -- inspect over many files ---------------------------------------------------------------

_libcprobe_inspect: Callable[[str], Any]


def libcprobe_facts(path: str) -> Facts:
    report = _libcprobe_inspect(path)
    return (report.interpreter, report.needed, report.soname, report.glibc_requires)


def elftools_facts(path: str) -> Facts:
    """The same four facts with pyelftools, the usual way: segments for PT_INTERP and the
    dynamic entries, the ``.gnu.version_r`` section for the version needs."""
    from elftools.elf.dynamic import DynamicSegment  # dict lookups after the first call
    from elftools.elf.elffile import ELFFile
    from elftools.elf.gnuversions import GNUVerNeedSection
    from elftools.elf.segments import InterpSegment

    interp: Optional[str] = None
    needed: list[str] = []
    soname: Optional[str] = None
    best: Optional[tuple[int, ...]] = None
    with open(path, "rb") as f:
        elf = ELFFile(f)
        for segment in elf.iter_segments():
            if isinstance(segment, InterpSegment):
                interp = str(segment.get_interp_name())
            elif isinstance(segment, DynamicSegment):
                for tag in segment.iter_tags():
                    entry: Any = tag  # pyelftools sets .needed / .soname per tag
                    if entry.entry.d_tag == "DT_NEEDED":
                        needed.append(str(entry.needed))
                    elif entry.entry.d_tag == "DT_SONAME" and soname is None:
                        soname = str(entry.soname)
        for section in elf.iter_sections():
            if isinstance(section, GNUVerNeedSection):
                for _verneed, auxiliaries in section.iter_versions():
                    for aux in auxiliaries:
                        name = str(aux.name)
                        if not name.startswith("GLIBC_"):
                            continue
                        parts = name[6:].split(".")
                        if 2 <= len(parts) <= 3 and all(p.isdigit() for p in parts):
                            version = tuple(int(p) for p in parts)
                            if best is None or version > best:
                                best = version
    requires = ".".join(map(str, best)) if best is not None else None
    return (interp, tuple(needed), soname, requires)


def cmd_inspect(listfile: str, passes: int) -> dict[str, Any]:
    with open(listfile, encoding="utf-8") as f:
        files = [line for line in f.read().splitlines() if line]
    out: dict[str, Any] = {"files": len(files), "notes": []}
    global _libcprobe_inspect
    import libcprobe

    _libcprobe_inspect = libcprobe.inspect
    readers: dict[str, Callable[[str], Facts]] = {"libcprobe.inspect": libcprobe_facts}
    try:
        import elftools.elf.elffile  # noqa: F401
    except ImportError as exc:
        out["notes"].append(f"pyelftools not importable: {exc}")
    else:
        readers["pyelftools (same facts)"] = elftools_facts
    facts: dict[str, list[Any]] = {}
    pass_times: dict[str, list[float]] = {name: [] for name in readers}
    # Pass 0 warms up the page cache and the imports; the readers take turns in every pass,
    # so a change in the machine's load hits both alike.
    for i in range(passes + 1):
        for name, reader in readers.items():
            got: list[Any] = []
            start = time.perf_counter()
            for path in files:
                try:
                    got.append(reader(path))
                except Exception as exc:
                    got.append(f"error: {type(exc).__name__}: {exc}")
            elapsed = time.perf_counter() - start
            if i:
                pass_times[name].append(elapsed)
            facts[name] = got
    results: dict[str, Any] = {}
    for name, times in pass_times.items():
        best = statistics.median(times)
        results[name] = {
            "seconds_per_pass": best,
            "files_per_second": len(files) / best if best else None,
            "passes": passes,
            "errors": sum(1 for x in facts[name] if isinstance(x, str)),
        }
    out["results"] = results
    if len(facts) == 2:
        a, b = facts.values()
        differ = [files[i] for i, (x, y) in enumerate(zip(a, b)) if x != y]
        out["facts_differ"] = len(differ)
        out["facts_differ_examples"] = [
            {"path": p, "libcprobe": repr(a[files.index(p)]), "pyelftools": repr(b[files.index(p)])}
            for p in differ[:3]
        ]
    return out


# -- memory ---------------------------------------------------------------------------------


def proc_status_kib(field: str) -> Optional[int]:
    """A ``VmRSS``/``VmHWM`` line of /proc/self/status, in KiB."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: ``echo 5 > /proc/self/clear_refs``)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        return False
    return True


def cmd_memory(path: str) -> dict[str, Any]:
    # ru_maxrss alone misleads here: after fork + exec it starts at the parent's peak (the
    # kernel carries the old mm's high-water mark into the signal struct at exec), and it
    # never goes down. So also: the current RSS before, and the peak RSS (VmHWM) reset just
    # before inspect() and read just after it.
    import libcprobe

    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss_before = proc_status_kib("VmRSS")
    reset = reset_peak_rss()
    report = libcprobe.inspect(path)
    peak = proc_status_kib("VmHWM") if reset else None
    maxrss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    growth = peak - rss_before if peak is not None and rss_before is not None else None
    return {
        "path": path,
        "size": os.path.getsize(path),
        "maxrss_before_kib": maxrss_before,
        "maxrss_after_kib": maxrss_after,
        "rss_before_kib": rss_before,
        "peak_rss_during_kib": peak,
        "growth_kib": growth if growth is not None else maxrss_after - maxrss_before,
        "growth_from": "VmHWM - VmRSS" if growth is not None else "ru_maxrss",
        "error": report.error,
        "family": report.family,
        "linkage": report.linkage,
    }


def main(argv: list[str]) -> int:
    command, args = argv[0], argv[1:]
    result: dict[str, Any]
    if command == "inprocess":
        result = cmd_inprocess(int(args[0]), float(args[1]))
    elif command == "muslver":
        result = cmd_muslver(
            args[0], int(args[1]), float(args[2]), args[3] if len(args) > 3 else None
        )
    elif command == "cold":
        result = cmd_cold(int(args[0]), float(args[1]))
    elif command == "loop":
        result = cmd_loop(args[0], int(args[1]))
    elif command == "inspect":
        result = cmd_inspect(args[0], int(args[1]))
    elif command == "memory":
        result = cmd_memory(args[0])
    else:
        print(f"unknown command {command!r}", file=sys.stderr)
        return 2
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
