"""Route ``packaging``'s ELF parsing and libc detection through :mod:`libcprobe.compat`.

``scripts/packaging-suite`` copies this file to the root of an unpacked ``packaging`` sdist as
``conftest.py`` (next to packaging's own ``tests/conftest.py``, which stays untouched). Our own
pytest run never loads it: its name is not ``conftest.py`` and does not match ``test_*.py``.

The replacement happens when this module is imported, before pytest imports packaging's test
modules, because those bind names at import time (``from packaging._elffile import ELFFile``).

What is routed, and why at this depth:

- ``packaging._elffile``: ``ELFFile``, ``ELFInvalid``, ``EIClass``, ``EIData``, ``EMachine``;
  and the same names where ``_manylinux`` and ``_musllinux`` imported them.
- ``packaging._musllinux``: ``_get_musl_version`` (reads the loader instead of running it),
  ``_parse_musl_version``, ``_MuslVersion``.
- ``packaging._manylinux``: ``_glibc_version_string`` (confstr, then libcprobe instead of
  ctypes), ``_glibc_version_string_confstr``, ``_glibc_version_string_ctypes`` (its slot gets
  libcprobe's no-ctypes fallback, so the tests that exercise the fallback exercise ours),
  ``_parse_glibc_version``, ``_GLibCVersion``.
- Not routed: ``_manylinux._get_glibc_version``. It is pure logic over the module-level
  ``_glibc_version_string`` (routed above), and packaging's tests fake the libc by patching
  ``_manylinux._glibc_version_string``; compat's own ``_get_glibc_version`` calls compat's
  ``_glibc_version_string`` and would ignore that patch, which would test the patching, not
  libcprobe. ``tests/test_compat.py`` covers compat's copy. Likewise ``_is_compatible``,
  ``_parse_elf``, ``platform_tags`` and the ``tags`` module stay packaging's: they only call
  the routed names through module globals.

With ``LIBCPROBE_SUITE_REPORT=PATH`` set, each test's outcome is written to ``PATH`` as JSON
(node id -> ``passed``/``failed``/``skipped``/``xfailed``/``xpassed``).
"""

from __future__ import annotations

import json
import os
from types import ModuleType

import packaging
import packaging._elffile
import packaging._manylinux
import packaging._musllinux
import pytest

from libcprobe import compat

_ELF_NAMES = ("ELFFile", "ELFInvalid", "EIClass", "EIData", "EMachine")

ROUTES: list[tuple[ModuleType, str, object]] = [
    *((packaging._elffile, name, getattr(compat, name)) for name in _ELF_NAMES),
    *((packaging._manylinux, name, getattr(compat, name)) for name in _ELF_NAMES[2:]),
    (packaging._manylinux, "ELFFile", compat.ELFFile),
    (packaging._musllinux, "ELFFile", compat.ELFFile),
    (packaging._musllinux, "_MuslVersion", compat._MuslVersion),
    (packaging._musllinux, "_parse_musl_version", compat._parse_musl_version),
    (packaging._musllinux, "_get_musl_version", compat._get_musl_version),
    (packaging._manylinux, "_GLibCVersion", compat._GLibCVersion),
    (packaging._manylinux, "_glibc_version_string_confstr", compat._glibc_version_string_confstr),
    (packaging._manylinux, "_glibc_version_string_ctypes", compat._glibc_version_string_detect),
    (packaging._manylinux, "_glibc_version_string", compat._glibc_version_string),
    (packaging._manylinux, "_parse_glibc_version", compat._parse_glibc_version),
]

for _module, _name, _value in ROUTES:
    if not hasattr(_module, _name):  # a packaging release that renamed its internals
        raise RuntimeError(f"{_module.__name__}.{_name} does not exist: update the routes")
    setattr(_module, _name, _value)


def pytest_report_header() -> list[str]:
    routed = ", ".join(f"{m.__name__.rsplit('.', 1)[-1]}.{n}" for m, n, _ in ROUTES)
    return [
        f"packaging {packaging.__version__} from {os.path.dirname(packaging.__file__)}",
        f"routed through libcprobe.compat: {routed}",
    ]


@pytest.fixture(autouse=True)
def _routes_in_place() -> None:
    # A test may monkeypatch a routed name (monkeypatch restores it afterwards); at the start
    # of every test all routes must be in place.
    for module, name, value in ROUTES:
        assert getattr(module, name) is value, f"{module.__name__}.{name} is not routed"
    compat._get_musl_version.cache_clear()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Test modules bind names at import (``from packaging._elffile import ELFFile``): every
    # routed name a test module holds must be compat's object, not packaging's original.
    routed = {name: value for _, name, value in ROUTES}
    checked: set[str] = set()
    for item in items:
        module = getattr(item, "module", None)
        if module is None or module.__name__ in checked:
            continue
        checked.add(module.__name__)
        for name, value in routed.items():
            bound = getattr(module, name, value)
            if bound is not value and getattr(bound, "__module__", "") != compat.__name__:
                raise pytest.UsageError(f"{module.__name__}.{name} was bound before routing")


_phases: dict[str, list[pytest.TestReport]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _phases.setdefault(report.nodeid, []).append(report)


def _outcome(reports: list[pytest.TestReport]) -> str:
    if any(r.failed for r in reports):
        return "failed"
    for r in reports:
        if hasattr(r, "wasxfail"):
            return "xfailed" if r.skipped else "xpassed"
    if any(r.skipped for r in reports):
        return "skipped"
    return "passed"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get("LIBCPROBE_SUITE_REPORT")
    if path:
        outcomes = {nodeid: _outcome(reports) for nodeid, reports in _phases.items()}
        with open(path, "w", encoding="utf-8") as f:
            json.dump(outcomes, f, indent=1, sort_keys=True)
