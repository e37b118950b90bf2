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
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import _callgrind
import _cold

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SRC = REPO / "src"
PROBE = HERE / "_probe.py"
CACHE = Path(os.environ.get("LIBCPROBE_BENCH_CACHE", "~/.cache/libcprobe-bench")).expanduser()
E2E_DIR = Path(os.environ.get("E2E_DIR", "~/.cache/libcprobe-e2e")).expanduser()
MUSL_LOADER = "/lib/ld-musl-x86_64.so.1"
SYSTEM_LIB_DIR = Path("/usr/lib/x86_64-linux-gnu")
INSPECT_PACKAGES = ("numpy", "scipy")
FORBIDDEN_AFTER_DETECT = (
    "libcprobe._cli",
    "libcprobe._inspect",
    "argparse",
    "json",
    "subprocess",
    "ctypes",
    "zipfile",
    "enum",
    "re",
    "typing",
    "collections",
    "contextlib",
    "threading",
    "fnmatch",
)
KIB, MIB, GIB = 1024, 1024 * 1024, 1024 * 1024 * 1024
#: libcprobe's documented cap on bytes read per file (libcprobe.MAX_BYTES_PER_FILE).
READ_CAP = 16 * MIB

# Targets from the issue.
TARGET_IMPORT_MS = 3.0
TARGET_DETECT_GLIBC_MS = 0.5
TARGET_DETECT_MUSL_MS = 2.0
TARGET_MUSL_VERSION_RATIO = 10.0
TARGET_INSPECT_RATIO = 10.0


class Settings:
    """Iteration counts for one mode."""

    def __init__(self, quick: bool) -> None:
        self.quick = quick
        self.process_runs = 3 if quick else 40
        self.musl_process_runs = 3 if quick else 30
        self.importtime_runs = 3 if quick else 30
        self.fresh_runs = 2 if quick else 20
        self.iterations = 20 if quick else 2000
        self.budget = 0.2 if quick else 3.0
        self.inspect_passes = 1 if quick else 7
        self.inspect_files: Optional[int] = 20 if quick else None
        self.readelf_files: Optional[int] = 20 if quick else None


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def median(values: list[float]) -> Optional[float]:
    return statistics.median(values) if values else None


# -- staging: a byte-compiled copy of what the children import ---------------------------


def package_dir(name: str) -> Optional[Path]:
    """Where the interpreter running this script has a package, without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def stage(python: str, dest: Path, src: Path) -> Path:
    """Copy ``src``/libcprobe and the installed packaging and pyelftools into ``dest`` and
    byte-compile them with ``python``."""
    dest.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(src / "libcprobe", dest / "libcprobe", ignore=ignore)
    for name in ("packaging", "elftools"):
        found = package_dir(name)
        if found is not None:
            shutil.copytree(found, dest / name, ignore=ignore)
    subprocess.run(
        [python, "-m", "compileall", "-q", str(dest)],
        check=True,
        stdout=subprocess.DEVNULL,
        env=child_env(dest),
    )
    return dest


def child_env(pythonpath: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(pythonpath)
    for name in ("LIBCPROBE_LIBC", "PYTHONSTARTUP", "PYTHONPROFILEIMPORTTIME"):
        env.pop(name, None)
    return env


def run_json(argv: list[str], env: dict[str, str], timeout: float = 600) -> dict[str, Any]:
    proc = subprocess.run(argv, env=env, capture_output=True, timeout=timeout, text=True)
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}: {proc.stderr.strip()[-2000:]}"}
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def probe(python: str, env: dict[str, str], *args: str, timeout: float = 600) -> dict[str, Any]:
    return run_json([python, str(PROBE), *args], env, timeout)


# -- 1a. whole process ---------------------------------------------------------------------

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


# -- imports: -X importtime, what detect() loads, first calls in a fresh process ------------

_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)\s*$")

MODULES_CODE = """
import sys
base = set(sys.modules)
import libcprobe
after_import = set(sys.modules)
libcprobe.detect()
after_detect = set(sys.modules)
libcprobe.detect().platform_tags()
after_tags = set(sys.modules)
import json
print(json.dumps({
    "import": sorted(after_import - base),
    "detect": sorted(after_detect - base),
    "platform_tags": sorted(after_tags - base),
}))
"""

FRESH_CODE = {
    "libcprobe": (
        "import time; t0 = time.perf_counter(); import libcprobe; t1 = time.perf_counter(); "
        "libcprobe.detect(); t2 = time.perf_counter(); libcprobe.detect().platform_tags(); "
        "t3 = time.perf_counter(); print(t1 - t0, t2 - t1, t3 - t2)"
    ),
    "packaging": (
        "import time; t0 = time.perf_counter(); import packaging.tags; "
        "t1 = time.perf_counter(); list(packaging.tags.platform_tags()); "
        "t2 = time.perf_counter(); print(t1 - t0, t2 - t1, 0)"
    ),
    "pyelftools": (
        "import time; t0 = time.perf_counter(); import elftools.elf.elffile; "
        "t1 = time.perf_counter(); print(t1 - t0, 0, 0)"
    ),
}


def parse_importtime(text: str) -> list[tuple[int, int, int, str]]:
    """(self us, cumulative us, depth, module) for each ``-X importtime`` line."""
    rows = []
    for line in text.splitlines():
        match = _IMPORTTIME.match(line)
        if match is not None:
            depth = (len(match.group(3)) - 1) // 2
            rows.append((int(match.group(1)), int(match.group(2)), depth, match.group(4)))
    return rows


def importtime(python: str, env: dict[str, str], code: str) -> list[tuple[int, int, int, str]]:
    proc = subprocess.run(
        [python, "-X", "importtime", "-c", code],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    return parse_importtime(proc.stderr)


def bench_imports(python: str, env: dict[str, str], settings: Settings) -> dict[str, Any]:
    bare_modules = {row[3] for row in importtime(python, env, "pass")}
    cumulative: list[float] = []
    own_self: list[float] = []
    with_detect: list[float] = []
    children: dict[str, list[float]] = {}
    with_tags: dict[str, list[float]] = {}
    for _ in range(settings.importtime_runs + 1):
        rows = importtime(python, env, "import libcprobe")
        top = [r for r in rows if r[3] == "libcprobe" and r[2] == 0]
        if not top:
            continue
        cumulative.append(top[-1][1] / 1e3)
        own_self.append(sum(r[0] for r in rows if r[3].split(".")[0] == "libcprobe") / 1e3)
        # The direct children of the libcprobe row: the depth-1 rows printed before it.
        index = rows.index(top[-1])
        for r in reversed(rows[:index]):
            if r[2] == 0:
                break
            if r[2] == 1:
                children.setdefault(r[3], []).append(r[1] / 1e3)
        rows = importtime(python, env, "import libcprobe; libcprobe.detect()")
        with_detect.append(sum(r[1] for r in rows if r[2] == 0 and r[3] not in bare_modules) / 1e3)
        rows = importtime(python, env, "import libcprobe; libcprobe.detect().platform_tags()")
        for r in rows:
            if r[2] == 0 and r[3] not in bare_modules:
                with_tags.setdefault(r[3], []).append(r[1] / 1e3)
    # Drop the first (warm-up) sample of each series.
    cumulative, own_self, with_detect = cumulative[1:], own_self[1:], with_detect[1:]
    proc = subprocess.run(
        [python, "-c", MODULES_CODE],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    modules: dict[str, list[str]] = json.loads(proc.stdout)
    forbidden = [m for m in FORBIDDEN_AFTER_DETECT if m in modules["detect"]]

    fresh: dict[str, dict[str, Optional[float]]] = {}
    for name, code in FRESH_CODE.items():
        samples: list[list[float]] = []
        for _ in range(settings.fresh_runs):
            timed = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True)
            if timed.returncode == 0:
                samples.append([float(x) * 1e3 for x in timed.stdout.split()])
        fresh[name] = {
            "import_ms": median([s[0] for s in samples]),
            "first_call_ms": median([s[1] for s in samples]),
            "first_tags_ms": median([s[2] for s in samples]) if name == "libcprobe" else None,
            "runs": len(samples),
        }
    return {
        "importtime_libcprobe_cumulative_ms": median(cumulative),
        "importtime_libcprobe_own_self_ms": median(own_self),
        "importtime_import_and_detect_ms": median(with_detect),
        "importtime_children_ms": {k: median(v[1:] or v) for k, v in children.items()},
        # Top-level imports of `import libcprobe; libcprobe.detect().platform_tags()`, in the
        # order they happen: libcprobe's modules that load lazily, and what they pull in.
        "importtime_detect_tags_top_ms": {k: median(v[1:] or v) for k, v in with_tags.items()},
        "importtime_runs": len(cumulative),
        "modules_after_import": modules["import"],
        "modules_after_detect": modules["detect"],
        "modules_after_platform_tags": modules["platform_tags"],
        "forbidden_after_detect": forbidden,
        "fresh_process": fresh,
    }


# -- 1c. the musl interpreter ----------------------------------------------------------------


def musl_python() -> Optional[Path]:
    path = E2E_DIR / "dynamic" / "bin" / "python3"
    return path if os.access(path, os.X_OK) and os.path.exists(MUSL_LOADER) else None


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


# -- 3. inspect over many shared objects ------------------------------------------------------


def is_elf(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def elf_files(root: Path, limit: Optional[int] = None) -> list[str]:
    found: list[str] = []
    for directory, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(directory) / name
            if path.is_symlink() or not path.is_file():
                continue
            if is_elf(path):
                found.append(str(path))
                if limit is not None and len(found) >= limit:
                    return found
    return found


def system_so_files(limit: Optional[int], max_size: Optional[int] = None) -> list[str]:
    found: list[str] = []
    for path in sorted(SYSTEM_LIB_DIR.glob("*.so*")):
        if path.is_symlink() or not path.is_file() or not is_elf(path):
            continue
        if max_size is not None and path.stat().st_size > max_size:
            continue
        found.append(str(path))
        if limit is not None and len(found) >= limit:
            break
    return found


def bench_venv_site() -> tuple[Optional[Path], str]:
    """The site-packages of CACHE/venv with numpy and scipy installed (once)."""
    venv = CACHE / "venv"
    python = venv / "bin" / "python"
    check = "import numpy, scipy, sysconfig; print(sysconfig.get_paths()['purelib'])"
    if python.exists():
        proc = subprocess.run([str(python), "-c", check], capture_output=True, text=True)
        if proc.returncode == 0:
            return Path(proc.stdout.strip()), "cached"
    try:
        log(f"  creating {venv} and installing {' '.join(INSPECT_PACKAGES)} (once)")
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--only-binary=:all:",
                *INSPECT_PACKAGES,
            ],
            check=True,
            timeout=900,
        )
        proc = subprocess.run([str(python), "-c", check], capture_output=True, text=True)
        proc.check_returncode()
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"could not install {' '.join(INSPECT_PACKAGES)}: {exc}"
    return Path(proc.stdout.strip()), "installed"


def bench_readelf(files: list[str]) -> dict[str, Any]:
    readelf = shutil.which("readelf")
    if readelf is None:
        return {"skipped": "readelf not found"}
    for path in files[:3]:  # warm up
        subprocess.run([readelf, "-d", "-V", "-W", path], capture_output=True)
    start = time.perf_counter()
    for path in files:
        subprocess.run([readelf, "-d", "-V", "-W", path], capture_output=True)
    elapsed = time.perf_counter() - start
    return {
        "files": len(files),
        "seconds_per_pass": elapsed,
        "files_per_second": len(files) / elapsed if elapsed else None,
    }


def bench_inspect(
    python: str, env: dict[str, str], tmp: Path, settings: Settings, no_install: bool
) -> dict[str, Any]:
    notes: list[str] = []
    source: str
    if settings.quick or no_install:
        files = system_so_files(settings.inspect_files, MIB if settings.quick else None)
        source = f"{SYSTEM_LIB_DIR}/*.so*"
        notes.append(
            "quick mode: the first system libraries under 1 MiB"
            if settings.quick
            else "--no-install: the system libraries"
        )
    else:
        site, how = bench_venv_site()
        if site is not None:
            files = elf_files(site)
            source = f"{site} ({' + '.join(INSPECT_PACKAGES)}, {how})"
        else:
            notes.append(how + "; using the system libraries instead")
            files = system_so_files(None)
            source = f"{SYSTEM_LIB_DIR}/*.so*"
    if not files:
        return {"skipped": "no ELF files found", "notes": notes}
    listfile = tmp / "inspect-files.txt"
    listfile.write_text("\n".join(files) + "\n", encoding="utf-8")
    total = sum(os.path.getsize(p) for p in files)
    out = probe(python, env, "inspect", str(listfile), str(settings.inspect_passes))
    readelf_files = files if settings.readelf_files is None else files[: settings.readelf_files]
    out["readelf -d -V (one process per file)"] = bench_readelf(readelf_files)
    out["source"] = source
    out["total_bytes"] = total
    out["notes"] = notes + list(out.get("notes", []))
    return out


# -- 4. memory on very large (sparse) files ------------------------------------------------------


def sparse_ok(path: Path, size: int) -> bool:
    with open(path, "r+b") as f:
        f.truncate(size)
    st = os.stat(path)
    return st.st_size == size and st.st_blocks * 512 < 16 * MIB


def static_elf_header(size: int) -> bytes:
    """An ELF64 x86-64 ET_EXEC with one read-only PT_LOAD covering the whole file: no
    interpreter, no dynamic section, so classification scans its read-only data."""
    ehdr = struct.pack(
        "<16sHHIQQQIHHHHHH",
        b"\x7fELF\x02\x01\x01" + bytes(9),
        2,  # ET_EXEC
        62,  # EM_X86_64
        1,
        0x401000,
        64,  # e_phoff
        0,  # e_shoff
        0,
        64,
        56,
        1,  # e_phnum
        64,
        0,
        0,
    )
    phdr = struct.pack("<IIQQQQQQ", 1, 4, 0, 0x400000, 0, size, size, 0x1000)
    return ehdr + phdr


def real_so_head() -> Optional[tuple[str, bytes]]:
    for candidate in (
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        *system_so_files(1),
    ):
        if os.path.isfile(candidate) and is_elf(Path(candidate)):
            with open(candidate, "rb") as f:
                return os.path.realpath(candidate), f.read(64 * KIB)
    return None


def bench_memory(python: str, env: dict[str, str], tmp: Path) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="mem-", dir=tmp))
    sizes = {"64 KiB": 64 * KIB, "1 GiB": GIB, "4 GiB": 4 * GIB}
    probe_file = directory / "probe"
    probe_file.write_bytes(b"")
    notes: list[str] = []
    if not sparse_ok(probe_file, 4 * GIB):
        del sizes["4 GiB"]
        notes.append("this filesystem did not make a sparse 4 GiB file: 4 GiB skipped")
        if not sparse_ok(probe_file, GIB):
            return {"skipped": "this filesystem does not make sparse files"}
    probe_file.unlink()
    variants: dict[str, bytes] = {}
    head = real_so_head()
    if head is not None:
        variants[f"first 64 KiB of {head[0]}"] = head[1]
    rows: list[dict[str, Any]] = []
    for label, size in sizes.items():
        contents = dict(variants)
        contents["synthetic static ELF, one read-only segment over the whole file"] = (
            static_elf_header(size)
        )
        for variant, data in contents.items():
            path = directory / f"{len(rows)}.elf"
            with open(path, "wb") as f:
                f.write(data[:size])
                f.truncate(size)
            result = probe(python, env, "memory", str(path))
            path.unlink()
            result["variant"] = variant
            result["size_label"] = label
            rows.append(result)
    shutil.rmtree(directory, ignore_errors=True)
    verdicts: dict[str, Any] = {}
    for variant in sorted({r["variant"] for r in rows}):
        mine = [r for r in rows if r["variant"] == variant and "growth_kib" in r]
        if len(mine) < 2:
            continue
        growth = {r["size_label"]: r["growth_kib"] for r in mine}
        largest = mine[-1]["growth_kib"] * KIB
        from_1gib = (mine[-1]["growth_kib"] - mine[1]["growth_kib"]) * KIB
        verdicts[variant] = {
            "growth_kib": growth,
            "maxrss_kib": {r["size_label"]: r["maxrss_after_kib"] for r in mine},
            "growth_largest_bytes": largest,
            "growth_1gib_to_largest_bytes": from_1gib,
            "flat": largest <= READ_CAP + 4 * MIB and from_1gib <= 2 * MIB,
        }
    return {"runs": rows, "verdicts": verdicts, "notes": notes}


# -- cold start: the issue 16 targets (see _cold.py) ---------------------------------------------


def bench_cold(
    python: str,
    env: dict[str, str],
    tmp: Path,
    settings: Settings,
    results: dict[str, Any],
    site: Optional[Path],
) -> dict[str, Any]:
    out: dict[str, Any] = {"host_family": get(results, "in_process", "detected", "family")}
    musl = musl_python()
    musl_env = child_env(tmp / "musl-site") if musl is not None else None
    if _callgrind.available():
        clean = _callgrind.clean_venv(python, tmp / "clean-venv")
        log("  fresh processes under callgrind (host)")
        out["fresh_host"] = _cold.fresh_instructions(clean, env)
        if out["host_family"] == "glibc" and not settings.quick:  # quick: the clock only
            log("  cold calls under callgrind (host)")
            out["loop_host"] = _cold.loop_instructions(clean, env)
        if musl is not None and musl_env is not None:
            log("  fresh processes under callgrind (musl)")
            out["fresh_musl"] = _cold.fresh_instructions(str(musl), musl_env)
    else:
        out["fresh_host"] = _cold.fresh_from_clock(results.get("process", {}))
        if musl is not None:
            out["fresh_musl"] = _cold.fresh_from_clock(
                get(results, "musl_interpreter", "process") or {}
            )
    if musl is None:
        out["fresh_musl"] = out["clock_musl"] = {"skipped": "no musl interpreter"}
    log("  cold calls by the clock, interleaved")
    out["clock_host"] = probe(python, env, "cold", str(settings.iterations), str(settings.budget))
    if musl is not None and musl_env is not None:
        out["clock_musl"] = probe(
            str(musl), musl_env, "cold", str(settings.iterations), str(settings.budget)
        )
    log("  inspect on a mix of real files")
    mix: dict[str, Any] = {}
    kinds = _cold.inspect_mix(settings.quick, is_elf, site)
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
    out["inspect_mix"] = mix
    return out


# -- 2. the musl version ------------------------------------------------------------------------


def bench_musl_version(python: str, env: dict[str, str], settings: Settings) -> dict[str, Any]:
    if not os.path.exists(MUSL_LOADER):
        return {"skipped": f"{MUSL_LOADER} not found (apt-get install musl)"}
    args = ["muslver", MUSL_LOADER, str(settings.iterations), str(settings.budget)]
    musl = musl_python()
    if musl is not None:
        args.append(str(musl))
    return probe(python, env, *args)


# -- targets ---------------------------------------------------------------------------------


def get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def target(name: str, status: str, value: str, detail: str = "") -> dict[str, str]:
    return {"target": name, "status": status, "value": value, "detail": detail}


def evaluate(results: dict[str, Any]) -> list[dict[str, str]]:
    out = _cold.targets(results.get("cold", {}))
    imports = results.get("imports", {})
    value = imports.get("importtime_libcprobe_cumulative_ms")
    if value is None:
        out.append(target("import libcprobe <= 3 ms", "SKIP", "-", "no -X importtime data"))
    else:
        own = imports.get("importtime_libcprobe_own_self_ms")
        out.append(
            target(
                f"import libcprobe <= {TARGET_IMPORT_MS:g} ms",
                "PASS" if value <= TARGET_IMPORT_MS else "FAIL",
                f"{value:.2f} ms",
                f"-X importtime cumulative of 'libcprobe'; its own modules' self time {own:.2f} ms",
            )
        )
    forbidden = imports.get("forbidden_after_detect")
    if forbidden is not None:
        out.append(
            target(
                f"detect() imports none of {', '.join(FORBIDDEN_AFTER_DETECT)}",
                "FAIL" if forbidden else "PASS",
                ", ".join(forbidden) or "none of them",
            )
        )
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
    mv = get(results, "musl_version", "results")
    from_bytes = get(mv, "libcprobe: open_elf + classify (bytes)", "median_ms")
    executed = get(mv, "run the loader, parse stderr (subprocess)", "median_ms")
    name = f"musl version from bytes >= {TARGET_MUSL_VERSION_RATIO:g}x faster than running it"
    if from_bytes and executed:
        ratio = executed / from_bytes
        out.append(
            target(
                name,
                "PASS" if ratio >= TARGET_MUSL_VERSION_RATIO else "FAIL",
                f"{ratio:.2f}x",
                f"bytes {from_bytes:.3f} ms, running the loader {executed:.3f} ms",
            )
        )
    else:
        out.append(target(name, "SKIP", "-", str(get(results, "musl_version", "skipped"))))
    ins = get(results, "inspect", "results")
    mine = get(ins, "libcprobe.inspect", "files_per_second")
    theirs = get(ins, "pyelftools (same facts)", "files_per_second")
    name = f"inspect >= {TARGET_INSPECT_RATIO:g}x the files/s of pyelftools (section 3's files)"
    if mine and theirs:
        ratio = mine / theirs
        out.append(
            target(
                name,
                "PASS" if ratio >= TARGET_INSPECT_RATIO else "FAIL",
                f"{ratio:.1f}x",
                f"{mine:.0f} vs {theirs:.0f} files/s over {get(results, 'inspect', 'files')} files",
            )
        )
    else:
        out.append(target(name, "SKIP", "-", "no inspect data"))
    verdicts = get(results, "memory", "verdicts")
    if verdicts:
        flat = all(v["flat"] for v in verdicts.values())
        worst = max(v["growth_1gib_to_largest_bytes"] for v in verdicts.values())
        total = max(v["growth_largest_bytes"] for v in verdicts.values())
        out.append(
            target(
                "memory flat in file size",
                "PASS" if flat else "FAIL",
                f"{worst / MIB:+.1f} MiB from 1 GiB to the largest file",
                f"inspect() peaks at +{total / MIB:.1f} MiB over the RSS before it at most; "
                f"bound: the {READ_CAP // MIB} MiB read cap + 4 MiB, and +2 MiB from 1 GiB up",
            )
        )
    else:
        out.append(target("memory flat in file size", "SKIP", "-", "no memory data"))
    return out


# -- output ----------------------------------------------------------------------------------


def fmt_ms(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "-"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    print(f"\n## {title}\n")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |"
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |")


def ratio_text(value: Optional[float], reference: Optional[float]) -> str:
    if not value or not reference:
        return "-"
    return f"{value / reference:.2f}x"


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


def print_report(results: dict[str, Any]) -> None:
    meta = results["meta"]
    print(
        f"# libcprobe benchmarks ({'quick' if meta['quick'] else 'full'}): python "
        f"{meta['python']}, {meta['machine']}, {meta['cpus']} CPUs, load {meta['loadavg']}, "
        f"libcprobe at {meta['source']}"
    )
    imports = results["imports"]
    print_table(
        "import cost",
        ["measure", "ms"],
        [
            [
                "-X importtime: cumulative of 'libcprobe' (target)",
                fmt_ms(imports["importtime_libcprobe_cumulative_ms"]),
            ],
            [
                "-X importtime: self time of libcprobe's own modules",
                fmt_ms(imports["importtime_libcprobe_own_self_ms"]),
            ],
            [
                "-X importtime: everything 'import libcprobe; detect()' imports",
                fmt_ms(imports["importtime_import_and_detect_ms"]),
            ],
            *[
                [f"  of which {name} (cumulative)", fmt_ms(value)]
                for name, value in imports["importtime_children_ms"].items()
            ],
            [
                "-X importtime: 'import libcprobe; detect().platform_tags()' (*)",
                fmt_ms(sum(imports["importtime_detect_tags_top_ms"].values())),
            ],
            *[
                [f"  of which {name} (cumulative)", fmt_ms(value)]
                for name, value in imports["importtime_detect_tags_top_ms"].items()
            ],
        ],
    )
    print(
        "\n(*) without libcprobe._detect's own time: libcprobe.__getattr__ loads it with"
        " importlib.import_module, which -X importtime does not report; see the wall-clock"
        " first call below"
    )
    fresh = imports["fresh_process"]
    print_table(
        "a fresh process: import, then the first call (wall clock, median)",
        ["library", "import ms", "first call ms", "first platform_tags() ms"],
        [
            [
                name,
                fmt_ms(v["import_ms"]),
                fmt_ms(v["first_call_ms"]),
                fmt_ms(v["first_tags_ms"]),
            ]
            for name, v in fresh.items()
        ],
    )
    print(f"\nmodules 'import libcprobe' adds to bare python: {imports['modules_after_import']}")
    extra = sorted(set(imports["modules_after_detect"]) - set(imports["modules_after_import"]))
    print(f"more modules after detect(): {extra}")
    extra = sorted(
        set(imports["modules_after_platform_tags"]) - set(imports["modules_after_detect"])
    )
    print(f"more modules after .platform_tags(): {extra}")
    print(f"forbidden modules loaded by detect(): {imports['forbidden_after_detect'] or 'none'}")

    print_process("1a. whole process, this host", results["process"])
    print_in_process("1b. in-process, cold, this host", results["in_process"])
    musl = results.get("musl_interpreter", {})
    if "skipped" in musl:
        print(f"\n## 1c. musl interpreter\n\nskipped: {musl['skipped']}")
    else:
        print_process(f"1c. whole process, musl interpreter {musl['python']}", musl["process"])
        print_in_process("1c. in-process, cold, musl interpreter", musl["in_process"])

    mv = results["musl_version"]
    if "skipped" in mv or "error" in mv:
        print(f"\n## 2. musl version\n\nskipped: {mv.get('skipped') or mv.get('error')}")
    else:
        res = mv["results"]
        ref = get(res, "libcprobe: open_elf + classify (bytes)", "median_ms")
        print_table(
            f"2. musl version of {mv['loader']}",
            ["how", "median ms", "min ms", "time vs bytes", "result"],
            [
                [
                    name,
                    fmt_ms(r.get("median_ms")),
                    fmt_ms(r.get("min_ms")),
                    ratio_text(r.get("median_ms"), ref),
                    str(r.get("value", r.get("error")))[:40],
                ]
                for name, r in res.items()
            ],
        )

    ins = results["inspect"]
    if "skipped" in ins or "error" in ins:
        print(f"\n## 3. inspect\n\nskipped: {ins.get('skipped') or ins.get('error')}")
    else:
        rows = []
        ref = get(ins, "results", "libcprobe.inspect", "files_per_second")
        readelf = ins.get("readelf -d -V (one process per file)", {})
        entries = [*ins["results"].items(), ("readelf -d -V (one process per file)", readelf)]
        for name, r in entries:
            if "files_per_second" not in r:
                rows.append([name, "-", "-", r.get("skipped", "")])
                continue
            fps = r["files_per_second"]
            rows.append(
                [
                    name,
                    f"{fps:.0f}",
                    f"{r['seconds_per_pass'] * 1e3:.1f}",
                    ratio_text(ref, fps) if name != "libcprobe.inspect" else "1x",
                ]
            )
        print_table(
            f"3. inspect: {ins['files']} ELF files, {ins['total_bytes'] / MIB:.0f} MiB, from "
            f"{ins['source']}",
            ["reader", "files/s", "ms per pass", "libcprobe is faster by"],
            rows,
        )
        print(f"\nfacts that differ between libcprobe and pyelftools: {ins.get('facts_differ')}")
        for example in ins.get("facts_differ_examples", []):
            print(f"  {example}")
        for note in ins.get("notes", []):
            print(f"  note: {note}")

    mem = results["memory"]
    if "skipped" in mem:
        print(f"\n## 4. memory\n\nskipped: {mem['skipped']}")
    else:
        print_table(
            "4. peak memory of libcprobe.inspect() in a fresh process",
            [
                "file",
                "size",
                "ru_maxrss KiB before",
                "ru_maxrss KiB after",
                "RSS KiB before",
                "peak RSS KiB during",
                "inspect's growth KiB",
            ],
            [
                [
                    r.get("variant", "?"),
                    r.get("size_label", "?"),
                    str(r.get("maxrss_before_kib", "-")),
                    str(r.get("maxrss_after_kib", r.get("error", "-"))),
                    str(r.get("rss_before_kib", "-")),
                    str(r.get("peak_rss_during_kib", "-")),
                    str(r.get("growth_kib", "-")),
                ]
                for r in mem["runs"]
            ],
        )
        print(
            "\n(ru_maxrss of a child starts at its parent's peak after fork + exec and never goes"
            " down; the growth is the peak RSS (VmHWM, reset just before inspect()) minus the RSS"
            " before it)"
        )
        for note in mem.get("notes", []):
            print(f"  note: {note}")

    for title, (header, rows) in _cold.report_rows(results.get("cold", {})).items():
        print_table(title, header, rows)

    print_table(
        "targets",
        ["target", "result", "measured", "detail"],
        [[t["target"], t["status"], t["value"], t["detail"]] for t in results["targets"]],
    )


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
        log("imports")
        results["imports"] = bench_imports(python, env, settings)
        log("1a. whole process")
        results["process"] = bench_process(python, env, settings.process_runs)
        log("1b. in-process")
        results["in_process"] = probe(
            python, env, "inprocess", str(settings.iterations), str(settings.budget)
        )
        musl = musl_python()
        if musl is None:
            results["musl_interpreter"] = {
                "skipped": f"no musl interpreter at {E2E_DIR}/dynamic/bin/python3 "
                f"(build it with e2e/build) or no {MUSL_LOADER}"
            }
        else:
            log(f"1c. musl interpreter {musl}")
            results["musl_interpreter"] = bench_musl_interpreter(musl, tmp, settings, src)
        log("2. musl version")
        results["musl_version"] = bench_musl_version(python, env, settings)
        log("3. inspect")
        results["inspect"] = bench_inspect(python, env, tmp, settings, args.no_install)
        log("4. memory")
        results["memory"] = bench_memory(python, env, tmp)
        log("cold start (issue 16 targets)")
        site = None if settings.quick or args.no_install else bench_venv_site()[0]
        results["cold"] = bench_cold(python, env, tmp, settings, results, site)
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
