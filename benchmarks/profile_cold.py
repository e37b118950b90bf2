"""Where the instructions of a cold ``detect().platform_tags()`` go, phase by phase.

    .venv/bin/python benchmarks/profile_cold.py            # this host, and the musl CPython
    .venv/bin/python benchmarks/profile_cold.py --json     # one JSON object on stdout

Each phase is a piece of what one cold call does, run on its own in a child process under
``valgrind --tool=callgrind``: the count with ``COUNT`` repetitions minus the count with none,
divided by ``COUNT`` (start-up, imports and one warm-up call cancel out; ``PYTHONHASHSEED=0``).
The children import the same byte-compiled snapshot of ``src/libcprobe`` ``run.py`` stages.
User-space instructions of one process only: the kernel's share of a system call is not in
them. The phases overlap: ``detect()`` holds the file phases of its group, "open + classify"
holds the open above it; what ``detect()`` has beyond its file phases is evidence, the answer,
the cache and the calls between.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

MUSL_LIBC = "/usr/lib/x86_64-linux-musl/libc.so"
COUNT = 50

#: (group, phase, what it runs). The first phase of a group is its total.
PHASES: list[tuple[str, str, str]] = [
    ("glibc", "detect().platform_tags()", "tags_cold"),
    ("glibc", "detect()", "detect_cold"),
    ("glibc", "open /proc/self/exe (lazy)", "open_exe"),
    ("glibc", "open + classify(/proc/self/exe)", "classify_exe"),
    ("glibc", "os.confstr + version", "confstr"),
    ("glibc", "platform_tags() of a LibcInfo", "tags"),
    ("glibc", "of which: the failed import _manylinux", "manylinux_module"),
    ("glibc", "packaging: list(platform_tags())", "packaging"),
    ("musl", "detect().platform_tags()", "tags_cold"),
    ("musl", "detect()", "detect_cold"),
    ("musl", "the short way (_quick.quick_musl)", "quick"),
    ("musl", "of which: /proc/self/exe opened, its headers, dynamic section, names", "quick_exe"),
    ("musl", "of which: libc.so opened, its headers and dynamic section", "quick_libc"),
    ("musl", "of which: the version search (musl_version_near_marker)", "quick_search"),
    ("musl", "of which: the evidence and the LibcInfo", "quick_answer"),
    ("musl", "platform_tags() of a LibcInfo", "tags"),
    ("musl", "for comparison: detect() by the general routine", "general_cold"),
    ("musl", "general: open + classify(/proc/self/exe)", "classify_exe"),
    ("musl", "general: open + classify(libc.so): its version", "classify_libc"),
    ("musl", "general: the libc in /proc/self/maps (not read)", "mapped"),
]


def _child(which: str, count: int) -> None:
    """Run one phase ``count`` times after a warm-up call (in the measured process)."""
    import libcprobe
    from libcprobe import _process, _tags
    from libcprobe._classify import classify
    from libcprobe._rootfs import HOST

    info = libcprobe.detect()

    def cold_tags() -> None:
        libcprobe.clear_cache()
        libcprobe.detect().platform_tags()

    def cold_detect() -> None:
        libcprobe.clear_cache()
        libcprobe.detect()

    def opened(path: str, then: Callable[[Any], object]) -> Callable[[], None]:
        def run() -> None:
            with HOST.open_elf(path) as elf:
                then(elf)

        return run

    def general_cold() -> None:
        from libcprobe import _quick

        real = _quick.quick_musl
        _quick.quick_musl = lambda *args: None
        try:
            cold_detect()
        finally:
            _quick.quick_musl = real

    def packaging() -> None:
        import packaging.tags
        from packaging import _manylinux, _musllinux

        _manylinux._get_glibc_version.cache_clear()
        _musllinux._get_musl_version.cache_clear()
        _manylinux._get_manylinux_module.cache_clear()
        list(packaging.tags.platform_tags())

    phases: dict[str, Callable[[], object]] = {
        "tags_cold": cold_tags,
        "detect_cold": cold_detect,
        "open_exe": opened("/proc/self/exe", lambda elf: None),
        "classify_exe": opened("/proc/self/exe", lambda elf: classify(elf, scan=True)),
        "confstr": _process._glibc_confstr,
        "tags": info.platform_tags,
        "manylinux_module": _tags._manylinux_module,
        "packaging": packaging,
        "mapped": _process._mapped_libc,
        "open_libc": opened(MUSL_LIBC, lambda elf: None),
        "classify_libc": opened(MUSL_LIBC, lambda elf: classify(elf, scan=True)),
        "general_cold": general_cold,
        **(_quick_phases() if which.startswith("quick") else {}),
    }
    fn = phases[which]
    for _ in range(count + 1):
        fn()


def _quick_phases() -> dict[str, Callable[[], object]]:
    """The pieces of the short way (``_quick``), on the files it reads in this process."""
    import os

    from libcprobe import _classify, _process, _quick
    from libcprobe._elf import _OPEN_FLAGS, _open_regular, readonly_ranges_of
    from libcprobe._model import EvidenceLog, LibcInfo

    exe = _process.PROC_SELF_EXE

    def program() -> _quick._Head:
        fd = os.open(exe, _OPEN_FLAGS)
        try:
            return _quick._Head(fd, os.fstat(fd).st_size)
        finally:
            os.close(fd)

    head = program()
    loader = head.interp or ""
    fd, size = _open_regular(loader)  # held open for the search phase (closed at exit)
    lib = _quick._Head(fd, size)

    def libc() -> None:
        lfd, lsize = _open_regular(loader)
        try:
            _quick._Head(lfd, lsize)
        finally:
            os.close(lfd)

    def search() -> object:
        return _classify.musl_version_near_marker(
            lambda code: readonly_ranges_of(lib.phdrs, size, code),
            lambda a, b: _quick._pread(fd, b - a, a),
        )

    found = search()
    version = found[0] if isinstance(found, tuple) else None

    def answer() -> Optional[LibcInfo]:
        # (Where the process is not musl's there is no version to answer with.)
        if version is None:
            return None
        return _quick._answer(exe, exe, EvidenceLog(), head, loader, version)

    return {
        "quick": lambda: _quick.quick_musl(exe, exe, EvidenceLog(), _process._foreign),
        "quick_exe": program,
        "quick_libc": libc,
        "quick_search": search,
        "quick_answer": answer,
    }


def _count(python: str, env: dict[str, str], which: str, count: int) -> Optional[int]:
    from _callgrind import instructions

    argv = [python, str(Path(__file__).resolve()), "--child", which, str(count)]
    return instructions(argv, env)


def profile(python: str, env: dict[str, str], group: str) -> list[dict[str, Any]]:
    rows = []
    for name, phase, which in PHASES:
        if name != group:
            continue
        base, many = _count(python, env, which, 0), _count(python, env, which, COUNT)
        per_call = (many - base) / COUNT if base is not None and many is not None else None
        rows.append({"phase": phase, "instructions": per_call})
    return rows


def _table(title: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n## {title}\n\n| phase | instructions per call |\n|---|---|")
    for row in rows:
        value = row["instructions"]
        print(f"| {row['phase']} | {'-' if value is None else f'{value / 1000:.0f} k'} |")


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        _child(argv[1], int(argv[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    from _callgrind import valgrind
    from _common import child_env, musl_python, stage

    if valgrind() is None:
        print("valgrind is needed (apt-get install valgrind)", file=sys.stderr)
        return 2
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="libcprobe-profile-") as tmp:
        staged = stage(sys.executable, Path(tmp) / "host", HERE.parent / "src")
        out["glibc"] = profile(sys.executable, child_env(staged), "glibc")
        musl = musl_python()
        if musl is not None and Path(MUSL_LIBC).exists():
            staged = stage(str(musl), Path(tmp) / "musl", HERE.parent / "src")
            out["musl"] = profile(str(musl), child_env(staged), "musl")
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        for group, rows in out.items():
            _table(f"cold detect().platform_tags(), {group}", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
