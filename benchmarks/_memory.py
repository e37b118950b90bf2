"""Section 4: the peak memory of ``libcprobe.inspect()`` on sparse files of 64 KiB to 4 GiB, in
a fresh process per file: flat in the file's size, within the per-file read cap."""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
from pathlib import Path
from typing import Any, Optional

from _common import GIB, KIB, MIB, get, is_elf, print_table, probe, system_so_files, target

#: libcprobe's documented cap on bytes read per file (libcprobe.MAX_BYTES_PER_FILE).
READ_CAP = 16 * MIB


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


def report(results: dict[str, Any]) -> None:
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


def targets(results: dict[str, Any]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
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
