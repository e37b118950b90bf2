"""The seed scenario end to end: libcprobe inside real musl CPython 3.11 interpreters (dynamic
and fully static, in a glibc-free musl chroot and on the host) and in the host's glibc Python,
next to what ``packaging`` says in the same interpreter. What each test proves: docs/e2e.md."""

from __future__ import annotations

import filecmp
import os
from pathlib import Path
from typing import Any

import pytest

from .harness import E2E, MUSL_LOADER, TARGET, TARGETS, Target, packaging_order_tags

pytestmark = pytest.mark.e2e

STATIC = [TARGET["static-chroot"], TARGET["static-host"]]
DYNAMIC_MUSL = [t for t in TARGETS if t.python == "dynamic"]
HOST_GLIBC = TARGET["glibc-host"]
LOADER_PAIRS = [
    (TARGET["dynamic-loader-chroot"], TARGET["dynamic-chroot"]),
    (TARGET["dynamic-loader-host"], TARGET["dynamic-host"]),
]
FACTS = ("family", "version", "linkage", "arch", "can_load_extensions", "platform_tags")


def ids(targets: list[Target]) -> list[str]:
    return [t.name for t in targets]


def api_dict(probe: dict[str, Any]) -> dict[str, Any]:
    """``detect().to_dict()`` plus ``platform_tags``: what ``--json`` prints."""
    return {k: v for k, v in probe["libcprobe"].items() if k != "platform_tags_linux_last"}


def musllinux_tags(version: str) -> list[str]:
    major, minor = (int(n) for n in version.split(".")[:2])
    return [f"musllinux_{major}_{m}_x86_64" for m in range(minor, -1, -1)]


# -- dynamic musl ----------------------------------------------------------------------------


def test_dynamic_musl_in_chroot(e2e: E2E, host_musl_version: str) -> None:
    """The dynamic interpreter in the glibc-free chroot: musl, the exact version of the musl
    copied into the rootfs, dynamic, can load extensions; packaging agrees on musl 1.x."""
    # The expected version is the host package's: the rootfs loader must be its libc.so.
    loader = e2e.rootfs / MUSL_LOADER.lstrip("/")
    assert filecmp.cmp(loader, os.path.realpath(MUSL_LOADER), shallow=False), (
        f"{loader} is not the host's musl {host_musl_version}: rerun the build with --force"
    )
    probe = e2e.probe(TARGET["dynamic-chroot"])
    ours = probe["libcprobe"]
    assert ours["family"] == "musl"
    assert ours["version"] == host_musl_version
    assert ours["linkage"] == "dynamic"
    assert ours["can_load_extensions"] is True
    assert ours["arch"] == "x86_64"
    assert ours["interpreter"] == MUSL_LOADER
    assert ours["running"] is True
    assert probe["proc_self_exe"] == os.path.realpath(e2e.python(TARGET["dynamic-chroot"]))
    assert sorted(ours["platform_tags"]) == sorted(
        ["linux_x86_64", *musllinux_tags(ours["version"])]
    )
    major, minor = (int(n) for n in host_musl_version.split(".")[:2])
    assert probe["packaging"]["musl_version"] == [major, minor]


@pytest.mark.parametrize("target", DYNAMIC_MUSL, ids=ids(DYNAMIC_MUSL))
def test_dynamic_musl_everywhere(e2e: E2E, host_musl_version: str, target: Target) -> None:
    """Directly or through the loader, in the chroot or on the host: the same musl answer."""
    ours = e2e.probe(target)["libcprobe"]
    assert (ours["family"], ours["version"], ours["linkage"]) == (
        "musl",
        host_musl_version,
        "dynamic",
    )
    assert ours["can_load_extensions"] is True


@pytest.mark.parametrize("target", DYNAMIC_MUSL, ids=ids(DYNAMIC_MUSL))
def test_the_short_way_is_the_general_routine(e2e: E2E, target: Target) -> None:
    """In the real interpreter ``detect()`` takes the short way (``libcprobe._quick``) when
    python3 is started directly, and its answer is what the general routine answers, evidence
    included; started through the loader (/proc/self/exe is then libc.so), the general
    routine answers alone."""
    probe = e2e.probe(target)
    general = probe["libcprobe_general"]
    assert general is not None
    assert general["quick_answered"] is (not target.loader)
    assert general["detect"] == {k: v for k, v in api_dict(probe).items() if k != "platform_tags"}


@pytest.mark.parametrize(("via_loader", "direct"), LOADER_PAIRS, ids=["chroot", "host"])
def test_started_through_the_loader(e2e: E2E, via_loader: Target, direct: Target) -> None:
    """``/lib/ld-musl-x86_64.so.1 python3 -m libcprobe``: /proc/self/exe is the loader (which is
    musl's libc), and family, version and tags are those of ``python3`` started directly."""
    loaded = e2e.probe(via_loader)
    ours = loaded["libcprobe"]
    if via_loader.where == "chroot":
        assert loaded["proc_self_exe"] == MUSL_LOADER
    else:  # Debian's /lib/ld-musl-x86_64.so.1 is a symlink to its libc.so
        assert loaded["proc_self_exe"] == os.path.realpath(MUSL_LOADER)
    assert loaded["executable"] == e2e.python(direct)
    plain = e2e.probe(direct)["libcprobe"]
    for fact in ("family", "version", "linkage", "can_load_extensions", "platform_tags"):
        assert ours[fact] == plain[fact], fact
    cli = e2e.cli_json(via_loader)
    assert {k: cli[k] for k in FACTS} == {k: plain[k] for k in FACTS}


# -- tags: libcprobe against packaging in the same interpreter --------------------------------


TAG_TARGETS = [*DYNAMIC_MUSL, HOST_GLIBC]


@pytest.mark.parametrize("target", TAG_TARGETS, ids=ids(TAG_TARGETS))
def test_platform_tags_equal_packaging(e2e: E2E, target: Target) -> None:
    """``libcprobe.detect().platform_tags()`` is ``list(packaging.tags.platform_tags())``, in
    the same interpreter, tag for tag and in the same order (packaging's order: libcprobe's
    default from packaging 26.3 on, ``linux_first=False`` before)."""
    probe = e2e.probe(target)
    theirs = probe["packaging"]
    assert theirs["platform_tags_error"] is None, theirs["platform_tags_error"]
    assert theirs["platform_tags"], "packaging listed no tags"
    assert packaging_order_tags(probe, e2e.packaging_version) == theirs["platform_tags"]


# -- static musl ----------------------------------------------------------------------------


@pytest.mark.parametrize("target", STATIC, ids=ids(STATIC))
def test_static_musl(e2e: E2E, target: Target) -> None:
    """The fully static interpreter with stock ctypes (``import ctypes`` raises there):
    libcprobe imports and answers musl, static, cannot load extensions, no tags; packaging's
    answer differs (recorded in the table)."""
    probe = e2e.probe(target)
    if e2e.static_ctypes_stock:
        assert probe["ctypes_import"].startswith("OSError("), probe["ctypes_import"]
    ours = probe["libcprobe"]
    assert ours["family"] == "musl"
    assert ours["linkage"] == "static"
    assert ours["can_load_extensions"] is False
    assert ours["platform_tags"] == []
    assert ours["interpreter"] is None
    cli = e2e.cli_json(target)
    assert {k: cli[k] for k in FACTS} == {k: ours[k] for k in FACTS}
    theirs = probe["packaging"]
    assert theirs["platform_tags_error"] is not None or theirs["platform_tags"] != []
    if e2e.static_ctypes_stock:
        assert theirs["platform_tags_error"] is not None  # OSError from its `import ctypes`


@pytest.mark.parametrize("target", STATIC, ids=ids(STATIC))
def test_static_musl_says_why(e2e: E2E, target: Target) -> None:
    """``python -m libcprobe`` (text) on the static interpreter explains the empty tag list."""
    text = e2e.run_ok(target, "-m", "libcprobe")
    assert "statically linked" in text
    assert "dynamically linked build" in text


# -- the host's glibc python ------------------------------------------------------------------


def test_host_glibc_python(e2e: E2E) -> None:
    """The test run's own (glibc) Python, on a host that also has Debian's musl installed
    (``/lib/ld-musl-x86_64.so.1`` exists): still glibc, the version ``confstr`` gives."""
    assert Path(MUSL_LOADER).exists(), "the host should have Debian's musl package installed"
    confstr = os.confstr("CS_GNU_LIBC_VERSION") or ""
    assert confstr.startswith("glibc "), confstr
    ours = e2e.probe(HOST_GLIBC)["libcprobe"]
    assert ours["family"] == "glibc"
    assert ours["version"] == confstr.split()[1]
    assert ours["linkage"] == "dynamic"
    assert ours["can_load_extensions"] is True
    assert not any(t.startswith("musllinux") for t in ours["platform_tags"])


# -- every interpreter: no process, no ctypes, the CLI says what the API says -----------------


@pytest.mark.parametrize("target", TARGETS, ids=ids(list(TARGETS)))
def test_never_starts_a_process(e2e: E2E, target: Target) -> None:
    """Under an audit hook, ``import libcprobe``, ``detect()``, ``detect().platform_tags()``
    and the CLI's ``main(["--json"])`` fire no process-starting event (``subprocess.Popen``,
    ``os.system``, ``os.exec``, ``os.posix_spawn``, ``os.spawn``, ``os.fork``...) and no
    ``ctypes`` event, and leave ``ctypes`` out of ``sys.modules``; the hook itself does see
    the one process the probe starts afterwards."""
    probe = e2e.probe(target)
    assert probe["events"]["libcprobe"] == []
    assert probe["ctypes_loaded_before"] is False
    assert probe["ctypes_loaded_after_libcprobe"] is False
    assert any(e.startswith("subprocess.Popen") for e in probe["events"]["control"])
    # The copy under test, not some other libcprobe the interpreter could find.
    where = "/opt/pythonpath" if target.where == "chroot" else str(e2e.pythonpath)
    assert probe["libcprobe_file"] == f"{where}/libcprobe/__init__.py"


@pytest.mark.parametrize("target", TARGETS, ids=ids(list(TARGETS)))
def test_cli_json_is_the_api(e2e: E2E, target: Target) -> None:
    """``main(["--json"])`` in-process and ``python -m libcprobe --json`` in a fresh process
    print exactly ``detect().to_dict()`` plus ``platform_tags``."""
    probe = e2e.probe(target)
    assert probe["cli_status"] == 0
    assert probe["cli_json"] == api_dict(probe)
    assert e2e.cli_json(target) == api_dict(probe)
