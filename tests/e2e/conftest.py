"""End-to-end fixtures: real musl CPython 3.11 interpreters (dynamic and fully static) and a
glibc-free musl chroot, built by the recipe in ``../shared/e2e`` (see docs/e2e.md).

The ``e2e`` session fixture locates ``$E2E_DIR`` (default ``~/.cache/libcprobe-e2e``), builds it
once with ``../shared/e2e/build`` when it is missing and ``LIBCPROBE_E2E=1`` (skips otherwise),
and makes one PYTHONPATH directory for the session: copies of ``src/libcprobe``, of the test
venv's ``packaging`` and of ``libcprobe_e2e_probe.py``. Every result is collected for the
side-by-side table that ``pytest_terminal_summary`` prints at the end (and writes, as Markdown
and JSON, next to pytest's temporary directories).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
SRC_PACKAGE = REPO / "src" / "libcprobe"
RECIPE = REPO.parent / "shared" / "e2e"
PROBE_FILE = Path(__file__).with_name("libcprobe_e2e_probe.py")
PROBE_MODULE = PROBE_FILE.stem
MUSL_LOADER = "/lib/ld-musl-x86_64.so.1"
ENABLE = "LIBCPROBE_E2E"
MISSING_REASON = "e2e cache missing; set LIBCPROBE_E2E=1 to build it"
RUN_TIMEOUT = 120

# One run of python inside the chroot through the musl loader (`ld-musl python3 ...`), so that
# /proc/self/exe is the loader. Modelled on run-in-chroot: a private mount namespace (nothing
# is visible on the host, nothing outlives the run), /proc and the PYTHONPATH directory
# (read-only) mounted in the rootfs, an empty environment.
_LOADER_IN_CHROOT = r"""
set -eu
rootfs=$1 pythonpath=$2 chroot=$3
shift 3
mount -t proc proc "$rootfs/proc"
mount --bind -o ro "$pythonpath" "$rootfs/opt/pythonpath"
exec env -i PATH=/bin HOME=/root PYTHONPATH=/opt/pythonpath "$chroot" "$rootfs" "$@"
"""


@dataclass(frozen=True)
class Target:
    """One way of running an interpreter under test."""

    name: str  # test id
    label: str  # row label in the table
    python: str  # "static", "dynamic" (musl, from $E2E_DIR) or "glibc" (sys.executable)
    where: str  # "chroot" or "host"
    loader: bool = False  # started as `/lib/ld-musl-x86_64.so.1 python3 ...`


TARGETS = (
    Target("static-chroot", "static musl, chroot", "static", "chroot"),
    Target("static-host", "static musl, host", "static", "host"),
    Target("dynamic-chroot", "dynamic musl, chroot", "dynamic", "chroot"),
    Target("dynamic-loader-chroot", "dynamic musl via ld-musl, chroot", "dynamic", "chroot", True),
    Target("dynamic-host", "dynamic musl, host", "dynamic", "host"),
    Target("dynamic-loader-host", "dynamic musl via ld-musl, host", "dynamic", "host", True),
    Target("glibc-host", "host glibc python (sys.executable)", "glibc", "host"),
)
TARGET_BY_NAME = {t.name: t for t in TARGETS}


class Report:
    """What the e2e runs saw, for the side-by-side table."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.meta: dict[str, Any] = {}
        self.probes: dict[str, dict[str, Any]] = {}
        self.durations: dict[str, float] = {}


REPORT_KEY = pytest.StashKey[Report]()


class E2E:
    """The built cache, the session's PYTHONPATH directory and ways to run each target."""

    def __init__(self, e2e_dir: Path, pythonpath: Path, report: Report) -> None:
        self.dir = e2e_dir
        self.rootfs = e2e_dir / "rootfs"
        self.pythonpath = pythonpath
        self.report = report
        self._probes: dict[str, dict[str, Any]] = {}
        self._cli: dict[str, dict[str, Any]] = {}

    def python(self, target: Target) -> str:
        if target.python == "glibc":
            return sys.executable
        return str(self.dir / target.python / "bin" / "python3")

    def command(self, target: Target, args: list[str]) -> tuple[list[str], dict[str, str]]:
        """The argv and environment that run ``python ARGS`` as ``target``."""
        base_env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": "/root",
        }
        program = [MUSL_LOADER, self.python(target)] if target.loader else [self.python(target)]
        if target.where == "host":
            env = {"PATH": "/usr/bin:/bin", "HOME": "/root", "PYTHONPATH": str(self.pythonpath)}
            return [*program, *args], env
        if not target.loader:
            argv = [str(RECIPE / "run-in-chroot"), target.python, "--pythonpath"]
            argv += [str(self.pythonpath), "--", *args]
            return argv, {**base_env, "E2E_DIR": str(self.dir)}
        chroot = shutil.which("chroot", path=base_env["PATH"]) or "/usr/sbin/chroot"
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", _LOADER_IN_CHROOT]
        argv += ["loader-in-chroot", str(self.rootfs), str(self.pythonpath), chroot]
        return [*argv, *program, *args], base_env

    def run(self, target: Target, *args: str) -> subprocess.CompletedProcess[str]:
        argv, env = self.command(target, list(args))
        start = time.monotonic()
        proc = subprocess.run(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
        key = f"{target.name}: {' '.join(args)}"
        self.report.durations[key] = time.monotonic() - start
        return proc

    def run_ok(self, target: Target, *args: str) -> str:
        proc = self.run(target, *args)
        assert proc.returncode == 0, (
            f"{target.label}: python {' '.join(args)} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
        return proc.stdout

    def probe(self, target: Target) -> dict[str, Any]:
        """``python -m libcprobe_e2e_probe`` in ``target`` (once per session)."""
        if target.name not in self._probes:
            data: dict[str, Any] = json.loads(self.run_ok(target, "-m", PROBE_MODULE))
            self._probes[target.name] = data
            self.report.probes[target.name] = data
        return self._probes[target.name]

    def cli_json(self, target: Target) -> dict[str, Any]:
        """``python -m libcprobe --json`` in ``target`` (once per session)."""
        if target.name not in self._cli:
            data: dict[str, Any] = json.loads(self.run_ok(target, "-m", "libcprobe", "--json"))
            self._cli[target.name] = data
        return self._cli[target.name]


def _built(e2e_dir: Path) -> list[Path]:
    """The files the tests need; those missing."""
    rootfs = e2e_dir / "rootfs"
    needed = [
        e2e_dir / "dynamic" / "bin" / "python3",
        e2e_dir / "static" / "bin" / "python3",
        rootfs / "lib" / "ld-musl-x86_64.so.1",
        rootfs / "proc",
        rootfs / "opt" / "pythonpath",
    ]
    needed += [Path(f"{rootfs}{e2e_dir}/{kind}/bin/python3") for kind in ("dynamic", "static")]
    return [p for p in needed if not p.exists()]


def _build(e2e_dir: Path, log: Path) -> None:
    build = RECIPE / "build"
    if not os.access(build, os.X_OK):
        pytest.fail(
            f"{ENABLE}=1 but the e2e recipe is missing: no {build} "
            "(clone the shared/ directory beside the repository)",
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
        pytest.fail(f"{build} failed (exit {rc}); full log: {log}\n{tail}", pytrace=False)
    missing = _built(e2e_dir)
    if missing:
        pytest.fail(
            f"{build} succeeded but these are missing: {', '.join(map(str, missing))}\n{tail}",
            pytrace=False,
        )
    print(f"e2e: built {e2e_dir} in {time.monotonic() - start:.0f} s (log: {log})")


def _make_pythonpath(directory: Path) -> str:
    """Copy libcprobe, packaging and the probe into ``directory``; packaging's version."""
    import packaging

    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(SRC_PACKAGE, directory / "libcprobe", ignore=ignore)
    shutil.copytree(Path(packaging.__file__).parent, directory / "packaging", ignore=ignore)
    shutil.copy2(PROBE_FILE, directory / PROBE_FILE.name)
    return packaging.__version__


def _upstream_version(debian_version: str) -> str:
    """``1:1.2.3-1+deb12u1`` -> ``1.2.3``."""
    version = debian_version.split(":", 1)[-1]
    return version.rsplit("-", 1)[0] if "-" in version else version


def _host_musl_version() -> Optional[str]:
    try:
        proc = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", "musl"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return None
    return _upstream_version(proc.stdout.strip()) if proc.returncode == 0 and proc.stdout else None


@pytest.fixture(scope="session")
def e2e(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> E2E:
    """The built e2e cache and the session's PYTHONPATH directory (skips where impossible)."""
    if sys.platform != "linux" or platform.machine() != "x86_64":
        pytest.skip(f"e2e needs Linux x86_64, not {sys.platform} {platform.machine()}")
    if os.geteuid() != 0:
        pytest.skip("e2e needs root (mount, chroot)")
    e2e_dir = Path(os.environ.get("E2E_DIR") or Path.home() / ".cache" / "libcprobe-e2e")
    e2e_dir = e2e_dir.absolute()
    if _built(e2e_dir):
        if os.environ.get(ENABLE) != "1":
            pytest.skip(f"{MISSING_REASON} (E2E_DIR={e2e_dir})")
        _build(e2e_dir, tmp_path_factory.mktemp("e2e-build") / "build.log")
    if not os.access(RECIPE / "run-in-chroot", os.X_OK):
        pytest.skip(f"no {RECIPE}/run-in-chroot (the e2e recipe, beside the repository)")
    report = Report(tmp_path_factory.mktemp("e2e-report"))
    request.config.stash[REPORT_KEY] = report
    pythonpath = tmp_path_factory.mktemp("e2e-pythonpath")
    report.meta["packaging"] = _make_pythonpath(pythonpath)
    report.meta["E2E_DIR"] = str(e2e_dir)
    report.meta["pythonpath"] = str(pythonpath)
    stock = not (e2e_dir / "static/lib/python3.11/ctypes/__init__.py.orig").exists()
    report.meta["static_ctypes"] = "stock" if stock else "edited (E2E_PATCH_CTYPES=1)"
    return E2E(e2e_dir, pythonpath, report)


@pytest.fixture(scope="session")
def host_musl_version() -> str:
    """The upstream version of the host's Debian ``musl`` package (copied into the rootfs)."""
    version = _host_musl_version()
    if version is None:
        pytest.fail("dpkg-query -W musl gave no version: is Debian's musl installed?")
    return version


# -- the side-by-side table ---------------------------------------------------------------


def _cell(value: object) -> str:
    return "-" if value is None else str(value).replace("|", "\\|")


def _tags_cell(tags: Optional[list[str]], error: Optional[str] = None) -> str:
    if error is not None:
        return f"raises `{error}`"
    if tags is None:
        return "-"
    if not tags:
        return "0 `[]`"
    return f"{len(tags)}, first `{tags[0]}`"


def _processes(events: list[str]) -> str:
    spawned = [e for e in events if not e.startswith("ctypes.")]
    return str(len(spawned))


def side_by_side(report: Report) -> str:
    header = (
        "| interpreter | libcprobe family | version | linkage | can_load_extensions "
        "| libcprobe tags | processes started by libcprobe | ctypes imported by libcprobe "
        "| packaging `_get_musl_version` | packaging `platform_tags()` "
        "| processes started by packaging |"
    )
    lines = [header, "|" + "---|" * header.count(" | ")]
    for target in TARGETS:
        data = report.probes.get(target.name)
        if data is None:
            continue
        ours = data["libcprobe"]
        theirs = data["packaging"]
        musl = theirs.get("musl_version_error") or theirs.get("musl_version_repr")
        row = [
            target.label,
            _cell(ours["family"]),
            _cell(ours["version"]),
            _cell(ours["linkage"]),
            _cell(ours["can_load_extensions"]),
            _tags_cell(ours["platform_tags"]),
            _processes(data["events"]["libcprobe"]),
            "yes" if data["ctypes_loaded_after_libcprobe"] else "no",
            f"`{musl}`",
            _tags_cell(theirs.get("platform_tags"), theirs.get("platform_tags_error")),
            _processes(data["events"]["packaging"]),
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    report = config.stash.get(REPORT_KEY, None)
    if report is None or not report.probes:
        return
    meta = report.meta
    table = side_by_side(report)
    intro = (
        f"packaging {meta.get('packaging')} beside libcprobe from {SRC_PACKAGE}; "
        f"static interpreter's ctypes: {meta.get('static_ctypes')}; E2E_DIR={meta.get('E2E_DIR')}"
    )
    markdown = report.directory / "side-by-side.md"
    markdown.write_text(f"{intro}\n\n{table}\n")
    raw = report.directory / "side-by-side.json"
    raw.write_text(
        json.dumps(
            {"meta": meta, "probes": report.probes, "durations": report.durations},
            indent=1,
            sort_keys=True,
        )
        + "\n"
    )
    terminalreporter.write_sep("=", "libcprobe e2e: libcprobe vs packaging, side by side")
    terminalreporter.write_line(intro)
    for line in table.splitlines():
        terminalreporter.write_line(line)
    slowest = max(report.durations.items(), key=lambda kv: kv[1])
    terminalreporter.write_line(
        f"{len(report.durations)} interpreter runs, {sum(report.durations.values()):.1f} s "
        f"in all (slowest {slowest[1]:.2f} s: {slowest[0]})"
    )
    terminalreporter.write_line(f"written to {markdown} and {raw}")
