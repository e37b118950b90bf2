"""Helpers more than one test module uses (the autouse fixtures are in conftest.py).

- :func:`hang_guard`: fail instead of hanging.
- :func:`musl_program`, :func:`musl_libc`: a small musl program and libc (elfbuild).
- :func:`exercise_info`: call every method of a :class:`~libcprobe.LibcInfo`.
- :func:`run_json`: run a fresh interpreter, return the JSON object it prints last.
- :func:`host_glibc_version`: the running interpreter's glibc by ``confstr``, the oracle.
- :func:`load_script`: one of the repository's Python scripts (``scripts/make-policy``, ...),
  loaded as a module.
- :data:`INSPECT_KEYS`: the keys of one ``libcprobe inspect --json`` row, in order;
  :data:`RECORDED_KEYS`: the ELF facts of them each fixture's manifest entry records.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any, Optional

import elfbuild
from libcprobe import LibcInfo

__all__ = [
    "INSPECT_KEYS",
    "RECORDED_KEYS",
    "Hang",
    "exercise_info",
    "hang_guard",
    "host_glibc_version",
    "load_script",
    "musl_libc",
    "musl_program",
    "run_json",
]

#: The ELF facts of an ``inspect`` row that tests/fixtures/manifest.json records per fixture.
RECORDED_KEYS = (
    "elf_class",
    "endian",
    "arch",
    "type",
    "interpreter",
    "needed",
    "soname",
    "rpath",
    "runpath",
    "linkage",
    "family",
    "glibc_requires",
    "libc_version",
)

#: One ``inspect --json`` row's keys, in the order they are printed.
INSPECT_KEYS = (
    "path",
    *RECORDED_KEYS,
    "symbol_versions",
    "requires",
    "isa",
    "policy_symbols",
    "android_api",
    "error",
)


class Hang(AssertionError):
    """Raised by :func:`hang_guard` when its block runs too long."""


@contextlib.contextmanager
def hang_guard(seconds: float) -> Iterator[None]:
    """Fail (instead of hanging) when the block runs longer than ``seconds``. A blocked
    ``open()`` is interrupted too (PEP 475 retries only after the handler returns).

    It only detects hangs: the limits are generous and are not performance assertions."""

    def fire(signum: int, frame: Optional[FrameType]) -> None:
        raise Hang(f"still running after {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except Hang as exc:
        # A fresh exception: the interrupted frames' tracebacks can be unprintable
        # (tb_lineno None inside comprehensions on some Python versions).
        raise Hang(str(exc)) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def exercise_info(info: LibcInfo) -> None:
    """Every LibcInfo method must work on every result."""
    repr(info)
    hash(info)
    assert info == info
    json.dumps(info.to_dict())
    info.why("family")
    info.platform_tags()
    info.platform_tags(linux_first=False)


#: The read-only data of :func:`musl_libc`: musl's banner and a version string.
MUSL_LIBC_RODATA = b"\0musl libc (x86_64)\0Version %s\0\x009.8.7\0"


def musl_program(interp: str = "/lib/ld-musl-x86_64.so.1") -> bytes:
    return elfbuild.build(elfbuild.Spec(interp=interp, verneed=[])).data


def musl_libc(rodata: bytes = MUSL_LIBC_RODATA) -> bytes:
    return elfbuild.build(
        elfbuild.Spec(
            interp=None,
            needed=[],
            runpath=None,
            verneed=[],
            flags_1=0,
            notes=[],
            extra_rodata=rodata,
        )
    ).data


#: The repository's root (tests/ is below it).
REPO = Path(__file__).resolve().parent.parent


def load_script(path: Path) -> ModuleType:
    """A Python script without a ``.py`` suffix (``scripts/make-policy``) as a module, run
    once; not entered in ``sys.modules``."""
    loader = importlib.machinery.SourceFileLoader(path.name.replace("-", "_"), str(path))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def host_glibc_version() -> Optional[str]:
    """``"2.36"``: the glibc this interpreter runs on, as ``confstr`` says; None elsewhere."""
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, OSError, ValueError):
        return None
    return text.split()[1] if text and text.startswith("glibc ") else None


def run_json(
    argv: list[str],
    *,
    env: Optional[dict[str, str]] = None,
    cwd: Optional[Path] = None,
    timeout: float = 60,
) -> dict[str, Any]:
    """Run ``argv`` (an interpreter and its arguments) without ``LIBCPROBE_LIBC`` and with
    ``env`` added; it must exit 0. Returns the JSON object its last line of output is."""
    environment = {k: v for k, v in os.environ.items() if k != "LIBCPROBE_LIBC"}
    environment.update(env or {})
    proc = subprocess.run(
        argv, capture_output=True, text=True, env=environment, cwd=cwd, timeout=timeout, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result
