"""The environments installers meet in the wild (issue 17), each pinned with a root laid out like
the real thing, from real binaries.

Every root is built in ``tmp_path`` from the real, minimised binaries in tests/fixtures/ (see
manifest.json: Debian's libc6 and musl packages, programs built from hello.c, PyPI extension
modules) and tests/fixtures/environments/ (see PROVENANCE.json: programs linked the way Nix and
Guix link, a glibc-compatibility shim over musl written for these tests, Debian's libc6-x32),
placed where the distribution puts them, with its symbolic links. A program built from hello.c
stands in for ``python3``: libcprobe reads only the program's ELF facts (``PT_INTERP``,
``DT_NEEDED``, ``DT_RUNPATH``), which hello.c built by the same toolchain shares with the
interpreter. Where a file is synthetic or patched, the test says so.

docs/environments.md is the table of these answers: keep the two in step.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path
from typing import Any, Optional

import pytest

import elfbuild
import libcprobe
from libcprobe import Family, LibcInfo, LibcVersion
from libcprobe._classify import family_of_loader_name
from shared import host_glibc_version, run_json

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
ENV_FIXTURES = FIXTURES / "environments"

# -- the real files ------------------------------------------------------------------------------

BOOKWORM = "debian/bookworm/amd64"
TRIXIE = "debian/trixie/amd64"
GLIBC_PROGRAM = "built/gcc-dynamic/hello"  # PT_INTERP /lib64/ld-linux-x86-64.so.2, libc.so.6
MUSL_PROGRAM = "built/musl-gcc-dynamic/hello"  # PT_INTERP /lib/ld-musl-x86_64.so.1, libc.so
MUSL_STATIC = "built/musl-gcc-static/hello"
GO_STATIC = "npm/esbuild-linux-x64/esbuild"
NIX_GLIBC = "/nix/store/9jfpqzgla3sbz5fv5bm0xkvnm4z5vjwl-glibc-2.41-48/lib"
GUIX_GLIBC = "/gnu/store/3xs6zgb4ly5iz1xqnkvkmhnsmv0fz2fa-glibc-2.41/lib"

#: A layout: path inside the root -> a fixture path (copied), "-> target" (a symbolic link,
#: as the package ships it) or "dir".
Layout = dict[str, str]


def merged_usr() -> Layout:
    """Debian 12+ / Ubuntu / Fedora: /bin, /lib, /lib64 are links into /usr."""
    return {"/bin": "-> usr/bin", "/lib": "-> usr/lib", "/lib64": "-> usr/lib64", "/usr/bin": "dir"}


def debian_glibc(base: str = BOOKWORM) -> Layout:
    """libc6 (amd64) as Debian 12 installs it (merged /usr; the package's own symlinks)."""
    return {
        **merged_usr(),
        "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2": f"{base}/libc6/ld-linux-x86-64.so.2",
        "/usr/lib/x86_64-linux-gnu/libc.so.6": f"{base}/libc6/libc.so.6",
        "/usr/lib64/ld-linux-x86-64.so.2": "-> /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
    }


def alpine_musl(base: str = TRIXIE) -> Layout:
    """Alpine's musl package: the loader is the file, libc.musl-<arch>.so.1 links to it; busybox
    (a dynamic musl program) provides /bin/sh. Debian's musl libc.so is the same musl build."""
    return {
        "/lib/ld-musl-x86_64.so.1": f"{base}/musl/libc.so",
        "/lib/libc.musl-x86_64.so.1": "-> ld-musl-x86_64.so.1",
        "/bin/busybox": MUSL_PROGRAM,
        "/bin/sh": "-> /bin/busybox",
        "/usr/bin/python3": MUSL_PROGRAM,
    }


def debian_musl_package(base: str = BOOKWORM) -> Layout:
    """Debian's musl package (beside libc6): libc.so in /usr/lib/x86_64-linux-musl, the
    loader name in /usr/lib linked to it."""
    return {
        "/usr/lib/x86_64-linux-musl/libc.so": f"{base}/musl/libc.so",
        "/usr/lib/ld-musl-x86_64.so.1": "-> x86_64-linux-musl/libc.so",
    }


def glibc_in(lib: str, base: str = TRIXIE) -> Layout:
    """glibc's loader and libc.so.6 in one directory of their own (a Nix or Guix store path)."""
    return {
        f"{lib}/ld-linux-x86-64.so.2": f"{base}/libc6/ld-linux-x86-64.so.2",
        f"{lib}/libc.so.6": f"{base}/libc6/libc.so.6",
    }


def without_programs(layout: Layout) -> Layout:
    """The layout without anything in a bin/ directory (a base layer: no python, no sh)."""
    return {k: v for k, v in layout.items() if "/bin/" not in k}


def build_root(root: Path, layout: Layout) -> Path:
    for inside, what in layout.items():
        dest = root / inside.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if what == "dir":
            dest.mkdir(exist_ok=True)
        elif what.startswith("-> "):
            os.symlink(what[3:], dest)
        else:
            source = (
                ENV_FIXTURES / what[len("env:") :] if what.startswith("env:") else FIXTURES / what
            )
            try:
                os.link(source, dest)
            except OSError:
                shutil.copyfile(source, dest)
    return root


def summary(info: LibcInfo) -> dict[str, Any]:
    """The facts a test pins (the evidence is checked separately)."""
    return {
        "family": info.family.value if info.family else None,
        "version": str(info.version) if info.version is not None else None,
        "linkage": info.linkage,
        "arch": info.arch,
        "library": info.library,
        "can_load_extensions": info.can_load_extensions,
        "tags": info.platform_tags()[:2],
    }


def details(info: LibcInfo, fact: Optional[str] = None) -> str:
    return "\n".join(e.detail for e in info.evidence if fact is None or e.fact == fact)


def detect_root(tmp_path: Path, layout: Layout, executable: Optional[str] = None) -> LibcInfo:
    root = build_root(tmp_path / "root", layout)
    return libcprobe.detect(executable, root=root)


def glibc_answer(version: str, library: str, arch: str = "x86_64") -> dict[str, Any]:
    major, minor = version.split(".")
    return {
        "family": "glibc",
        "version": version,
        "linkage": "dynamic",
        "arch": arch,
        "library": library,
        "can_load_extensions": True,
        "tags": [f"linux_{arch}", f"manylinux_{major}_{minor}_{arch}"],
    }


def musl_answer(version: str, library: str, arch: str = "x86_64") -> dict[str, Any]:
    major, minor, *_ = version.split(".")
    return {
        "family": "musl",
        "version": version,
        "linkage": "dynamic",
        "arch": arch,
        "library": library,
        "can_load_extensions": True,
        "tags": [f"linux_{arch}", f"musllinux_{major}_{minor}_{arch}"],
    }


# -- 1. a dynamic musl interpreter on a glibc system without musl --------------------------------


def test_musl_interpreter_on_a_glibc_root_cannot_start(tmp_path: Path) -> None:
    # python-build-standalone's musl build unpacked on Debian/Ubuntu: PT_INTERP names
    # /lib/ld-musl-x86_64.so.1, which the root does not have, so the kernel cannot start it.
    layout = {
        **debian_glibc(),
        "/usr/bin/python3": GLIBC_PROGRAM,
        "/opt/python/bin/python3": MUSL_PROGRAM,
    }
    info = detect_root(tmp_path, layout, "/opt/python/bin/python3")
    assert summary(info) == {
        "family": "musl",
        "version": None,
        "linkage": "dynamic",
        "arch": "x86_64",
        "library": None,
        "can_load_extensions": False,
        "tags": [],
    }
    assert info.interpreter == "/lib/ld-musl-x86_64.so.1"
    why = details(info, "extensions")
    assert "/lib/ld-musl-x86_64.so.1" in why and "cannot start" in why
    # The root itself is glibc: its own python3 says so.
    libcprobe.clear_cache()
    assert summary(libcprobe.detect(root=tmp_path / "root")) == glibc_answer(
        "2.36", "/lib/x86_64-linux-gnu/libc.so.6"
    )


def test_cannot_start_in_the_cli(tmp_path: Path) -> None:
    layout = {**debian_glibc(), "/opt/python/bin/python3": MUSL_PROGRAM}
    root = build_root(tmp_path / "root", layout)
    argv = ["--root", str(root), "--executable", "/opt/python/bin/python3"]
    proc = subprocess.run(
        [sys.executable, "-m", "libcprobe", *argv], capture_output=True, text=True, check=True
    )
    out = proc.stdout
    assert "extensions: cannot load: its loader /lib/ld-musl-x86_64.so.1 (PT_INTERP)" in out
    assert "statically linked" not in out and "tags:       none" in out


def test_glibc_program_on_a_musl_root_without_compat_cannot_start(tmp_path: Path) -> None:
    # The mirror image: a manylinux-built program copied onto plain Alpine.
    layout = {**alpine_musl(), "/opt/app/bin/app": GLIBC_PROGRAM}
    info = detect_root(tmp_path, layout, "/opt/app/bin/app")
    assert (info.family, info.can_load_extensions, info.platform_tags()) == (
        Family.GLIBC,
        False,
        [],
    )
    assert "/lib64/ld-linux-x86-64.so.2" in details(info, "extensions")


def test_present_loader_still_starts(tmp_path: Path) -> None:
    # Control: the same musl interpreter once Debian's musl package is installed beside glibc.
    layout = {**debian_glibc(), **debian_musl_package(), "/opt/python/bin/python3": MUSL_PROGRAM}
    info = detect_root(tmp_path, layout, "/opt/python/bin/python3")
    assert summary(info) == musl_answer("1.2.3", "/lib/ld-musl-x86_64.so.1")


# -- 2. Alpine with gcompat ----------------------------------------------------------------------


def gcompat() -> Layout:
    """gcompat's files on Alpine x86_64: its loader shim under glibc's loader name (and the
    /lib64 path glibc programs name), libgcompat.so.0, and glibc's library names linked to it.
    The shim and library are our own stand-ins (scripts/fixture-sources/compat-*.c)."""
    return {
        "/lib/ld-linux-x86-64.so.2": "env:compat-loader",
        "/lib64/ld-linux-x86-64.so.2": "-> /lib/ld-linux-x86-64.so.2",
        "/lib/libgcompat.so.0": "env:compat-glibc.so",
        "/lib/libc.so.6": "-> libgcompat.so.0",
        "/lib/libm.so.6": "-> libgcompat.so.0",
        "/lib/libpthread.so.0": "-> libgcompat.so.0",
    }


def test_alpine_gcompat_runs_glibc_programs_on_musl(tmp_path: Path) -> None:
    layout = {**alpine_musl(), **gcompat(), "/opt/app/bin/app": GLIBC_PROGRAM}
    info = detect_root(tmp_path, layout, "/opt/app/bin/app")
    assert summary(info) == musl_answer("1.2.5", "/lib/ld-musl-x86_64.so.1")
    assert info.interpreter == "/lib64/ld-linux-x86-64.so.2"
    family = details(info, "family")
    assert "compatibility shim" in family and "/lib/ld-musl-x86_64.so.1" in family
    assert "libgcompat.so.0" in family and "'2.8'" in family


def test_a_musl_loader_path_that_is_no_libc_borrows_no_version(tmp_path: Path) -> None:
    # Only a loader under glibc's name can be a shim over musl. A file at a musl loader's path
    # that is not musl's libc.so (here a damaged copy, its usage text overwritten) says
    # nothing of the root's other musl loaders: no version is taken from them (found by the
    # second corpus of the short way: a 1.2.6 program was reported with the host's 1.2.3).
    layout = {**alpine_musl(), "/opt/musl/ld-musl-x86_64.so.1": f"{TRIXIE}/musl/libc.so"}
    root = build_root(tmp_path, layout)
    damaged = root / "opt/musl/ld-musl-x86_64.so.1"
    data = damaged.read_bytes()
    damaged.unlink()
    damaged.write_bytes(data.replace(b"musl libc", b"other lib"))
    app = root / "opt/app/bin/app"
    app.parent.mkdir(parents=True)
    app.write_bytes(elfbuild.build(elfbuild.Spec(interp="/opt/musl/ld-musl-x86_64.so.1")).data)
    info = libcprobe.detect("/opt/app/bin/app", root=root)
    assert info.family is Family.MUSL  # its loader's name
    assert info.version is None and info.library is None
    assert "compatibility shim" not in details(info)


def test_alpine_libc6_compat_links_glibc_loader_name_to_musl(tmp_path: Path) -> None:
    # Alpine's older libc6-compat: /lib64/ld-linux-x86-64.so.2 -> /lib/libc.musl-x86_64.so.1.
    layout = {
        **alpine_musl(),
        "/lib64/ld-linux-x86-64.so.2": "-> /lib/libc.musl-x86_64.so.1",
        "/opt/app/bin/app": GLIBC_PROGRAM,
    }
    info = detect_root(tmp_path, layout, "/opt/app/bin/app")
    assert summary(info) == musl_answer("1.2.5", "/lib64/ld-linux-x86-64.so.2")


# -- 3. layouts ----------------------------------------------------------------------------------


def test_alpine_with_sgerrand_glibc_compat(tmp_path: Path) -> None:
    # sgerrand's glibc package: a whole glibc under /usr/glibc-compat, /lib64 pointing there.
    layout = {
        **alpine_musl(),
        "/usr/glibc-compat/lib/ld-linux-x86-64.so.2": f"{BOOKWORM}/libc6/ld-linux-x86-64.so.2",
        "/usr/glibc-compat/lib/libc.so.6": f"{BOOKWORM}/libc6/libc.so.6",
        "/lib64/ld-linux-x86-64.so.2": "-> /usr/glibc-compat/lib/ld-linux-x86-64.so.2",
        "/opt/app/bin/app": GLIBC_PROGRAM,
    }
    info = detect_root(tmp_path, layout, "/opt/app/bin/app")
    assert summary(info) == glibc_answer("2.36", "/usr/glibc-compat/lib/libc.so.6")
    libcprobe.clear_cache()
    # The system itself (its python3, its /bin/sh) is musl.
    assert summary(libcprobe.detect(root=tmp_path / "root")) == musl_answer(
        "1.2.5", "/lib/ld-musl-x86_64.so.1"
    )


def void_musl() -> Layout:
    """Void Linux (musl): merged /usr, musl is /usr/lib/libc.so with the loader name linked to
    it, and no libc.musl-<arch>.so.1 anywhere."""
    return {
        **merged_usr(),
        "/usr/lib/libc.so": f"{TRIXIE}/musl/libc.so",
        "/usr/lib/ld-musl-x86_64.so.1": "-> libc.so",
        "/usr/bin/python3": MUSL_PROGRAM,
        "/usr/bin/sh": MUSL_PROGRAM,
    }


def test_void_musl(tmp_path: Path) -> None:
    info = detect_root(tmp_path, void_musl())
    assert summary(info) == musl_answer("1.2.5", "/lib/ld-musl-x86_64.so.1")
    assert info.executable == "/usr/bin/python3"


def test_void_musl_without_programs(tmp_path: Path) -> None:
    # A Void base layer without python or sh: the loader in /usr/lib answers.
    layout = without_programs(void_musl())
    info = detect_root(tmp_path, layout)
    assert (str(info.family), str(info.version), info.arch) == ("musl", "1.2.5", "x86_64")


def nix_store() -> Layout:
    """A Nix-built image (dockerTools): only /nix/store, glibc in its own store path, every
    program's PT_INTERP and DT_RUNPATH pointing there; no /bin/sh, no /lib."""
    python = "/nix/store/0c7sm7f2vqzq2hnmlm5i8r2bsjh2i8dd-python3-3.12.8"
    return {
        **glibc_in(NIX_GLIBC),
        f"{python}/bin/python3.12": "env:nix-hello",
        f"{python}/bin/python3": "-> python3.12",
    }


def test_nix_store_image(tmp_path: Path) -> None:
    info = detect_root(tmp_path, nix_store())
    assert summary(info) == glibc_answer("2.41", f"{NIX_GLIBC}/libc.so.6")


def test_nix_program(tmp_path: Path) -> None:
    python = "/nix/store/0c7sm7f2vqzq2hnmlm5i8r2bsjh2i8dd-python3-3.12.8/bin/python3"
    info = detect_root(tmp_path, nix_store(), python)
    assert summary(info) == glibc_answer("2.41", f"{NIX_GLIBC}/libc.so.6")
    assert info.interpreter == f"{NIX_GLIBC}/ld-linux-x86-64.so.2"


def test_nixos_profile(tmp_path: Path) -> None:
    # NixOS proper: the system profile's bin/ is linked from /run/current-system/sw.
    python = "/nix/store/0c7sm7f2vqzq2hnmlm5i8r2bsjh2i8dd-python3-3.12.8/bin/python3"
    system = "/nix/store/q4jz9f1m2gqw7kx0l3x5sq3a6f7w8yvb-system-path"
    layout = {
        **nix_store(),
        f"{system}/bin/python3": f"-> {python}",
        "/run/current-system": "-> /nix/store/c1xy1m4xz1rk8spwq8n3q2d2v9r0bhyn-nixos-system-25.11",
        "/nix/store/c1xy1m4xz1rk8spwq8n3q2d2v9r0bhyn-nixos-system-25.11/sw": f"-> {system}",
    }
    info = detect_root(tmp_path, layout)
    assert summary(info) == glibc_answer("2.41", f"{NIX_GLIBC}/libc.so.6")
    assert info.executable == "/run/current-system/sw/bin/python3"


def test_guix_pack(tmp_path: Path) -> None:
    python = "/gnu/store/kq1jxd8hrm0gqaxw6j4i8cz9vf8qg3sv-python-3.11.11"
    layout = {
        **glibc_in(GUIX_GLIBC),
        f"{python}/bin/python3": "env:guix-hello",
    }
    info = detect_root(tmp_path, layout)
    assert summary(info) == glibc_answer("2.41", f"{GUIX_GLIBC}/libc.so.6")
    libcprobe.clear_cache()
    info = libcprobe.detect(f"{python}/bin/python3", root=tmp_path / "root")
    assert summary(info) == glibc_answer("2.41", f"{GUIX_GLIBC}/libc.so.6")


def test_nix_store_with_two_glibcs_picks_the_newest(tmp_path: Path) -> None:
    older = "/nix/store/1b0k7dzlx2nnp8rfmgc1ahkf8q53lxwz-glibc-2.36-1/lib"
    layout = {
        **glibc_in(older, BOOKWORM),
        **glibc_in(NIX_GLIBC),
    }
    info = detect_root(tmp_path, layout)
    assert str(info.version) == "2.41"
    assert older + "/ld-linux-x86-64.so.2" in details(info, "family")


def distroless_base() -> Layout:
    """gcr.io/distroless/base-debian12: Debian's libc6 and a few config files; no shell, no
    ldd, no python."""
    return {
        **debian_glibc(),
        "/etc/os-release": "dir",
        "/usr/bin": "dir",
    }


def test_distroless_base(tmp_path: Path) -> None:
    layout = {k: v for k, v in distroless_base().items() if k != "/etc/os-release"}
    info = detect_root(tmp_path, layout)
    assert summary(info) == glibc_answer("2.36", "/lib/x86_64-linux-gnu/libc.so.6")


def test_distroless_python(tmp_path: Path) -> None:
    layout = {
        **debian_glibc(),
        "/usr/bin/python3.11": GLIBC_PROGRAM,
        "/usr/bin/python3": "-> python3.11",
    }
    info = detect_root(tmp_path, layout)
    assert summary(info) == glibc_answer("2.36", "/lib/x86_64-linux-gnu/libc.so.6")


def test_distroless_static_and_scratch(tmp_path: Path) -> None:
    # distroless/static: no libc at all; scratch: nothing; scratch with one static Go program.
    for name, layout in (
        ("static", {"/etc/passwd": "dir", "/tmp": "dir"}),
        ("scratch", {}),
        ("scratch-go", {"/esbuild": GO_STATIC}),
    ):
        root = build_root(tmp_path / name, layout)
        root.mkdir(exist_ok=True)
        info = libcprobe.detect(root=root)
        assert (info.family, info.platform_tags()) == (None, []), name
        assert "no program and no C library" in details(info, "family")
    info = libcprobe.detect("/esbuild", root=tmp_path / "scratch-go")
    assert (info.family, info.linkage, info.can_load_extensions) == (None, "static", False)
    assert "Go" in details(info, "family")


def test_scratch_with_a_static_musl_program(tmp_path: Path) -> None:
    root = build_root(tmp_path / "root", {"/app": MUSL_STATIC})
    info = libcprobe.detect("/app", root=root)
    assert summary(info) == {
        "family": "musl",
        "version": None,
        "linkage": "static",
        "arch": "x86_64",
        "library": None,
        "can_load_extensions": False,
        "tags": [],
    }


def debian_with_musl() -> Layout:
    """Debian 12 with the musl package installed beside libc6 (musl-tools' runtime)."""
    return {
        **debian_glibc(),
        **debian_musl_package(),
        "/usr/bin/python3": GLIBC_PROGRAM,
        "/usr/local/bin/hello-musl": MUSL_PROGRAM,
    }


def test_debian_with_musl_beside_glibc(tmp_path: Path) -> None:
    info = detect_root(tmp_path, debian_with_musl())
    assert summary(info) == glibc_answer("2.36", "/lib/x86_64-linux-gnu/libc.so.6")
    libcprobe.clear_cache()
    info = libcprobe.detect("/usr/local/bin/hello-musl", root=tmp_path / "root")
    assert summary(info) == musl_answer("1.2.3", "/lib/ld-musl-x86_64.so.1")


def test_debian_with_musl_without_programs_is_glibc(tmp_path: Path) -> None:
    layout = without_programs(debian_with_musl())
    info = detect_root(tmp_path, layout)
    assert (str(info.family), str(info.version)) == ("glibc", "2.36")
    assert "ld-musl-x86_64.so.1" in details(info, "family")  # "also present"


def alpine_i686() -> Layout:
    """Alpine x86 (32-bit): the loader is ld-musl-i386.so.1 while the soname is
    libc.musl-x86.so.1; extensions from musllinux i686 wheels need the latter."""
    ext = "pypi/markupsafe-3.0.2-musllinux_1_2_i686/_speedups.cpython-311-i386-linux-musl.so"
    return {
        "/lib/ld-musl-i386.so.1": "debian/trixie/i386/musl/libc.so",
        "/lib/libc.musl-x86.so.1": "-> ld-musl-i386.so.1",
        "/usr/lib/python3.11/site-packages/markupsafe/_speedups.so": ext,
    }


def test_alpine_i686(tmp_path: Path) -> None:
    info = detect_root(tmp_path, alpine_i686())
    assert summary(info) == musl_answer("1.2.5", "/lib/ld-musl-i386.so.1", arch="i686")
    libcprobe.clear_cache()
    info = libcprobe.detect(
        "/usr/lib/python3.11/site-packages/markupsafe/_speedups.so", root=tmp_path / "root"
    )
    assert summary(info) == musl_answer("1.2.5", "/lib/libc.musl-x86.so.1", arch="i686")


def test_alpine_i686_program(tmp_path: Path) -> None:
    # SYNTHETIC i686 program (no 32-bit musl program among the fixtures) with Alpine's names:
    # PT_INTERP /lib/ld-musl-i386.so.1, DT_NEEDED libc.musl-x86.so.1.
    root = build_root(tmp_path / "root", alpine_i686())
    (root / "usr/bin").mkdir(parents=True)
    program = elfbuild.Spec(
        elf_class=32,
        machine=3,
        interp="/lib/ld-musl-i386.so.1",
        needed=["libc.musl-x86.so.1"],
        verneed=[],
        notes=[],
        runpath=None,
    )
    (root / "usr/bin/python3").write_bytes(elfbuild.build(program).data)
    info = libcprobe.detect(root=root)
    assert summary(info) == musl_answer("1.2.5", "/lib/ld-musl-i386.so.1", arch="i686")
    assert info.executable == "/usr/bin/python3"


def riscv64_roots() -> dict[str, Layout]:
    base = "debian/trixie/riscv64"
    loader = "ld-linux-riscv64-lp64d.so.1"
    return {
        "glibc": {
            **merged_usr(),
            f"/usr/lib/riscv64-linux-gnu/{loader}": f"{base}/libc6/{loader}",
            "/usr/lib/riscv64-linux-gnu/libc.so.6": f"{base}/libc6/libc.so.6",
            f"/usr/lib/{loader}": f"-> riscv64-linux-gnu/{loader}",
        },
        "musl": {
            "/lib/ld-musl-riscv64.so.1": f"{base}/musl/libc.so",
            "/lib/libc.musl-riscv64.so.1": "-> ld-musl-riscv64.so.1",
        },
    }


def synthetic_program(machine: int, interp: str, needed: str) -> bytes:
    """SYNTHETIC: a minimal program header set (tests/elfbuild.py), for machines we have no
    real program for; only PT_INTERP, DT_NEEDED and e_machine matter here."""
    return elfbuild.build(
        elfbuild.Spec(
            machine=machine,
            etype=3,
            interp=interp,
            needed=[needed],
            verneed=[],
            notes=[],
            runpath=None,
        )
    ).data


def test_riscv64_roots(tmp_path: Path) -> None:
    roots = riscv64_roots()
    glibc = detect_root(tmp_path / "g", roots["glibc"])
    assert summary(glibc) == glibc_answer(
        "2.41", "/lib/riscv64-linux-gnu/libc.so.6", arch="riscv64"
    )
    musl = detect_root(tmp_path / "m", roots["musl"])
    assert summary(musl) == musl_answer("1.2.5", "/lib/ld-musl-riscv64.so.1", arch="riscv64")
    # A (synthetic) riscv64 program in each root finds the same libc through its PT_INTERP.
    for name, interp, needed, expect in (
        (
            "g",
            "/lib/ld-linux-riscv64-lp64d.so.1",
            "libc.so.6",
            glibc_answer("2.41", "/lib/riscv64-linux-gnu/libc.so.6", "riscv64"),
        ),
        (
            "m",
            "/lib/ld-musl-riscv64.so.1",
            "libc.musl-riscv64.so.1",
            musl_answer("1.2.5", "/lib/ld-musl-riscv64.so.1", "riscv64"),
        ),
    ):
        program = tmp_path / name / "root" / "usr/bin/python3"
        program.parent.mkdir(parents=True, exist_ok=True)
        program.write_bytes(synthetic_program(elfbuild_machine("riscv64"), interp, needed))
        libcprobe.clear_cache()
        assert (
            summary(libcprobe.detect("/usr/bin/python3", root=tmp_path / name / "root")) == expect
        )


def elfbuild_machine(arch: str) -> int:
    return {"riscv64": 243, "loongarch64": 258}[arch]


@pytest.mark.parametrize(
    ("interp", "family"),
    [
        ("/lib64/ld-linux-loongarch-lp64d.so.1", Family.GLIBC),  # glibc, LP64D (Debian loong64)
        ("/lib64/ld-linux-loongarch-lp64s.so.1", Family.GLIBC),  # glibc, soft float
        ("/lib/ld-musl-loongarch64.so.1", Family.MUSL),  # musl >= 1.2.5
        ("/lib/ld-musl-loongarch64-sf.so.1", Family.MUSL),
        ("/lib/ld-linux-riscv64-lp64d.so.1", Family.GLIBC),
        ("/lib/ld-linux-riscv64-lp64.so.1", Family.GLIBC),
        ("/lib/ld-musl-riscv64.so.1", Family.MUSL),
        ("/lib/ld-musl-riscv64-sf.so.1", Family.MUSL),
        ("/lib/ld-musl-riscv32.so.1", Family.MUSL),
    ],
)
def test_loongarch_and_riscv_loader_names(tmp_path: Path, interp: str, family: Family) -> None:
    # The names glibc's sysdeps (shlib-versions) and musl's configure give these loaders.
    assert family_of_loader_name(interp) is family
    arch = "riscv64" if "riscv64" in interp else "loongarch64" if "loongarch" in interp else None
    if arch is None:
        return
    # SYNTHETIC program (no loongarch64 binaries are packaged where we can fetch them); with its
    # loader missing it cannot start, but the family and arch still come from its headers.
    program = tmp_path / "root" / "usr/bin/python3"
    program.parent.mkdir(parents=True)
    program.write_bytes(synthetic_program(elfbuild_machine(arch), interp, "libc.so.6"))
    info = libcprobe.detect("/usr/bin/python3", root=tmp_path / "root")
    assert (info.family, info.arch, info.can_load_extensions) == (family, arch, False)


# -- 4. interpreters -----------------------------------------------------------------------------


def running_info(family: Family, version: str, arch: str) -> LibcInfo:
    return LibcInfo(
        family=family,
        version=LibcVersion.parse(version),
        linkage="dynamic",
        arch=arch,
        can_load_extensions=True,
        running=True,
    )


@pytest.mark.parametrize(
    ("kernel", "bits", "elf_arch", "expect"),
    [
        # i686 CPython on an x86_64 kernel: uname says x86_64, the interpreter is 32-bit.
        ("linux-x86_64", 32, "i686", ["linux_i686", "manylinux_2_36_i686", "manylinux_2_35_i686"]),
        # armhf CPython on an aarch64 kernel: armv8l first, then armv7l, as packaging does.
        ("linux-aarch64", 32, "armv7l", ["linux_armv8l", "linux_armv7l", "manylinux_2_36_armv8l"]),
        # a 64-bit CPython under `linux32` (personality PER_LINUX32): uname says i686, but the
        # program is x86_64 code, and only x86_64 wheels load into it.
        (
            "linux-i686",
            64,
            "x86_64",
            ["linux_x86_64", "manylinux_2_36_x86_64", "manylinux_2_35_x86_64"],
        ),
        (
            "linux-armv8l",
            64,
            "aarch64",
            ["linux_aarch64", "manylinux_2_36_aarch64", "manylinux_2_35_aarch64"],
        ),
        # the same kernels, native interpreters
        (
            "linux-x86_64",
            64,
            "x86_64",
            ["linux_x86_64", "manylinux_2_36_x86_64", "manylinux_2_35_x86_64"],
        ),
        (
            "linux-armv7l",
            32,
            "armv7l",
            ["linux_armv7l", "manylinux_2_36_armv7l", "manylinux_2_35_armv7l"],
        ),
    ],
)
def test_interpreter_bits_against_kernel(
    monkeypatch: pytest.MonkeyPatch, kernel: str, bits: int, elf_arch: str, expect: list[str]
) -> None:
    monkeypatch.setattr(sysconfig, "get_platform", lambda: kernel)
    monkeypatch.setattr(sys, "maxsize", 2**31 - 1 if bits == 32 else 2**63 - 1)
    tags = running_info(Family.GLIBC, "2.36", elf_arch).platform_tags()
    assert tags[:3] == expect


def test_musl_interpreter_32_bit_on_64_bit_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sysconfig, "get_platform", lambda: "linux-aarch64")
    monkeypatch.setattr(sys, "maxsize", 2**31 - 1)
    tags = running_info(Family.MUSL, "1.2.5", "armv7l").platform_tags()
    assert tags[:4] == [
        "linux_armv8l",
        "linux_armv7l",
        "musllinux_1_2_armv8l",
        "musllinux_1_1_armv8l",
    ]
    assert "musllinux_1_2_armv7l" in tags


def x32_root() -> Layout:
    """Debian's libc6-x32 (an amd64 package) on an x86_64 system: /libx32/ld.so with the
    ld-linux-x32.so.2 link, /libx32/libc.so.6."""
    return {
        **debian_glibc(),
        "/libx32/ld.so": "env:libc6-x32/ld.so",
        "/libx32/ld-linux-x32.so.2": "-> ld.so",
        "/libx32/libc.so.6": "env:libc6-x32/libc.so.6",
        "/usr/local/bin/python3-x32": "built/gcc-mx32-dynamic/hello",
    }


def test_x32_interpreter(tmp_path: Path) -> None:
    info = detect_root(tmp_path, x32_root(), "/usr/local/bin/python3-x32")
    assert summary(info) == {
        "family": "glibc",
        "version": "2.36",
        "linkage": "dynamic",
        "arch": "x32",
        "library": "/libx32/libc.so.6",
        "can_load_extensions": True,
        "tags": ["linux_x32"],  # x32 code loads no i686 or x86_64 wheel
    }
    assert info.interpreter == "/libx32/ld-linux-x32.so.2"


def test_shell_script_and_pyenv_shim(tmp_path: Path) -> None:
    # A pyenv shim is a bash script that picks the real interpreter at run time; without running
    # it, what can be said is what its #! names, and the evidence says so.
    shim = textwrap.dedent(
        """\
        #!/usr/bin/env bash
        set -e
        [ -n "$PYENV_DEBUG" ] && set -x
        program="${0##*/}"
        export PYENV_ROOT="/root/.pyenv"
        exec "/root/.pyenv/libexec/pyenv" exec "$program" "$@"
        """
    )
    root = build_root(
        tmp_path / "root",
        {
            **debian_glibc(),
            "/usr/bin/bash": GLIBC_PROGRAM,
            "/root/.pyenv/versions/3.12.8/bin/python3.12": MUSL_PROGRAM,
        },
    )
    (root / "root/.pyenv/shims").mkdir(parents=True)
    (root / "root/.pyenv/shims/python3").write_text(shim)
    info = libcprobe.detect("/root/.pyenv/shims/python3", root=root)
    assert summary(info) == glibc_answer("2.36", "/lib/x86_64-linux-gnu/libc.so.6")
    assert info.executable == "/usr/bin/bash"
    why = details(info, "interpreter")
    assert "is a script for /usr/bin/bash" in why and "pyenv which" in why


REPORT = textwrap.dedent(
    """
    import json, sys
    import libcprobe
    info = libcprobe.detect()
    data = info.to_dict()
    data["platform_tags"] = info.platform_tags()[:2]
    print(json.dumps(data))
    """
)


def run_report(argv: list[str], prelude: str = "") -> dict[str, Any]:
    path = os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])
    return run_json([*argv, "-c", prelude + REPORT], env={"PYTHONPATH": path}, timeout=120)


HOST_GLIBC = host_glibc_version()
HOST_GLIBC_LOADER = Path("/lib64/ld-linux-x86-64.so.2")


@pytest.mark.skipif(
    HOST_GLIBC is None
    or not HOST_GLIBC_LOADER.exists()
    or sysconfig.get_platform() != "linux-x86_64",
    reason="needs an x86_64 glibc host",
)
def test_started_through_its_loader() -> None:
    # `/lib64/ld-linux-x86-64.so.2 python3 ...`: /proc/self/exe is the loader, not python.
    info = run_report([str(HOST_GLIBC_LOADER), os.path.realpath(sys.executable)])
    assert (info["family"], info["version"], info["linkage"], info["arch"]) == (
        "glibc",
        HOST_GLIBC,
        "dynamic",
        "x86_64",
    )
    assert os.path.basename(info["executable"]).startswith("ld-linux-x86-64.so.2")
    assert info["platform_tags"][1].startswith("manylinux_")
    assert any(e["source"] == "proc-exe" for e in info["evidence"])


#: Code run first in a subprocess to stand in for an emulator whose /proc/self/exe is itself,
#: not the guest program (qemu-user without its /proc emulation, FEX, box64): libcprobe is told
#: the running program is an aarch64 file while everything else is this x86_64 interpreter.
FOREIGN_PROC_EXE = textwrap.dedent(
    f"""
    import libcprobe._process as d
    d.PROC_SELF_EXE = {str(FIXTURES / "built/aarch64-linux-gnu-gcc-dynamic/hello")!r}
    """
)


@pytest.mark.skipif(HOST_GLIBC is None, reason="needs a glibc host")
def test_emulator_whose_proc_self_exe_is_not_the_program() -> None:
    info = run_report([sys.executable], FOREIGN_PROC_EXE)
    assert (info["family"], info["version"]) == ("glibc", HOST_GLIBC)
    assert info["arch"] == sysconfig.get_platform().split("-", 1)[1]
    assert info["executable"] == sys.executable
    assert any("not the running program" in e["detail"] for e in info["evidence"])


QEMU_SYSROOT = Path(
    os.environ.get("LIBCPROBE_QEMU_SYSROOT", Path.home() / ".cache" / "libcprobe-qemu")
)
QEMU = QEMU_SYSROOT / "tree" / "usr" / "bin" / "qemu-aarch64-static"
GUEST_PYTHON = QEMU_SYSROOT / "tree" / "usr" / "bin" / "python3.11"


@pytest.mark.skipif(
    not (QEMU.is_file() and GUEST_PYTHON.is_file()) or sysconfig.get_platform() != "linux-x86_64",
    reason="no qemu-user sysroot: scripts/make-env-fixtures --qemu-sysroot",
)
def test_under_qemu_user() -> None:
    # REAL: Debian 12's aarch64 python3.11 run by qemu-aarch64-static (both extracted from their
    # packages, not installed). qemu-user presents the guest program at /proc/self/exe and the
    # guest machine in uname, so libcprobe inside it answers for the guest.
    root = str(QEMU_SYSROOT / "tree")
    info = run_report([str(QEMU), "-L", root, str(GUEST_PYTHON)])
    assert (info["family"], info["version"], info["arch"]) == ("glibc", "2.36", "aarch64")
    assert info["platform_tags"] == ["linux_aarch64", "manylinux_2_36_aarch64"]
    assert not any("not the running program" in e["detail"] for e in info["evidence"])


@pytest.mark.skipif(HOST_GLIBC is None, reason="needs a glibc host")
def test_graalpy_like_no_confstr_and_a_launcher_executable(tmp_path: Path) -> None:
    # GraalPy: os.confstr may be missing and sys.executable may name a launcher; /proc/self/exe
    # and the loader the kernel mapped for it (its PT_INTERP) still say what runs.
    launcher = tmp_path / "graalpy"
    launcher.write_text('#!/bin/sh\nexec java -jar graalpy.jar "$@"\n')
    prelude = f"import os, sys\ndel os.confstr\nsys.executable = {str(launcher)!r}\n"
    info = run_report([sys.executable], prelude)
    assert (info["family"], info["version"]) == ("glibc", HOST_GLIBC)
    assert {"proc-exe", "elf-interp"} <= {e["source"] for e in info["evidence"]}


# -- 5. versions ---------------------------------------------------------------------------------


def patched_copy(source: str, dest: Path, old: bytes, new: bytes) -> None:
    """PATCHED real file: ``old`` (which must occur once) overwritten in place by ``new``
    (NUL-terminated strings may grow into the bytes after them, as a longer build string
    would); everything else is the real file."""
    data = bytearray((FIXTURES / source).read_bytes())
    assert data.count(old) == 1, old
    at = data.index(old)
    data[at : at + len(new)] = new
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(bytes(data))


TRIXIE_BANNER = b"GNU C Library (Debian GLIBC 2.41-12+deb13u5) stable release version 2.41.\n"


@pytest.mark.parametrize(
    ("banner", "version", "raw"),
    [
        # glibc's master branch between releases (version.h "2.41.9000"), e.g. Fedora rawhide
        (b"GNU C Library (GNU libc) development release version 2.41.9000.\n", "2.41", "2.41.9000"),
        (
            b"GNU C Library (Ubuntu GLIBC 2.35-0ubuntu3.8) stable release version 2.35.\n",
            "2.35",
            "2.35",
        ),
        (
            b"GNU C Library (GNU libc) stable release version 2.17, by Roland McGrath et al.\n",
            "2.17",
            "2.17",
        ),
        (b"GNU C Library (GNU libc) stable release version 2.28.\n", "2.28", "2.28"),  # RHEL 8
        (
            b"GNU C Library (Gentoo 2.38-r10 (patchset 8)) stable release version 2.38.\n",
            "2.38",
            "2.38",
        ),
        (
            b"GNU C Library (Debian EGLIBC 2.13-38+deb7u11) stable release version 2.13, by Roland"
            b" McGrath et al.\n",
            "2.13",
            "2.13",
        ),
    ],
)
def test_glibc_banners(tmp_path: Path, banner: bytes, version: str, raw: str) -> None:
    # Banners as these distributions' libc.so.6 print them, patched into Debian's libc.so.6.
    root = build_root(
        tmp_path / "root", {**debian_glibc(TRIXIE), "/usr/bin/python3": GLIBC_PROGRAM}
    )
    libc = root / "usr/lib/x86_64-linux-gnu/libc.so.6"
    libc.unlink()
    patched_copy(f"{TRIXIE}/libc6/libc.so.6", libc, TRIXIE_BANNER, banner)
    info = libcprobe.detect(root=root)
    assert info.version is not None
    assert (str(info.version), info.version.raw) == (version, raw)
    major, minor = version.split(".")
    assert info.platform_tags()[1] == f"manylinux_{major}_{minor}_x86_64"


@pytest.mark.parametrize(
    ("text", "version"),
    [("glibc 2.31.9000", "2.31"), ("glibc 2.39", "2.39"), ("glibc 2.17", "2.17")],
)
def test_glibc_confstr_versions(monkeypatch: pytest.MonkeyPatch, text: str, version: str) -> None:
    if HOST_GLIBC is None:
        pytest.skip("the confstr path is taken only on glibc")
    monkeypatch.setattr(os, "confstr", lambda name: text)
    info = libcprobe.detect()
    assert info.version is not None
    assert (str(info.version), info.version.raw) == (version, text.split()[1])


@pytest.mark.parametrize(
    ("string", "version", "raw"),
    [
        (b"1.2.6\0", "1.2.6", "1.2.6"),
        # a build from musl's git tree: tools/version.sh gives `git describe` output
        (b"1.2.5-git-12-g0784374d\0", "1.2.5", "1.2.5-git-12-g0784374d"),
        (b"1.2.6-git-3-gabcdef01-dirty\0", "1.2.6", "1.2.6-git-3-gabcdef01-dirty"),
    ],
)
def test_musl_versions(tmp_path: Path, string: bytes, version: str, raw: str) -> None:
    # PATCHED: musl 1.2.6 and git builds are not packaged where we can fetch them; Debian's
    # musl 1.2.5 loader with its version string rewritten stands in.
    root = build_root(
        tmp_path / "root", {k: v for k, v in alpine_musl().items() if "ld-musl" not in k}
    )
    patched_copy(
        f"{TRIXIE}/musl/libc.so", root / "lib/ld-musl-x86_64.so.1", b"\x001.2.5\x00", b"\0" + string
    )
    info = libcprobe.detect(root=root)
    assert info.version is not None
    assert (str(info.version), info.version.raw) == (version, raw)
    minor = version.split(".")[1]
    assert info.platform_tags()[1] == f"musllinux_1_{minor}_x86_64"


# -- a second corpus: every Debian libc in the manifest, installed as its package installs it ----


def _manifest_packages() -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    manifest = json.loads((FIXTURES / "manifest.json").read_text())
    found: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for entry in manifest["fixtures"]:
        prov = entry["provenance"]
        if prov["source"] == "debian" and prov["package"] in ("libc6", "musl"):
            key = (prov["release"], prov["architecture"], prov["package"])
            found.setdefault(key, []).append(entry)
    return found


PACKAGES = _manifest_packages()


def package_layout(entries: list[dict[str, Any]]) -> Layout:
    """The package's files at their paths, with the links it ships (manifest ``links``); on
    trixie (packages under usr/), the merged-/usr links every trixie system has."""
    layout: Layout = {}
    for entry in entries:
        prov = entry["provenance"]
        layout["/" + prov["member"]] = entry["path"]
        for link, target in prov.get("links", {}).items():
            layout["/" + link] = "-> " + target
    if any(k.startswith("/usr/") for k in layout):
        layout = {"/lib": "-> usr/lib", "/lib64": "-> usr/lib64", **layout}
    return layout


@pytest.mark.parametrize("key", sorted(PACKAGES), ids=lambda k: "-".join(k))
def test_every_debian_libc_as_installed(tmp_path: Path, key: tuple[str, str, str]) -> None:
    entries = PACKAGES[key]
    expect = entries[0]["expect"]
    info = detect_root(tmp_path, package_layout(entries))
    assert (str(info.family), str(info.version), info.arch) == (
        expect["family"],
        expect["libc_version"],
        expect["arch"],
    )
    if expect["family"] == "glibc" and any(
        e["path"].endswith(("libc.so.6", ".so")) for e in entries
    ):
        assert info.library is not None and "libc" in info.library.rsplit("/", 1)[-1]


@pytest.mark.parametrize(
    "key",
    sorted(k for k in PACKAGES if k[2] == "libc6" and (k[0], k[1], "musl") in PACKAGES),
    ids="-".join,
)
def test_every_debian_glibc_with_musl_beside_it(tmp_path: Path, key: tuple[str, str, str]) -> None:
    release, arch, _ = key
    layout = {**package_layout(PACKAGES[(release, arch, "musl")]), **package_layout(PACKAGES[key])}
    info = detect_root(tmp_path, layout)
    assert (str(info.family), str(info.version)) == (
        "glibc",
        PACKAGES[key][0]["expect"]["libc_version"],
    )
