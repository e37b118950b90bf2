"""Section 3: ``libcprobe.inspect`` against pyelftools reading the same facts and against one
``readelf`` process per file, over the ELF files of numpy + scipy (installed once into a venv
of their own), or the system libraries."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

from _common import (
    CACHE,
    MIB,
    SYSTEM_LIB_DIR,
    Settings,
    get,
    is_elf,
    log,
    print_table,
    probe,
    ratio_target,
    ratio_text,
    system_so_files,
)

INSPECT_PACKAGES = ("numpy", "scipy")
TARGET_INSPECT_RATIO = 10.0


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


def report(results: dict[str, Any]) -> None:
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


def targets(results: dict[str, Any]) -> list[dict[str, str]]:
    ins = get(results, "inspect", "results")
    mine = get(ins, "libcprobe.inspect", "files_per_second")
    theirs = get(ins, "pyelftools (same facts)", "files_per_second")
    name = f"inspect >= {TARGET_INSPECT_RATIO:g}x the files/s of pyelftools (section 3's files)"
    files = get(results, "inspect", "files")
    detail = f"{mine or 0:.0f} vs {theirs or 0:.0f} files/s over {files} files"
    ratio = mine / theirs if mine and theirs else None
    return [ratio_target(name, ratio, TARGET_INSPECT_RATIO, "{:.1f}x", detail, "no inspect data")]
