"""The probe the e2e tests run *inside* each interpreter under test (``python -m
libcprobe_e2e_probe``); conftest.py copies it into the PYTHONPATH directory it bind-mounts into
the musl chroot, next to copies of ``libcprobe`` and ``packaging``.

It prints one JSON object on stdout:

- ``events``: the process-starting (and ``ctypes``) audit events seen in each phase:
  ``libcprobe`` (``import libcprobe``, ``detect()``, ``detect().platform_tags()``,
  ``clear_cache()`` and the CLI's ``main(["--json"])``), ``packaging`` (its answers, taken
  afterwards) and ``control`` (one deliberate ``subprocess.run``, proving the hook records);
- ``ctypes_loaded_before`` / ``ctypes_loaded_after_libcprobe``: ``"ctypes" in sys.modules``;
- ``libcprobe``: ``detect().to_dict()`` plus ``platform_tags`` (and ``platform_tags_linux_last``,
  the ``linux_first=False`` order, where that keyword exists); ``cli_json`` / ``cli_status``:
  what ``libcprobe._cli.main(["--json"])`` printed and returned;
- ``packaging``: its version, ``_musllinux._get_musl_version(sys.executable)`` and
  ``list(tags.platform_tags())``, or the ``repr`` of what they raised;
- ``ctypes_import``: ``"ok"`` or the ``repr`` of what ``import ctypes`` raises (last of all).

Only the standard library is imported before the audit hook is installed.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import subprocess
import sys
from typing import Any, Optional

#: Audit events that start a process (prefixes: "os.exec" also covers every exec* variant).
PROCESS_EVENTS = (
    "subprocess.Popen",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.forkpty",
    "os.startfile",
    "ctypes.",
)

_phase: list[Optional[str]] = [None]
_events: dict[str, list[str]] = {"libcprobe": [], "packaging": [], "control": []}


def _hook(event: str, args: tuple[Any, ...]) -> None:
    phase = _phase[0]
    if phase is None or not event.startswith(PROCESS_EVENTS):
        return
    try:
        detail = repr(args[:2])[:200]
    except Exception:  # pragma: no cover - a repr that fails: keep the event name
        detail = "?"
    _events[phase].append(f"{event} {detail}")


def _readlink(path: str) -> Optional[str]:
    try:
        return os.readlink(path)
    except OSError:
        return None


def _libcprobe(out: dict[str, Any]) -> None:
    _phase[0] = "libcprobe"
    try:
        import libcprobe
        from libcprobe import _cli

        info = libcprobe.detect()
        tags = libcprobe.detect().platform_tags()
        try:
            linux_last: Optional[list[str]] = info.platform_tags(linux_first=False)
        except TypeError:  # a libcprobe without the keyword: one order only
            linux_last = None
        libcprobe.clear_cache()
        buf = io.StringIO()
        status = _cli.main(["--json"], out=buf)
    finally:
        _phase[0] = None
    out["ctypes_loaded_after_libcprobe"] = "ctypes" in sys.modules
    out["libcprobe_file"] = libcprobe.__file__
    out["libcprobe"] = {
        **info.to_dict(),
        "platform_tags": tags,
        "platform_tags_linux_last": linux_last,
    }
    out["cli_status"] = status
    out["cli_json"] = json.loads(buf.getvalue())
    out["libcprobe_general"] = _general_routine()


def _general_routine() -> Optional[dict[str, Any]]:
    """Whether ``detect()`` took the short way for the running musl process
    (``libcprobe._quick``), and ``detect().to_dict()`` with the short way out of the picture:
    the two answers must be one."""
    try:
        from libcprobe import _quick
    except ImportError:  # a libcprobe without the short way
        return None
    import libcprobe

    real = _quick.quick_musl
    taken: list[bool] = []

    def recorded(*args: Any) -> Any:
        found = real(*args)
        taken.append(found is not None)
        return found

    try:
        setattr(_quick, "quick_musl", recorded)  # noqa: B010 (not the function's own type)
        libcprobe.clear_cache()
        libcprobe.detect()
        _quick.quick_musl = lambda *args: None
        libcprobe.clear_cache()
        general = libcprobe.detect().to_dict()
    finally:
        _quick.quick_musl = real
        libcprobe.clear_cache()
    return {"quick_answered": taken == [True], "detect": general}


def _packaging() -> dict[str, Any]:
    result: dict[str, Any] = {}
    _phase[0] = "packaging"
    try:
        import packaging
        from packaging import _musllinux, tags

        result["version"] = packaging.__version__
        result["file"] = packaging.__file__
        try:
            musl = _musllinux._get_musl_version(sys.executable)
        except Exception as exc:
            result["musl_version"] = None
            result["musl_version_repr"] = None
            result["musl_version_error"] = repr(exc)
        else:
            result["musl_version"] = None if musl is None else [musl.major, musl.minor]
            result["musl_version_repr"] = repr(musl)
            result["musl_version_error"] = None
        try:
            result["platform_tags"] = list(tags.platform_tags())
            result["platform_tags_error"] = None
        except Exception as exc:
            result["platform_tags"] = None
            result["platform_tags_error"] = repr(exc)
    finally:
        _phase[0] = None
    return result


def _control() -> None:
    _phase[0] = "control"
    try:
        subprocess.run(
            [sys.executable, "-S", "-c", ""], stdin=subprocess.DEVNULL, check=False, timeout=30
        )
    finally:
        _phase[0] = None


def main() -> int:
    sys.addaudithook(_hook)
    out: dict[str, Any] = {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "proc_self_exe": _readlink("/proc/self/exe"),
        "ctypes_loaded_before": "ctypes" in sys.modules,
    }
    _libcprobe(out)
    out["packaging"] = _packaging()
    _control()
    out["events"] = _events
    try:
        importlib.import_module("ctypes")
    except Exception as exc:
        out["ctypes_import"] = repr(exc)
    else:
        out["ctypes_import"] = "ok"
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
