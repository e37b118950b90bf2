"""End-to-end fixtures: real musl CPython 3.11 interpreters (dynamic and fully static) and a
glibc-free musl chroot, built by the recipe in ``../shared/e2e`` (see docs/e2e.md).

The ``e2e`` session fixture skips off Linux x86_64 and when not root, locates ``$E2E_DIR``
(default ``~/.cache/libcprobe-e2e``), builds it once with ``../shared/e2e/build`` when it is
missing and ``LIBCPROBE_E2E=1`` (and skips when it is missing otherwise), and makes the
session's PYTHONPATH directory: copies of ``src/libcprobe``, of the test venv's ``packaging``
and of ``libcprobe_e2e_probe.py``. ``pytest_terminal_summary`` prints the side-by-side table of
every interpreter probed and writes it, as Markdown and JSON, into pytest's temporary directory.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import pytest

from .harness import E2E, PROBE_FILE, RECIPE, SRC_PACKAGE, Report, side_by_side

ENABLE = "LIBCPROBE_E2E"
MISSING_REASON = "e2e cache missing; set LIBCPROBE_E2E=1 to build it"
REPORT_KEY = pytest.StashKey[Report]()


def _missing(e2e_dir: Path) -> list[Path]:
    """What the tests need from the built cache and is not there."""
    rootfs = e2e_dir / "rootfs"
    needed = [
        e2e_dir / "dynamic" / "bin" / "python3",
        e2e_dir / "static" / "bin" / "python3",
        rootfs / "lib" / "ld-musl-x86_64.so.1",
        rootfs / "proc",
        rootfs / "opt" / "pythonpath",
    ]
    # The rootfs holds both installs at the same absolute paths as on the host.
    needed += [Path(f"{rootfs}{e2e_dir}/{kind}/bin/python3") for kind in ("dynamic", "static")]
    return [p for p in needed if not p.exists()]


def _build(e2e_dir: Path, log: Path) -> None:
    """Run ../shared/e2e/build (about 6 minutes); fail the session loudly if it fails."""
    build = RECIPE / "build"
    if not os.access(build, os.X_OK):
        pytest.fail(
            f"{ENABLE}=1 and {MISSING_REASON.split(';')[0]} ({e2e_dir}), but the recipe that "
            f"builds it is missing: no {build} (clone shared/ beside the repository)",
            pytrace=False,
        )
    start = time.monotonic()
    with open(log, "wb") as out:
        rc = subprocess.run(
            [str(build)],
            env={**os.environ, "E2E_DIR": str(e2e_dir)},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        ).returncode
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
    if rc != 0:
        pytest.fail(f"{build} failed (exit {rc}); its output: {log}\n{tail}", pytrace=False)
    missing = _missing(e2e_dir)
    if missing:
        pytest.fail(
            f"{build} exited 0 but left out {', '.join(map(str, missing))}; output: {log}\n{tail}",
            pytrace=False,
        )
    sys.stderr.write(f"e2e: built {e2e_dir} in {time.monotonic() - start:.0f} s ({log})\n")


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
    if sys.platform != "linux" or platform.machine() != "x86_64":
        pytest.skip(f"e2e needs Linux x86_64, not {sys.platform} {platform.machine()}")
    if os.geteuid() != 0:
        pytest.skip("e2e needs root (mount, chroot)")
    e2e_dir = Path(os.environ.get("E2E_DIR") or Path.home() / ".cache" / "libcprobe-e2e")
    e2e_dir = e2e_dir.absolute()
    if _missing(e2e_dir):
        if os.environ.get(ENABLE) != "1":
            pytest.skip(f"{MISSING_REASON} (E2E_DIR={e2e_dir})")
        _build(e2e_dir, tmp_path_factory.mktemp("e2e-build") / "build.log")
    if not os.access(RECIPE / "run-in-chroot", os.X_OK):
        reason = f"no {RECIPE}/run-in-chroot: the e2e recipe must be beside the repository"
        if os.environ.get(ENABLE) == "1":
            pytest.fail(f"{ENABLE}=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    report = Report(tmp_path_factory.mktemp("e2e-report"))
    request.config.stash[REPORT_KEY] = report
    pythonpath = tmp_path_factory.mktemp("e2e-pythonpath")
    report.meta["packaging"] = _make_pythonpath(pythonpath)
    report.meta["E2E_DIR"] = str(e2e_dir)
    report.meta["pythonpath"] = str(pythonpath)
    edited = (e2e_dir / "static/lib/python3.11/ctypes/__init__.py.orig").exists()
    report.meta["static_ctypes_stock"] = not edited
    return E2E(e2e_dir, pythonpath, report)


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
