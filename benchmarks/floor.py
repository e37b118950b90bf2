"""A minimal pure-Python reference implementation of targets 2 (musl) and 3 of issue 16,
timed against the same peers: about what a reader spends when it does nothing else (a
reference point, not a proven lower bound).

    .venv/bin/python benchmarks/floor.py          # both (the second needs the musl CPython)
    .venv/bin/python benchmarks/floor.py --json

The *floor* functions here do what an answer needs (the program's name, a regular-file check,
the headers, the read-only data near the usage text), with nothing else: no kernel
checks, no evidence, no error handling, no bounds, the layout of one file taken for granted
(they are measuring sticks, not readers: they are right only for the files measured here).

1. The musl version of ``/lib/ld-musl-x86_64.so.1`` by the rule libcprobe uses (the
   version-shaped string nearest to the ``musl libc`` usage text): open, fstat, the ELF header
   and program headers, 16 KiB from the end of the last read-only data segment, the marker,
   then dots outward from it. Against running the loader, interleaved call by call. Beside it,
   *syscalls only*: the same open, fstat, three reads and close with nothing between them,
   the part no reader of these bytes can avoid. And libcprobe's two readings: ``open_elf`` +
   ``classify``, and the short way ``detect()`` takes for a running musl process (``_quick``'s
   read of its loader).
2. In the dynamic musl CPython (``e2e/build``): ``readlink`` and a read of ``/proc/self/exe``'s
   ``PT_INTERP``, the floor of 1 on that loader, and the musllinux tags as strings; once as is
   and once after reading ``/proc/self/maps`` whole. Against packaging's
   ``list(platform_tags())`` and libcprobe's ``detect().platform_tags()`` (caches cleared),
   interleaved call by call.
3. The same two calls of 2 (libcprobe's and packaging's) with each call preceded by the same
   thing: the other library's call (as in 2), a 16 MiB cache scrub, a run of ``/bin/true``, a
   1 ms sleep, or a call of its own. Each ratio is one precondition, both sides under it: the
   time a call takes depends on what ran just before it, and a verdict should not.

The ratios to compare with are the targets': 10x faster than running the loader, and 1/3 of
packaging's time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

HERE = Path(__file__).resolve().parent
LOADER = "/lib/ld-musl-x86_64.so.1"
DIGITS = frozenset(b"0123456789")
PT_LOAD, PT_INTERP = 1, 3
CALLS = 400


def _version_at(data: bytes, dot: int) -> Optional[tuple[int, int]]:
    """(first, nul) of "<major>.<minor>.<patch>\\0" whose first dot is at ``dot``."""
    nul = data.find(0, dot + 1, dot + 80)
    if nul < 0:
        return None
    minor, dot2, patch = data[dot + 1 : nul].partition(b".")
    if not (dot2 and minor.isdigit() and patch.isdigit()):
        return None
    first = dot
    while first > 0 and data[first - 1] in DIGITS:
        first -= 1
    return first, nul


def _nearest(piece: bytes, marker: int) -> Optional[tuple[int, int]]:
    """The version nearest to ``marker`` in ``piece``: up to the first, then down as far."""
    above = None
    up = piece.find(b".", marker)
    while up >= 0 and above is None:
        if piece[up + 1] in DIGITS and piece[up - 1] in DIGITS:
            above = _version_at(piece, up)
        up = piece.find(b".", up + 1)
    below = None
    down = piece.rfind(b".", 0, marker)
    while down >= 0 and below is None and (above is None or marker - down < above[0] - marker):
        if piece[down + 1] in DIGITS and piece[down - 1] in DIGITS:
            below = _version_at(piece, down)
        down = piece.rfind(b".", 0, down)
    if below is None or (above is not None and above[0] - marker < marker - below[0]):
        return above
    return below


def _table(fd: int) -> tuple[int, int]:
    """(offset, size) of the program header table of a little-endian ELF64 file."""
    os.fstat(fd)
    head = os.pread(fd, 64, 0)
    (phoff,) = struct.unpack_from("<Q", head, 32)
    (phnum,) = struct.unpack_from("<H", head, 56)
    return phoff, phnum * 56


def _segments(fd: int) -> list[tuple[int, int, int, int]]:
    """(type, flags, offset, filesz) of each program header of a little-endian ELF64 file."""
    phoff, size = _table(fd)
    table = os.pread(fd, size, phoff)
    return [(t, f, o, s) for t, f, o, _v, _p, s, _m, _a in struct.iter_unpack("<IIQQQQQQ", table)]


def _rodata_tail(segments: list[tuple[int, int, int, int]]) -> tuple[int, int]:
    """(offset, size) of the last 16 KiB of the last read-only data segment."""
    last = (0, 0)
    for p_type, flags, offset, filesz in segments:
        if p_type == PT_LOAD and flags == 4:  # PF_R only: .rodata's segment
            last = (offset, filesz)
    offset, size = last
    start = max(offset, offset + size - 16 * 1024)
    return start, offset + size - start


def musl_version_floor(path: str) -> Optional[str]:
    """Section 1's floor (a little-endian ELF64 libc.so whose version lies within the last
    16 KiB of its last read-only data segment)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        start, size = _rodata_tail(_segments(fd))
        piece = os.pread(fd, size, start)
        found = _nearest(piece, piece.rfind(b"musl libc"))
        return None if found is None else piece[found[0] : found[1]].decode()
    finally:
        os.close(fd)


def syscall_plan(path: str) -> list[tuple[int, int]]:
    """(size, offset) of each read :func:`musl_version_floor` makes of ``path``."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        phoff, table = _table(fd)
        start, size = _rodata_tail(_segments(fd))
        return [(64, 0), (table, phoff), (size, start)]
    finally:
        os.close(fd)


def syscalls_only(path: str, plan: list[tuple[int, int]]) -> None:
    """The system calls of :func:`musl_version_floor` (the reads of ``syscall_plan(path)``),
    with no Python work between them: what any reader of these bytes pays before it looks
    at one."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fstat(fd)
        for size, offset in plan:
            os.pread(fd, size, offset)
    finally:
        os.close(fd)


def interpreter_floor(path: str) -> Optional[str]:
    """``PT_INTERP`` of a little-endian ELF64 program."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        for p_type, _flags, offset, filesz in _segments(fd):
            if p_type == PT_INTERP:
                return os.pread(fd, filesz, offset).rstrip(b"\0").decode()
        return None
    finally:
        os.close(fd)


def read_maps() -> None:
    fd = os.open("/proc/self/maps", os.O_RDONLY | os.O_CLOEXEC)
    try:
        while os.read(fd, 16 * 1024):
            pass
    finally:
        os.close(fd)


def tags_floor(with_maps: bool = False) -> list[str]:
    """Section 2's floor: the running musl interpreter's tags."""
    os.readlink("/proc/self/exe")
    if with_maps:
        read_maps()
    loader = interpreter_floor("/proc/self/exe")
    version = musl_version_floor(loader) if loader else None
    if version is None:
        return []
    minor = int(version.split(".")[1])
    machine = os.uname().machine
    return [f"linux_{machine}"] + [f"musllinux_1_{m}_{machine}" for m in range(minor, -1, -1)]


def run_loader() -> bytes:
    proc = subprocess.run(
        [LOADER], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    return proc.stderr


def interleaved(fns: dict[str, Callable[[], object]], calls: int = CALLS) -> dict[str, float]:
    """Median microseconds per call of each, the calls interleaved one by one."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(calls):
        for name, fn in fns.items():
            start = time.perf_counter_ns()
            fn()
            times[name].append((time.perf_counter_ns() - start) / 1e3)
    return {name: statistics.median(values) for name, values in times.items()}


def section_loader() -> dict[str, Any]:
    sys.path.insert(0, str(HERE.parent / "src"))
    from libcprobe._classify import classify
    from libcprobe._elf import _open_regular, open_elf
    from libcprobe._quick import _loader

    def libcprobe_version() -> Any:
        with open_elf(LOADER, lazy=True) as elf:
            return classify(elf, scan=True).libc_version

    def short_way() -> Any:  # what detect() of a running musl process reads of its loader
        fd, size = _open_regular(LOADER)
        try:
            return _loader(fd, size, (62, 64))  # EM_X86_64, ELFCLASS64
        finally:
            os.close(fd)

    found, quick = libcprobe_version(), short_way()
    assert found is not None and musl_version_floor(LOADER) == found.text
    assert quick is not None and quick.text == found.text
    plan = syscall_plan(LOADER)
    us = interleaved(
        {
            "syscalls only": lambda: syscalls_only(LOADER, plan),
            "floor": lambda: musl_version_floor(LOADER),
            "libcprobe": libcprobe_version,
            "libcprobe, the short way": short_way,
            "run": run_loader,
        }
    )
    return {
        "us": us,
        "syscalls_only_x": us["run"] / us["syscalls only"],
        "floor_x": us["run"] / us["floor"],
        "libcprobe_x": us["run"] / us["libcprobe"],
        "libcprobe_short_way_x": us["run"] / us["libcprobe, the short way"],
    }


#: A buffer larger than the last-level cache of these machines, touched a line at a time.
_SCRUB = bytearray(16 * 1024 * 1024)


def _scrub() -> None:
    _SCRUB[::64] = bytes(len(_SCRUB) // 64)


def _run_true() -> None:
    subprocess.run(["/bin/true"], check=False)


def _sleep() -> None:
    time.sleep(0.001)


#: What runs before each timed call in :func:`by_position` (None: the calls simply alternate,
#: so each follows the other library's; "itself": the same call once more, untimed).
PRECONDITIONS: dict[str, Any] = {
    "after the other library's call": None,
    "after a 16 MiB cache scrub": _scrub,
    "after /bin/true": _run_true,
    "after a 1 ms sleep": _sleep,
    "after a call of its own": "itself",
}


def by_position(
    fns: dict[str, Callable[[], object]], calls: int = CALLS // 2
) -> dict[str, dict[str, float]]:
    """Median microseconds per call of each of ``fns`` under each of :data:`PRECONDITIONS`,
    all interleaved call by call."""
    times: dict[tuple[str, str], list[float]] = {(p, n): [] for p in PRECONDITIONS for n in fns}
    for _ in range(calls):
        for pre, how in PRECONDITIONS.items():
            for name, fn in fns.items():
                if how == "itself":
                    fn()
                elif how is not None:
                    how()
                start = time.perf_counter_ns()
                fn()
                times[(pre, name)].append((time.perf_counter_ns() - start) / 1e3)
    return {
        pre: {name: statistics.median(times[(pre, name)]) for name in fns} for pre in PRECONDITIONS
    }


def section_musl_cpython() -> dict[str, Any]:
    """Run in the musl CPython (with libcprobe and packaging on its path)."""
    from packaging import _manylinux, _musllinux, tags

    import libcprobe

    def packaging_tags() -> list[str]:
        _manylinux._get_glibc_version.cache_clear()
        _musllinux._get_musl_version.cache_clear()
        _manylinux._get_manylinux_module.cache_clear()
        return list(tags.platform_tags())

    def libcprobe_tags() -> list[str]:
        libcprobe.clear_cache()
        return libcprobe.detect().platform_tags()

    floor = tags_floor()
    assert floor and floor == libcprobe_tags()[: len(floor)]
    us = interleaved(
        {
            "floor": tags_floor,
            "floor + /proc/self/maps": lambda: tags_floor(with_maps=True),
            "libcprobe": libcprobe_tags,
            "packaging": packaging_tags,
        }
    )
    positions = by_position({"libcprobe": libcprobe_tags, "packaging": packaging_tags})
    return {
        "us": us,
        **{f"{k} / packaging": v / us["packaging"] for k, v in us.items()},
        "libcprobe / packaging by what runs before each call": {
            pre: t["libcprobe"] / t["packaging"] for pre, t in positions.items()
        },
        "us by what runs before each call": positions,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--in-musl", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.in_musl:
        print(json.dumps(section_musl_cpython()))
        return 0
    results: dict[str, Any] = {"loader": section_loader() if os.path.exists(LOADER) else None}
    results["musl_cpython"] = _in_musl_cpython()
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for section, data in results.items():
        print(f"## {section}")
        if data is None or "error" in data:
            print(f"skipped: {None if data is None else data['error']}")
            continue
        for key, value in data.items():
            print(f"- {key}: {_rounded(value)}")
    return 0


def _rounded(value: Any) -> Any:
    """``value`` (a number, or dicts of them) to three decimals, for the report."""
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return round(value, 3)


def _in_musl_cpython() -> Optional[dict[str, Any]]:
    sys.path.insert(0, str(HERE))
    from _common import child_env, musl_python, run_json, stage

    python = musl_python()
    if python is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        site = stage(str(python), Path(tmp) / "site", HERE.parent / "src")
        return run_json([str(python), __file__, "--in-musl"], child_env(site))


if __name__ == "__main__":
    sys.exit(main())
