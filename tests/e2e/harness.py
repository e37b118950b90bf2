"""The e2e harness: the interpreters under test (:data:`TARGETS`), how each is run
(:class:`E2E`), and the side-by-side table of what libcprobe and packaging said
(:func:`side_by_side`). The fixtures that build the cache and the PYTHONPATH directory are in
conftest.py; the code run inside each interpreter is libcprobe_e2e_probe.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from .cache import RECIPE, REPO

SRC_PACKAGE = REPO / "src" / "libcprobe"
PROBE_FILE = Path(__file__).with_name("libcprobe_e2e_probe.py")
PROBE_MODULE = PROBE_FILE.stem
MUSL_LOADER = "/lib/ld-musl-x86_64.so.1"
RUN_TIMEOUT = 120

# One run of python inside the chroot through the musl loader (`ld-musl python3 ...`), so that
# /proc/self/exe is the loader; run-in-chroot always starts python3 itself. Modelled on
# run-in-chroot: a private mount namespace (nothing shows on the host, nothing outlives the
# run), /proc and the PYTHONPATH directory (read-only) mounted in the rootfs, an empty
# environment but PATH, HOME and PYTHONPATH.
LOADER_IN_CHROOT = r"""
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
TARGET = {t.name: t for t in TARGETS}


class Report:
    """What the e2e runs saw, for the side-by-side table."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.meta: dict[str, Any] = {}
        self.probes: dict[str, dict[str, Any]] = {}
        self.durations: dict[str, float] = {}


class E2E:
    """The built cache, the session's PYTHONPATH directory and the ways to run each target."""

    def __init__(self, e2e_dir: Path, pythonpath: Path, report: Report) -> None:
        self.dir = e2e_dir
        self.rootfs = e2e_dir / "rootfs"
        self.pythonpath = pythonpath
        self.report = report
        self._probes: dict[str, dict[str, Any]] = {}
        self._cli: dict[str, dict[str, Any]] = {}

    @property
    def packaging_version(self) -> str:
        return str(self.report.meta["packaging"])

    @property
    def static_ctypes_stock(self) -> bool:
        return bool(self.report.meta["static_ctypes_stock"])

    def python(self, target: Target) -> str:
        if target.python == "glibc":
            return sys.executable
        return str(self.dir / target.python / "bin" / "python3")

    def command(self, target: Target, args: list[str]) -> tuple[list[str], dict[str, str]]:
        """The argv and environment that run ``python ARGS`` as ``target``."""
        path = os.environ.get("PATH") or "/usr/sbin:/usr/bin:/sbin:/bin"
        outer = {"PATH": path, "HOME": "/root"}
        program = [MUSL_LOADER, self.python(target)] if target.loader else [self.python(target)]
        if target.where == "host":
            env = {"PATH": "/usr/bin:/bin", "HOME": "/root", "PYTHONPATH": str(self.pythonpath)}
            return [*program, *args], env
        if not target.loader:
            argv = [str(RECIPE / "run-in-chroot"), target.python]
            argv += ["--pythonpath", str(self.pythonpath), "--", *args]
            return argv, {**outer, "E2E_DIR": str(self.dir)}
        chroot = shutil.which("chroot", path=f"{path}:/usr/sbin:/sbin") or "/usr/sbin/chroot"
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", LOADER_IN_CHROOT]
        argv += ["loader-in-chroot", str(self.rootfs), str(self.pythonpath), chroot]
        return [*argv, *program, *args], outer

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
        self.report.durations[f"{target.name}: {' '.join(args)}"] = time.monotonic() - start
        return proc

    def run_ok(self, target: Target, *args: str) -> str:
        proc = self.run(target, *args)
        assert proc.returncode == 0, (
            f"{target.label}: python {' '.join(args)} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
        return proc.stdout

    def probe(self, target: Target) -> dict[str, Any]:
        """``python -m libcprobe_e2e_probe`` in ``target`` (run once per session)."""
        if target.name not in self._probes:
            data: dict[str, Any] = json.loads(self.run_ok(target, "-m", PROBE_MODULE))
            self._probes[target.name] = data
            self.report.probes[target.name] = data
        return self._probes[target.name]

    def cli_json(self, target: Target) -> dict[str, Any]:
        """``python -m libcprobe --json`` in ``target`` (run once per session)."""
        if target.name not in self._cli:
            data: dict[str, Any] = json.loads(self.run_ok(target, "-m", "libcprobe", "--json"))
            self._cli[target.name] = data
        return self._cli[target.name]


def packaging_order_tags(probe: dict[str, Any], packaging_version: str) -> list[str]:
    """libcprobe's tags in the order of the packaging release beside it: ``linux_<arch>``
    first from 26.3 on (libcprobe's default), last before."""
    ours = probe["libcprobe"]
    release = tuple(int(p) for p in packaging_version.split(".")[:2] if p.isdigit())
    if release >= (26, 3) or ours["platform_tags_linux_last"] is None:
        return list(ours["platform_tags"])
    return list(ours["platform_tags_linux_last"])


# -- the side-by-side table ---------------------------------------------------------------


def _cell(value: object) -> str:
    return "-" if value is None else str(value).replace("|", "\\|")


def _tags_cell(tags: Optional[list[str]], error: Optional[str] = None) -> str:
    if error is not None:
        return f"raises `{error}`"
    if tags is None:
        return "-"
    if not tags:
        return "0: `[]`"
    return f"{len(tags)}, first `{tags[0]}`"


def _side_effects(events: list[str]) -> str:
    ctypes_events = sum(e.startswith("ctypes.") for e in events)
    return f"{len(events) - ctypes_events}, {ctypes_events}"


def side_by_side(report: Report) -> str:
    """A Markdown table: one row per interpreter run, libcprobe's answers then packaging's."""
    columns = [
        "interpreter",
        "libcprobe family",
        "version",
        "linkage",
        "can_load_extensions",
        "libcprobe tags",
        "libcprobe: processes, ctypes events",
        "ctypes imported by libcprobe",
        "packaging `_get_musl_version`",
        "packaging `platform_tags()`",
        "packaging: processes, ctypes events",
    ]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
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
            _side_effects(data["events"]["libcprobe"]),
            "yes" if data["ctypes_loaded_after_libcprobe"] else "no",
            f"`{musl}`",
            _tags_cell(theirs.get("platform_tags"), theirs.get("platform_tags_error")),
            _side_effects(data["events"]["packaging"]),
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)
