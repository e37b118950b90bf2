"""End-to-end fixtures: real musl CPython 3.11 interpreters (dynamic and fully static) and a
glibc-free musl chroot, built by this repository's recipe ``e2e/build`` (see docs/e2e.md).

The ``e2e`` session fixture skips off Linux x86_64 and when not root, and uses ``$E2E_DIR``
(default ``~/.cache/libcprobe-e2e``). With ``LIBCPROBE_E2E=1`` a missing cache was built at
session start (cache.py), and a failed build fails every e2e test; without it a missing cache
skips them. It makes the session's PYTHONPATH directory: copies of ``src/libcprobe``, of the
test venv's ``packaging`` and of ``libcprobe_e2e_probe.py``. ``pytest_terminal_summary`` prints
the side-by-side table of every interpreter probed and writes it, as Markdown and JSON, into
pytest's temporary directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Optional

import pytest

from .cache import BUILD_FAILURE, ENABLE, RECIPE, e2e_dir, missing, unsupported
from .harness import E2E, PROBE_FILE, SRC_PACKAGE, Report, side_by_side

MISSING_REASON = "e2e cache missing; set LIBCPROBE_E2E=1 to build it"
REPORT_KEY = pytest.StashKey[Report]()


def _make_pythonpath(directory: Path) -> str:
    """Copy libcprobe, packaging and the probe into ``directory``; returns packaging's version.

    Copies, not symlinks: run-in-chroot bind-mounts only this directory into the rootfs."""
    import packaging

    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(SRC_PACKAGE, directory / "libcprobe", ignore=ignore)
    shutil.copytree(Path(packaging.__file__).parent, directory / "packaging", ignore=ignore)
    shutil.copy2(PROBE_FILE, directory / PROBE_FILE.name)
    return packaging.__version__


def upstream_version(debian_version: str) -> str:
    """``1:1.2.3-1+deb12u1`` -> ``1.2.3``: no epoch, no Debian revision."""
    version = debian_version.split(":", 1)[-1]
    return version.rsplit("-", 1)[0] if "-" in version else version


def _dpkg_version(package: str) -> Optional[str]:
    try:
        proc = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", package],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return None
    text = proc.stdout.strip()
    return upstream_version(text) if proc.returncode == 0 and text else None


@pytest.fixture(scope="session")
def e2e(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> E2E:
    """The built e2e cache and the session's PYTHONPATH directory (skips where impossible)."""
    reason = unsupported()
    if reason is not None:
        pytest.skip(reason)
    directory = e2e_dir()
    failure = request.config.stash.get(BUILD_FAILURE, None)
    if failure is not None:
        pytest.fail(failure, pytrace=False)
    if missing(directory):
        if os.environ.get(ENABLE) != "1":
            pytest.skip(f"{MISSING_REASON} (E2E_DIR={directory})")
        pytest.fail(
            f"{ENABLE}=1 but {directory} lacks {', '.join(map(str, missing(directory)))}",
            pytrace=False,
        )
    if not os.access(RECIPE / "run-in-chroot", os.X_OK):
        pytest.fail(f"{RECIPE}/run-in-chroot is missing or not executable", pytrace=False)
    report = Report(tmp_path_factory.mktemp("e2e-report"))
    request.config.stash[REPORT_KEY] = report
    pythonpath = tmp_path_factory.mktemp("e2e-pythonpath")
    report.meta["packaging"] = _make_pythonpath(pythonpath)
    report.meta["E2E_DIR"] = str(directory)
    report.meta["pythonpath"] = str(pythonpath)
    edited = (directory / "static/lib/python3.11/ctypes/__init__.py.orig").exists()
    report.meta["static_ctypes_stock"] = not edited
    return E2E(directory, pythonpath, report)


@pytest.fixture(scope="session")
def host_musl_version(e2e: E2E) -> str:
    """The upstream version of the host's Debian ``musl``, whose libc.so the rootfs copies."""
    version = _dpkg_version("musl")
    if version is None:
        pytest.fail("dpkg-query -W musl gave no version: is Debian's musl installed?")
    e2e.report.meta["host_musl"] = version
    return version


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    """Print (whatever -s says) and save the side-by-side table of this session's runs."""
    report = config.stash.get(REPORT_KEY, None)
    if report is None or not report.probes:
        return
    meta = report.meta
    ctypes_state = "stock" if meta.get("static_ctypes_stock") else "edited (E2E_PATCH_CTYPES=1)"
    intro = (
        f"packaging {meta.get('packaging')} beside libcprobe from {SRC_PACKAGE}; "
        f"static interpreter's ctypes: {ctypes_state}; E2E_DIR={meta.get('E2E_DIR')}"
    )
    table = side_by_side(report)
    markdown = report.directory / "side-by-side.md"
    markdown.write_text(f"{intro}\n\n{table}\n")
    raw = report.directory / "side-by-side.json"
    everything = {"meta": meta, "probes": report.probes, "durations": report.durations}
    raw.write_text(json.dumps(everything, indent=1, sort_keys=True) + "\n")
    terminalreporter.write_sep("=", "libcprobe e2e: libcprobe and packaging, side by side")
    terminalreporter.write_line(intro)
    for line in table.splitlines():
        terminalreporter.write_line(line)
    if report.durations:
        name, slowest = max(report.durations.items(), key=lambda kv: kv[1])
        total = sum(report.durations.values())
        terminalreporter.write_line(
            f"{len(report.durations)} interpreter runs, {total:.1f} s in all "
            f"(slowest {slowest:.2f} s: {name})"
        )
    terminalreporter.write_line(f"saved as {markdown} and {raw}")
