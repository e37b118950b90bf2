"""bionic, uClibc and non-Linux platforms, with hand-made programs (no real fixtures exist)."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest

import elfbuild
import libcprobe
from libcprobe import Family


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIBCPROBE_LIBC", raising=False)
    libcprobe.clear_cache()


def _android_program(api: int) -> bytes:
    # NDK programs: PT_INTERP /system/bin/linker64, DT_NEEDED libc.so, and the
    # .note.android.ident note (owner "Android", type 1, API level first).
    spec = elfbuild.Spec(
        machine=183,
        interp="/system/bin/linker64",
        needed=["libc.so", "libm.so"],
        verneed=[],
        notes=[("Android", 1, struct.pack("<i", api) + bytes(128))],
    )
    return elfbuild.build(spec).data


def test_android_program_and_root(tmp_path: Path) -> None:
    root = tmp_path / "android"
    (root / "system/bin").mkdir(parents=True)
    (root / "system/bin/app_process64").write_bytes(_android_program(24))
    (root / "system/bin/linker64").write_bytes(b"")  # present (the program can start), unread
    info = libcprobe.detect("/system/bin/app_process64", root=root)
    assert info.family is Family.BIONIC and info.version == (24,) and info.arch == "aarch64"
    assert info.platform_tags()[0] == "android_24_arm64_v8a"
    (root / "system/build.prop").write_text(
        "ro.build.version.release=14\nro.build.version.sdk=34\n"
    )
    libcprobe.clear_cache()
    info = libcprobe.detect("/system/bin/app_process64", root=root)
    assert info.version == (34,) and any(e.path == "/system/build.prop" for e in info.evidence)
    report = libcprobe.inspect(root / "system/bin/app_process64")
    assert report.family == "bionic"


def test_uclibc_loader_name(tmp_path: Path) -> None:
    prog = tmp_path / "prog"
    spec = elfbuild.Spec(
        machine=8,
        elf_class=32,
        little=False,
        interp="/lib/ld-uClibc.so.0",
        needed=["libc.so.0"],
        verneed=[],
    )
    prog.write_bytes(elfbuild.build(spec).data)
    info = libcprobe.detect(prog)
    assert info.family is Family.UCLIBC and info.arch == "mips" and info.version is None
    assert info.platform_tags() == []  # /lib/ld-uClibc.so.0 is not on this machine
    assert info.can_load_extensions is False


def test_not_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    for platform in ("darwin", "win32"):
        libcprobe.clear_cache()
        monkeypatch.setattr(sys, "platform", platform)
        info = libcprobe.detect()
        assert info.family is None and "not Linux" in info.evidence[0].detail
        assert info.platform_tags() == []
