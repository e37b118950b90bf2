"""What every part of ``run.py`` shares: where things are, the iteration counts of a mode,
staging a byte-compiled copy of what the child processes import, running ``_probe.py`` in a
child, reading nested results, and the report's table helpers."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SRC = REPO / "src"
PROBE = HERE / "_probe.py"
CACHE = Path(os.environ.get("LIBCPROBE_BENCH_CACHE", "~/.cache/libcprobe-bench")).expanduser()
E2E_DIR = Path(os.environ.get("E2E_DIR", "~/.cache/libcprobe-e2e")).expanduser()
MUSL_LOADER = "/lib/ld-musl-x86_64.so.1"
SYSTEM_LIB_DIR = Path("/usr/lib/x86_64-linux-gnu")
KIB, MIB, GIB = 1024, 1024 * 1024, 1024 * 1024 * 1024


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


def musl_python() -> Optional[Path]:
    path = E2E_DIR / "dynamic" / "bin" / "python3"
    return path if os.access(path, os.X_OK) and os.path.exists(MUSL_LOADER) else None


# -- files on this system -------------------------------------------------------------------


def is_elf(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


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


# -- results and output ---------------------------------------------------------------------


def get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def target(name: str, status: str, value: str, detail: str = "") -> dict[str, str]:
    return {"target": name, "status": status, "value": value, "detail": detail}


def ratio_target(
    name: str, ratio: Optional[float], goal: float, shown: str, detail: str, skipped: str
) -> dict[str, str]:
    """A target met when ``ratio`` is at least ``goal`` (``shown`` formats it); SKIP with
    ``skipped`` as its detail when there was nothing to measure (``ratio`` None)."""
    if ratio is None:
        return target(name, "SKIP", "-", skipped)
    return target(name, "PASS" if ratio >= goal else "FAIL", shown.format(ratio), detail)


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
