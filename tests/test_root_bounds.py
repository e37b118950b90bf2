"""A root's bounds, each with a test: symbolic link hops and loops, no escape from the root
(absolute, ``..``, directory and interpreter links), ``#!`` hops and loops, and
``/etc/ld.so.conf`` include loops and size. The ELF reader's bounds are in test_bounds.py.

Wall-clock guards here (:func:`hang_guard`) only detect hangs; they are generous and are not
performance assertions.
"""

from __future__ import annotations

import builtins
import contextlib
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import elfbuild
import libcprobe
from libcprobe import Family, RootError
from libcprobe._program import MAX_SHEBANG_HOPS
from libcprobe._rootfs import MAX_LD_SO_CONF_FILES, MAX_SYMLINK_HOPS, Root
from shared import hang_guard, musl_libc, musl_program


class OpenRecorder:
    """Records every path opened through ``os.open`` or ``builtins.open``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.paths: list[str] = []
        real_os_open, real_open = os.open, builtins.open

        def os_open(path: Any, *args: Any, **kwargs: Any) -> int:
            self.paths.append(_opened_path(os.fsdecode(path), args, kwargs))
            return real_os_open(path, *args, **kwargs)

        def py_open(file: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(file, (str, bytes, os.PathLike)):
                self.paths.append(os.fsdecode(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(os, "open", os_open)
        monkeypatch.setattr(builtins, "open", py_open)


def _opened_path(path: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """What an ``os.open`` call opens, as a host path: a name under ``dir_fd`` is joined to
    that directory; ``/proc/self/fd/N`` is the file descriptor N refers to; an ``O_PATH``
    probe (which opens nothing for reading, and may be a symlink itself) is its directory."""
    dir_fd = kwargs.get("dir_fd")
    flags = args[0] if args else kwargs.get("flags", 0)
    if path.startswith("/proc/self/fd/"):
        return os.readlink(path)
    if dir_fd is None:
        return path
    directory = os.readlink(f"/proc/self/fd/{dir_fd}")
    if flags & getattr(os, "O_PATH", 0):
        return directory
    return os.path.join(directory, path)


# -- symbolic links in a root ----------------------------------------------------------------


def _chain(directory: Path, length: int) -> str:
    """link0 -> link1 -> ... -> link{length-1} -> target (a file); returns link0's name."""
    (directory / "target").write_bytes(b"x")
    for i in range(length):
        nxt = f"link{i + 1}" if i + 1 < length else "target"
        (directory / f"link{i}").symlink_to(nxt)
    return "link0"


def test_symlink_chain_bounds(tmp_path: Path) -> None:
    ok = tmp_path / "ok"
    ok.mkdir()
    assert Root(str(ok)).resolve("/" + _chain(ok, MAX_SYMLINK_HOPS)) == str(ok / "target")
    long = tmp_path / "long"
    long.mkdir()
    with hang_guard(5), pytest.raises(RootError, match="symbolic links"):
        Root(str(long)).resolve("/" + _chain(long, 50))


@pytest.mark.parametrize(
    "links",
    [
        {"a": "a"},
        {"a": "b", "b": "a"},
        {"a": "/a"},
        {"a": "./a"},
        {"a": "../../a"},
        {"a": "d/../a"},
        {"d": ".", "a": "d/d/d/d/a"},
    ],
)
def test_symlink_loops_end_in_root_error(tmp_path: Path, links: dict[str, str]) -> None:
    (tmp_path / "d").mkdir(exist_ok=True)
    for name, target in links.items():
        if name == "d":
            (tmp_path / "d").rmdir()
        (tmp_path / name).symlink_to(target)
    with hang_guard(5), pytest.raises(RootError):
        Root(str(tmp_path)).resolve("/a")
    # detect() on the loop: RootError for an explicit executable, skipped in a root scan.
    with pytest.raises(RootError):
        libcprobe.detect("/a", root=tmp_path)
    assert libcprobe.detect(root=tmp_path).family is None


def _escape_root(tmp_path: Path) -> tuple[Path, Path]:
    """A root whose program is musl-linked and a real musl libc (version 9.8.7) OUTSIDE it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "libc.so").write_bytes(musl_libc())
    (outside / "lib").mkdir()
    (outside / "lib/ld-musl-x86_64.so.1").write_bytes(musl_libc())
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/python3").write_bytes(musl_program())
    return root, outside


ESCAPES = {
    "absolute": lambda root, out: {"lib/ld-musl-x86_64.so.1": str(out / "libc.so")},
    "dotdot": lambda root, out: {
        "lib/ld-musl-x86_64.so.1": "../" * 30 + str(out / "libc.so").lstrip("/")
    },
    "dotdot-short": lambda root, out: {"lib/ld-musl-x86_64.so.1": "../../outside/libc.so"},
    "dir-absolute": lambda root, out: {"lib": str(out / "lib")},
    "dir-dotdot": lambda root, out: {"lib": "../outside/lib"},
    "via-usr": lambda root, out: {"usr/lib": "../../outside", "lib": "usr/lib/lib"},
    "proc-root": lambda root, out: {"lib": "/proc/self/root" + str(out / "lib")},
}


@pytest.mark.parametrize("kind", sorted(ESCAPES))
def test_symlinks_never_lead_out_of_the_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    root, outside = _escape_root(tmp_path)
    for link, target in ESCAPES[kind](root, outside).items():
        (root / link).parent.mkdir(parents=True, exist_ok=True)
        (root / link).symlink_to(target)
    opened = OpenRecorder(monkeypatch)
    info = libcprobe.detect(root=root)
    monkeypatch.undo()
    assert info.family is Family.MUSL  # from PT_INTERP's name
    assert info.version != (9, 8, 7) and info.version is None
    real_root = os.path.realpath(root)
    for path in opened.paths:
        real = os.path.realpath(path)
        assert os.path.commonpath([real_root, real]) == real_root, f"opened {path}"
    assert all(e.path is None or str(outside) not in e.path for e in info.evidence)


def test_interpreter_path_climbing_out_of_the_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, outside = _escape_root(tmp_path)
    climbing = "/.." * 30 + str(outside / "libc.so")
    (root / "usr/bin/python3").write_bytes(musl_program(interp=climbing))
    (root / "bin").mkdir()
    (root / "bin/sh").write_text("#!" + "/.." * 30 + str(outside / "libc.so") + "\n")
    opened = OpenRecorder(monkeypatch)
    info = libcprobe.detect(root=root)
    script = libcprobe.detect("/bin/sh", root=root)
    monkeypatch.undo()
    assert info.version is None and script.version is None
    real_root = os.path.realpath(root)
    assert all(
        os.path.commonpath([real_root, os.path.realpath(p)]) == real_root for p in opened.paths
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    links=st.dictionaries(
        st.sampled_from(["a", "b", "d/c", "d/e"]),
        st.lists(st.sampled_from(["..", ".", "a", "b", "d", "c", "e", "", "x"]), max_size=6).map(
            lambda parts: "/".join(parts) or "."
        ),
        max_size=4,
    ),
    absolute=st.booleans(),
    path=st.lists(st.sampled_from(["..", "a", "b", "d", "c", "e", "x"]), min_size=1, max_size=6),
)
def test_resolution_never_leaves_the_root(
    tmp_path_factory: pytest.TempPathFactory,
    links: dict[str, str],
    absolute: bool,
    path: list[str],
) -> None:
    """Property: whatever the links, a resolved path that exists lies inside the root."""
    base = tmp_path_factory.mktemp("prop")
    (base / "secret").write_bytes(b"outside")
    root = base / "root"
    (root / "d").mkdir(parents=True)
    (root / "x").write_bytes(b"inside")
    for name, target in links.items():
        with contextlib.suppress(FileExistsError):
            (root / name).symlink_to(("/" if absolute else "") + target)
    try:
        host = Root(str(root)).resolve("/".join(path))
    except RootError:
        return
    if os.path.exists(host):
        real = os.path.realpath(host)
        assert os.path.commonpath([os.path.realpath(root), real]) == os.path.realpath(root)


# -- #! hops ---------------------------------------------------------------------------------


def test_shebang_loops_and_chains_in_a_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "lib").mkdir()
    (root / "lib/ld-musl-x86_64.so.1").write_bytes(musl_libc())
    (root / "usr/bin/python3").write_text("#!/usr/bin/python3\n")  # itself
    with hang_guard(5):
        info = libcprobe.detect("/usr/bin/python3", root=root)
    scripts = [e for e in info.evidence if "is a script" in e.detail]
    assert info.family is None and len(scripts) == MAX_SHEBANG_HOPS
    # A chain within the limit reaches the program; a longer one gives up.
    (root / "usr/bin/real").write_bytes(musl_program())
    for length, found in ((MAX_SHEBANG_HOPS, True), (MAX_SHEBANG_HOPS + 3, False)):
        for i in range(length):
            nxt = f"/usr/bin/s{i + 1}" if i + 1 < length else "/usr/bin/real"
            (root / f"usr/bin/s{i}").write_text(f"#!{nxt}\n")
        libcprobe.clear_cache()
        info = libcprobe.detect("/usr/bin/s0", root=root)
        assert (info.family is Family.MUSL) is found, info.evidence
        assert (info.version == (9, 8, 7)) is found


def test_shebang_loops_on_the_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a").write_text(f"#!{tmp_path / 'b'}\n")
    (tmp_path / "b").write_text(f"#!{tmp_path / 'a'} -x\n")
    opened = OpenRecorder(monkeypatch)
    with hang_guard(5):
        info = libcprobe.detect(tmp_path / "a")
    monkeypatch.undo()
    assert info.family is None
    assert len(opened.paths) <= 2 * (MAX_SHEBANG_HOPS + 1)


def test_env_shebang_in_a_root_looks_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "lib").mkdir()
    (root / "lib/ld-musl-x86_64.so.1").write_bytes(musl_libc())
    (root / "usr/bin/python3").write_text("#!/usr/bin/env only-in-this-root\n")
    (root / "usr/bin/only-in-this-root").write_bytes(musl_program())
    info = libcprobe.detect("/usr/bin/python3", root=root)
    assert info.family is Family.MUSL and info.version == (9, 8, 7)


# -- /etc/ld.so.conf in a root ---------------------------------------------------------------


def _glibc_root(tmp_path: Path) -> Path:
    """A root with a glibc library (no PT_INTERP: no loader to read), so libc.so.6 is looked up
    through /etc/ld.so.conf; the only libc.so.6 sits in /opt/deep, named by an included file."""
    root = tmp_path / "root"
    for d in ("usr/bin", "etc/ld.so.conf.d", "opt/deep"):
        (root / d).mkdir(parents=True)
    program = elfbuild.Spec(interp=None, needed=["libc.so.6"])
    (root / "usr/bin/python3").write_bytes(elfbuild.build(program).data)
    libc = elfbuild.Spec(
        interp=None,
        needed=[],
        soname="libc.so.6",
        runpath=None,
        verneed=[],
        verdef=["libc.so.6", "GLIBC_2.2.5"],
        extra_rodata=b"\0GNU C Library (test) stable release version 2.91.\n\0",
    )
    (root / "opt/deep/libc.so.6").write_bytes(elfbuild.build(libc).data)
    return root


def test_ld_so_conf_include_loops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _glibc_root(tmp_path)
    conf = root / "etc/ld.so.conf.d"
    (root / "etc/ld.so.conf").write_text(
        "include /etc/ld.so.conf\ninclude /etc/ld.so.conf.d/*.conf\ninclude ld.so.conf\n"
    )
    (conf / "a.conf").write_text("include /etc/ld.so.conf.d/b.conf\ninclude /etc/ld.so.conf\n")
    (conf / "b.conf").write_text("include /etc/ld.so.conf.d/*.conf\n/opt/deep\n")
    for i in range(100):  # more files than MAX_LD_SO_CONF_FILES, all including each other
        (conf / f"x{i:03d}.conf").write_text("include /etc/ld.so.conf.d/*.conf\n")
    (conf / "self.conf").symlink_to("self.conf")
    opened = OpenRecorder(monkeypatch)
    with hang_guard(5):
        info = libcprobe.detect(root=root)
    monkeypatch.undo()
    conf_reads = [p for p in opened.paths if p.endswith(".conf")]
    assert len(conf_reads) <= MAX_LD_SO_CONF_FILES
    assert info.family is Family.GLIBC and info.version == (2, 91)
    assert info.library == "/opt/deep/libc.so.6"


def test_ld_so_conf_with_many_distinct_lines_is_fast(tmp_path: Path) -> None:
    root = _glibc_root(tmp_path)
    (root / "etc/ld.so.conf").write_text("include /etc/ld.so.conf.d/*.conf\n")
    for i in range(8):
        lines, size, n = [], 0, 0
        while size < 64 * 1024 - 32:
            line = f"/d{i}_{n:x}"
            lines.append(line)
            size += len(line) + 1
            n += 1
        (root / f"etc/ld.so.conf.d/{i}.conf").write_text("\n".join(lines) + "\n")
    with hang_guard(1.5):
        info = libcprobe.detect(root=root)
    assert info.family is Family.GLIBC
