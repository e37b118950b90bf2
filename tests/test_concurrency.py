"""detect() and inspect() from 32 threads at once give what they give serially, and
clear_cache() while detect() runs is safe."""

from __future__ import annotations

import functools
import random
import shutil
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import libcprobe

FIXTURES = Path(__file__).parent / "fixtures"
THREADS = 32


def _programs() -> list[str]:
    built = sorted(str(p) for p in (FIXTURES / "built").rglob("*") if p.is_file())
    debian = sorted(
        str(p) for p in (FIXTURES / "debian").rglob("*") if p.is_file() and "libc" in p.name
    )
    return [sys.executable, *built[:12], *debian[:12]]


def _roots(tmp_path: Path) -> list[str]:
    roots = []
    for i, loader in enumerate(sorted((FIXTURES / "debian").rglob("ld-musl-*"))[:3]):
        root = tmp_path / f"root{i}"
        (root / "lib").mkdir(parents=True)
        (root / "usr/bin").mkdir(parents=True)
        shutil.copy(loader, root / "lib" / loader.name)
        roots.append(str(root))
    return roots


def _calls(tmp_path: Path) -> list[tuple[str, Callable[[], Any]]]:
    calls: list[tuple[str, Callable[[], Any]]] = [("detect()", libcprobe.detect)]
    for p in _programs():
        calls.append((f"detect({p})", functools.partial(libcprobe.detect, p)))
        calls.append((f"inspect({p})", functools.partial(_inspected, p)))
    for r in _roots(tmp_path):
        calls.append((f"detect(root={r})", functools.partial(libcprobe.detect, root=r)))
    return calls


def _inspected(path: str) -> dict[str, Any]:
    return libcprobe.inspect(path).to_dict()


def _hammer(
    calls: list[tuple[str, Callable[[], Any]]], rounds: int, stop: threading.Event
) -> dict[str, list[Any]]:
    barrier = threading.Barrier(THREADS)

    def worker(seed: int) -> list[tuple[str, Any]]:
        order = list(calls) * rounds
        random.Random(seed).shuffle(order)
        barrier.wait()
        return [(name, call()) for name, call in order]

    seen: dict[str, list[Any]] = {}
    with ThreadPoolExecutor(THREADS) as pool:
        for results in pool.map(worker, range(THREADS)):
            for name, value in results:
                seen.setdefault(name, []).append(value)
    stop.set()
    return seen


def test_32_threads_give_the_serial_results(tmp_path: Path) -> None:
    calls = _calls(tmp_path)
    assert len(calls) > 40
    libcprobe.clear_cache()
    serial = {name: call() for name, call in calls}
    libcprobe.clear_cache()
    seen = _hammer(calls, 2, threading.Event())
    for name, values in seen.items():
        assert all(v == serial[name] for v in values), name
    assert sum(map(len, seen.values())) == THREADS * 2 * len(calls)


def test_clear_cache_during_detect(tmp_path: Path) -> None:
    """One thread clears the cache without pause while 32 detect: the results stay those of
    a serial run (each detect() computes afresh or takes a finished result, never a half one)."""
    calls = [c for c in _calls(tmp_path) if c[0].startswith("detect")]
    libcprobe.clear_cache()
    serial = {name: call() for name, call in calls}
    stop = threading.Event()
    cleared = 0

    def clear() -> None:
        nonlocal cleared
        while not stop.is_set():
            libcprobe.clear_cache()
            cleared += 1

    clearer = threading.Thread(target=clear)
    clearer.start()
    try:
        seen = _hammer(calls, 2, stop)
    finally:
        stop.set()
        clearer.join()
    assert cleared > 10
    for name, values in seen.items():
        assert all(v == serial[name] for v in values), name
