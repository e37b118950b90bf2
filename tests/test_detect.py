"""detect(): the running interpreter, programs built here, synthetic roots, the override."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import libcprobe
from libcprobe import Family, LibcVersion, OverrideError, RootError
from libcprobe._elf import read_elf

HOST_MUSL = Path("/usr/lib/x86_64-linux-musl/libc.so")
HELLO = r"""
#include <stdio.h>
#include <stdlib.h>
int main(void) { const char *h = getenv("HOME"); printf("hello %s\n", h ? h : "?"); return 0; }
"""


@pytest.fixture(scope="session")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """hello built with musl-gcc (dynamic, static, static-pie) and gcc (dynamic, static)."""
    out = tmp_path_factory.mktemp("programs")
    src = out / "hello.c"
    src.write_text(HELLO)
    musl = "/usr/lib/x86_64-linux-musl"
    libgcc = subprocess.run(
        ["gcc", "-print-libgcc-file-name"], capture_output=True, text=True, check=False
    ).stdout.strip()
    recipes = {
        "musl-dynamic": ["musl-gcc", "-o"],
        "musl-static": ["musl-gcc", "-static", "-o"],
        # Debian's musl-gcc turns a plain -static-pie into a dynamic PIE (its specs file
        # knows no rcrt1.o): link a real static PIE by hand.
        "musl-static-pie": [
            "musl-gcc",
            "-fPIE",
            "-nostartfiles",
            "-nostdlib",
            f"{musl}/rcrt1.o",
            f"{musl}/crti.o",
            f"{musl}/crtn.o",
            "-Wl,-Bstatic",
            f"-L{musl}",
            "-lc",
            libgcc,
            "-Wl,-pie,--no-dynamic-linker,-z,text",
            "-o",
        ],
        "glibc-dynamic": ["gcc", "-o"],
        "glibc-static": ["gcc", "-static", "-o"],
    }
    built: dict[str, Path] = {}
    for name, command in recipes.items():
        if shutil.which(command[0]) is None:
            continue
        target = out / name
        # crtn.o must come after the objects: put the source first for the hand-made link.
        argv = [*command, str(target), str(src)]
        if name == "musl-static-pie":
            argv = [command[0], str(src), *command[1:], str(target)]
        proc = subprocess.run(argv, capture_output=True, check=False)
        if proc.returncode == 0:
            built[name] = target
    return built


def need(programs: dict[str, Path], name: str) -> Path:
    if name not in programs:
        pytest.skip(f"{name} could not be built here (needs musl-tools / libc6-dev)")
    return programs[name]


# -- the running interpreter ---------------------------------------------------------------


def test_running_interpreter_is_this_glibc() -> None:
    info = libcprobe.detect()
    text = os.confstr("CS_GNU_LIBC_VERSION")
    assert text is not None and text.startswith("glibc ")
    assert info.family is Family.GLIBC and str(info.version) == text.split()[1]
    assert info.linkage == "dynamic" and info.can_load_extensions is True and info.running
    assert info.interpreter == read_elf(sys.executable).interpreter
    assert info.arch == "x86_64" or info.arch == read_elf(sys.executable).arch
    assert {e.source for e in info.evidence} >= {"confstr", "elf-interp", "proc-exe"}


def test_stray_musl_loader_on_a_glibc_host_does_not_make_it_musl() -> None:
    if not Path("/lib/ld-musl-x86_64.so.1").exists():
        pytest.skip("Debian's musl package is not installed here")
    assert libcprobe.detect().family is Family.GLIBC
    assert libcprobe.detect(sys.executable).family is Family.GLIBC


def test_results_are_cached_until_cleared() -> None:
    first = libcprobe.detect()
    assert libcprobe.detect() is first
    libcprobe.clear_cache()
    assert libcprobe.detect() == first


@pytest.mark.parametrize(
    ("value", "family", "version"),
    [
        ("musl-1.2", "musl", (1, 2)),
        ("glibc-2.28", "glibc", (2, 28)),
        ("none", None, None),
        ("MUSL-1.2.3", "musl", (1, 2, 3)),
        ("musl", "musl", None),
        ("bionic-24", "bionic", (24,)),
    ],
)
def test_override(
    monkeypatch: pytest.MonkeyPatch, value: str, family: str | None, version: tuple[int, ...] | None
) -> None:
    monkeypatch.setenv("LIBCPROBE_LIBC", value)
    info = libcprobe.detect()
    assert (info.family.value if info.family else None) == family
    assert (info.version.release if info.version else None) == version
    assert info.evidence[0].source == "env"
    # The override is for the running interpreter only.
    assert libcprobe.detect(sys.executable).family is Family.GLIBC


@pytest.mark.parametrize("value", ["muslx-1.2", "musl-abc", "glibc-2.28x", "glibc-"])
def test_malformed_override_is_an_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("LIBCPROBE_LIBC", value)
    with pytest.raises(OverrideError, match="LIBCPROBE_LIBC"):
        libcprobe.detect()


# -- programs built here -------------------------------------------------------------------


def test_musl_dynamic_program(programs: dict[str, Path]) -> None:
    exe = need(programs, "musl-dynamic")
    info = libcprobe.detect(exe)
    assert info.family is Family.MUSL and info.linkage == "dynamic"
    assert info.interpreter == "/lib/ld-musl-x86_64.so.1"
    assert info.version is not None and info.version >= (1, 1)
    assert info.library == "/lib/ld-musl-x86_64.so.1"
    assert info.platform_tags()[1].startswith("musllinux_1_")


@pytest.mark.parametrize("name", ["musl-static", "musl-static-pie"])
def test_musl_static_programs(programs: dict[str, Path], name: str) -> None:
    info = libcprobe.detect(need(programs, name))
    assert info.family is Family.MUSL, info.evidence
    assert info.linkage == "static" and info.version is None
    assert info.can_load_extensions is False and info.platform_tags() == []
    assert any("no version" in e.detail for e in info.evidence)


def test_glibc_programs(programs: dict[str, Path]) -> None:
    dynamic = libcprobe.detect(need(programs, "glibc-dynamic"))
    assert dynamic.family is Family.GLIBC and dynamic.linkage == "dynamic"
    assert dynamic.version == LibcVersion.parse(os.confstr("CS_GNU_LIBC_VERSION").split()[1])  # type: ignore[union-attr]
    assert dynamic.library is not None and dynamic.library.endswith("libc.so.6")
    static = libcprobe.detect(need(programs, "glibc-static"))
    assert static.family is Family.GLIBC and static.linkage == "static"
    assert static.can_load_extensions is False


def test_shell_script_launcher(tmp_path: Path) -> None:
    launcher = tmp_path / "python3"
    launcher.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    launcher.chmod(0o755)
    # The shebang names /bin/sh, a real program: detection follows it.
    info = libcprobe.detect(launcher)
    assert info.family is Family.GLIBC
    assert any(e.source == "file" and "script" in e.detail for e in info.evidence)
    env_launcher = tmp_path / "py-env"
    env_launcher.write_text("#!/usr/bin/env sh\n")
    assert libcprobe.detect(env_launcher).family is Family.GLIBC


def test_not_elf_and_missing(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    info = libcprobe.detect(text)
    assert info.family is None and "not an ELF file" in info.evidence[-1].detail
    with pytest.raises(libcprobe.FileAccessError, match="no such file"):
        libcprobe.detect(tmp_path / "missing")


# -- roots ---------------------------------------------------------------------------------


def _musl_root(tmp_path: Path, programs: dict[str, Path]) -> Path:
    if not HOST_MUSL.exists():
        pytest.skip("Debian's musl package is not installed here")
    root = tmp_path / "root"
    (root / "usr/lib/x86_64-linux-musl").mkdir(parents=True)
    (root / "lib").mkdir()
    (root / "usr/bin").mkdir()
    shutil.copy(HOST_MUSL, root / "usr/lib/x86_64-linux-musl/libc.so")
    (root / "lib/ld-musl-x86_64.so.1").symlink_to("/usr/lib/x86_64-linux-musl/libc.so")
    shutil.copy(need(programs, "musl-dynamic"), root / "usr/bin/python3")
    return root


def test_root_with_a_musl_program(tmp_path: Path, programs: dict[str, Path]) -> None:
    root = _musl_root(tmp_path, programs)
    info = libcprobe.detect(root=root)
    assert info.family is Family.MUSL and info.executable == "/usr/bin/python3"
    host = libcprobe.detect(need(programs, "musl-dynamic"))
    assert info.version == host.version and info.root == str(root)


def test_root_symlink_escape_stays_inside(tmp_path: Path, programs: dict[str, Path]) -> None:
    root = _musl_root(tmp_path, programs)
    (root / "lib/ld-musl-x86_64.so.1").unlink()
    (root / "usr/lib/x86_64-linux-musl/libc.so").unlink()
    # Relative link climbing far above the root: under chroot rules it stops at the root, so
    # it names <root>/usr/lib/x86_64-linux-musl/libc.so, which is gone: never the host's file.
    (root / "lib/ld-musl-x86_64.so.1").symlink_to("../../../../../../../../" + str(HOST_MUSL))
    info = libcprobe.detect(root=root)
    assert info.family is Family.MUSL and info.version is None
    assert all(str(HOST_MUSL) != e.path for e in info.evidence)


def test_root_symlink_loop(tmp_path: Path, programs: dict[str, Path]) -> None:
    root = _musl_root(tmp_path, programs)
    (root / "usr/bin/python3").unlink()
    (root / "usr/bin/python3").symlink_to("/usr/bin/loop")
    (root / "usr/bin/loop").symlink_to("python3")
    with pytest.raises(RootError, match="symbolic links"):
        libcprobe.detect("/usr/bin/python3", root=root)
    # Without an explicit executable the looping candidate is skipped: the loader answers.
    assert libcprobe.detect(root=root).family is Family.MUSL


def test_root_with_missing_loader(tmp_path: Path, programs: dict[str, Path]) -> None:
    root = _musl_root(tmp_path, programs)
    (root / "usr/lib/x86_64-linux-musl/libc.so").unlink()
    info = libcprobe.detect(root=root)
    assert info.family is Family.MUSL and info.version is None
    assert info.can_load_extensions is False  # its loader is gone: it cannot start
    assert any("does not exist in this root" in e.detail for e in info.evidence)


def test_root_whose_loader_is_not_musl(tmp_path: Path, programs: dict[str, Path]) -> None:
    root = _musl_root(tmp_path, programs)
    (root / "usr/lib/x86_64-linux-musl/libc.so").write_text("not a loader")
    info = libcprobe.detect(root=root)
    assert info.version is None
    assert any("not an ELF file" in e.detail for e in info.evidence)


def test_root_whose_sh_is_a_script(tmp_path: Path, programs: dict[str, Path]) -> None:
    root = _musl_root(tmp_path, programs)
    (root / "usr/bin/python3").rename(root / "usr/bin/dash")
    (root / "bin").mkdir()
    (root / "bin/sh").write_text("#!/usr/bin/dash\n")
    info = libcprobe.detect(root=root)
    assert info.family is Family.MUSL and info.version is not None


def test_root_with_only_a_static_shell_and_a_loader(
    tmp_path: Path, programs: dict[str, Path]
) -> None:
    """Like the e2e rootfs: /bin/sh is a static glibc busybox, the libc is musl."""
    root = _musl_root(tmp_path, programs)
    (root / "usr/bin/python3").unlink()
    (root / "bin").mkdir()
    shutil.copy(need(programs, "glibc-static"), root / "bin/sh")
    info = libcprobe.detect(root=root)
    assert info.family is Family.MUSL and info.version is not None


def test_root_that_is_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(RootError):
        libcprobe.detect(root=tmp_path / "missing")


def test_empty_root(tmp_path: Path) -> None:
    info = libcprobe.detect(root=tmp_path)
    assert info.family is None and "no program" in info.evidence[-1].detail


def test_never_executes_without_opt_in(
    programs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []

    def deny(*args: object, **kwargs: object) -> None:
        events.append(repr(args))
        raise AssertionError("libcprobe started a process")

    monkeypatch.setattr(subprocess, "Popen", deny)
    monkeypatch.setattr(os, "execv", deny)
    monkeypatch.setattr(os, "posix_spawn", deny)
    for exe in programs.values():
        libcprobe.detect(exe)
    libcprobe.detect()
    assert events == []


def test_allow_execute_cross_checks(programs: dict[str, Path]) -> None:
    exe = need(programs, "musl-dynamic")
    info = libcprobe.detect(exe, allow_execute=True)
    executed = [e for e in info.evidence if e.source == "execute"]
    assert executed and "agrees" in executed[0].detail
    assert info.version == libcprobe.detect(exe).version
