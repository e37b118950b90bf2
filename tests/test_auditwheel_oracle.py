"""Agreement with ``auditwheel show --json`` (the test-only oracle) on real PyPI wheels.

The wheels are listed, sha256-pinned, in tests/oracle-wheels.json and fetched by
scripts/fetch-oracle-wheels into the wheel cache. For each: libcprobe's ``policy``,
``requires`` and ``external`` must be the recorded ones, and auditwheel's must be the same,
except where the file records what auditwheel says instead and why.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from libcprobe.audit._audit import Bundle
from libcprobe.audit._inspect import highest_per_namespace
from libcprobe.audit._policy import namespace_of, version_key
from libcprobe.audit._tree import iter_items
from libcprobe.audit._wheel_summary import summarize_wheel
from oracle import oracle_wheels

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def wheels() -> list[tuple[dict[str, Any], Path]]:
    found, problems = oracle_wheels()
    if problems:
        pytest.skip(f"oracle wheels unavailable: {problems[0]}")
    return found


def _auditwheel(path: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "auditwheel", "show", "--json", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def _auditwheel_requires(shown: dict[str, Any], bundle: Bundle) -> dict[str, str]:
    # auditwheel lists the versions needed per library, bundled ones too, and counts every
    # namespace from any library: leave out what the wheel ships, keep the highest.
    pairs = [
        (lib, name)
        for lib, names in shown.get("versioned_symbols", {}).items()
        if not bundle.ships(lib)
        for name in names
    ]
    best: dict[str, tuple[tuple[int, ...], str]] = {}
    for _lib, name in pairs:
        namespace, version = namespace_of(name)
        key = version_key(version)
        if key is not None and (namespace not in best or key > best[namespace][0]):
            best[namespace] = (key, version)
    assert dict(highest_per_namespace(pairs)) == {ns: v for ns, (_, v) in best.items()}
    return {ns: v for ns, (_, v) in sorted(best.items())}


def test_libcprobe_and_auditwheel_agree(wheels: list[tuple[dict[str, Any], Path]]) -> None:
    pytest.importorskip("auditwheel")
    host_has_musl = bool(list(Path("/lib").glob("libc.musl-*.so.1")))
    with ThreadPoolExecutor(max_workers=2) as pool:
        shown = list(pool.map(_auditwheel, [path for _, path in wheels]))
    agree = differ = 0
    for (entry, path), aw in zip(wheels, shown):
        items = list(iter_items([str(path)]))
        summary = summarize_wheel(str(path), items)
        ours = {
            "policy": summary.policy,
            "requires": dict(summary.requires),
            "external": list(summary.external),
        }
        assert ours == entry["libcprobe"], entry["wheel"]
        bundle = Bundle([i.report for i in items if i.report.ok])
        theirs = {
            "policy": aw["overall_tag"],
            "requires": _auditwheel_requires(aw, bundle),
            "external": sorted(aw["external_libs"]),
        }
        expected = dict(ours)
        known = entry.get("auditwheel_differs")
        if known is not None:
            if host_has_musl and "host" in known["reason"]:
                continue  # auditwheel's musl answer depends on this host's musl
            expected.update({k: v for k, v in known.items() if k != "reason"})
            differ += 1
        else:
            agree += 1
        assert theirs == expected, entry["wheel"]
    assert agree + differ == len(wheels) and agree >= 15


def test_the_wheel_audit_benchmark_runs(wheels: list[tuple[dict[str, Any], Path]]) -> None:
    pytest.importorskip("auditwheel")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "wheel_audit.py"), "--json", "--limit", "1"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(proc.stdout)
    assert data["wheels"] == 1 and data["ratio_in_process_cpu"] > 0
    assert set(data["cpu"]) >= {"libcprobe", "auditwheel", "libcprobe_cli", "auditwheel_cli"}
