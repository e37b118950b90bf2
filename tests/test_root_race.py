"""Race-free roots: a thread swaps symlinks inside a root while detect(root=...) runs 10,000
times; an audit hook on ``open`` sees every file libcprobe opens, and none lies outside the
root. And the Root value object itself."""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import elfbuild
import libcprobe
from libcprobe import Family, FileAccessError, RootError
from libcprobe._rootfs import MAX_SYMLINK_HOPS, Root

FIXTURES = Path(__file__).parent / "fixtures"
DETECTIONS = int(os.environ.get("LIBCPROBE_RACE_DETECTIONS", "10000"))
O_PATH = getattr(os, "O_PATH", 0)


def _musl_loader() -> Path:
    return sorted((FIXTURES / "debian").rglob("amd64/musl/libc.so"))[0]


def _glibc_libc() -> Path:
    return sorted((FIXTURES / "debian").rglob("amd64/libc6/libc*.so*"))[0]


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    """A root whose /lib is a symlink to real/lib, a directory holding a real musl loader;
    and outside the root, a directory of the same shape holding glibc's libc as bait."""
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    for base in (root / "real", outside):
        (base / "lib").mkdir(parents=True)
    (root / "usr/bin").mkdir(parents=True)
    shutil.copy(_musl_loader(), root / "real/lib/ld-musl-x86_64.so.1")
    shutil.copy(_glibc_libc(), outside / "lib/ld-musl-x86_64.so.1")  # bait
    program = elfbuild.build(elfbuild.Spec(interp="/lib/ld-musl-x86_64.so.1", verneed=[]))
    (root / "usr/bin/python3").write_bytes(program.data)
    (root / "lib").symlink_to("real/lib")
    return root, outside


class Swapper(threading.Thread):
    """Swaps ``root/real`` -- a directory when libcprobe resolves through it -- with symlinks
    that lead out of the root if the OS follows them from the host: absolute, climbing, and
    through ``/proc/self/root``. Between a resolve and an open by name, that is the escape."""

    def __init__(self, root: Path, outside: Path) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.links = [
            str(outside),
            "../" * 8 + str(outside).lstrip("/"),
            f"/proc/self/root{outside}",
        ]
        self.stop = threading.Event()
        self.swaps = 0

    def run(self) -> None:
        real, parked = self.root / "real", self.root / "real.dir"
        while not self.stop.is_set():
            os.rename(real, parked)  # the directory steps aside ...
            os.symlink(self.links[self.swaps % len(self.links)], real)  # ... a link comes in
            time.sleep(0)  # let a detection run with the link in place
            os.unlink(real)
            os.rename(parked, real)  # and the directory is back
            self.swaps += 1
            time.sleep(0)  # and with the directory


def _inside(path: str, real_root: str) -> bool:
    real = os.path.realpath(path)
    return os.path.commonpath([real_root, real]) == real_root


@pytest.mark.skipif(not O_PATH or not os.path.isdir("/proc/self/fd"), reason="needs O_PATH, /proc")
def test_swapped_symlinks_never_open_outside_the_root(tmp_path: Path) -> None:
    root, outside = _setup(tmp_path)
    real_root = os.path.realpath(root)
    watching = threading.Event()
    outside_opens: list[str] = []
    probes = [0]
    reads = [0]
    me = threading.get_ident()

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event != "open" or not watching.is_set() or threading.get_ident() != me:
            return
        path, _, flags = args
        if not isinstance(path, (str, bytes)):
            return
        path = os.fsdecode(path)
        flags = flags or 0
        if flags & O_PATH:  # a probe: opens nothing for reading; always one name under a dir fd
            probes[0] += 1
            if "/" in path and path != str(root):
                outside_opens.append(f"O_PATH {path}")
            return
        reads[0] += 1
        if path.startswith("/proc/self/fd/"):
            # the file the resolved descriptor refers to, as the kernel names it: no symlinks
            # in it (not resolved again, which would race with the swaps)
            path = os.readlink(path)
            if os.path.commonpath([real_root, path]) != real_root:
                outside_opens.append(path)
        elif not _inside(path, real_root):
            outside_opens.append(path)

    libcprobe.detect(root=str(root))  # imports done before watching
    sys.addaudithook(hook)  # (stays for the rest of the process; inert once `watching` clears)
    swapper = Swapper(root, outside)
    families: dict[str, int] = {}
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often: the swaps land mid-detection
    swapper.start()
    watching.set()
    try:
        for _ in range(DETECTIONS):
            libcprobe.clear_cache()
            info = libcprobe.detect(root=str(root))
            name = str(info.family)
            families[name] = families.get(name, 0) + 1
    finally:
        watching.clear()
        swapper.stop.set()
        swapper.join()
        sys.setswitchinterval(interval)
    # glibc's libc (the bait outside) is never what answered; musl (inside) often is.
    assert str(Family.GLIBC) not in families, families
    assert families.get(str(Family.MUSL), 0) > 0, families
    assert outside_opens == []
    assert swapper.swaps > 100, swapper.swaps
    assert reads[0] >= DETECTIONS and probes[0] > DETECTIONS


def test_the_old_resolve_then_open_would_have_escaped(tmp_path: Path) -> None:
    """The same swap between a resolve and an open by name (what libcprobe did before) does
    reach outside the root: the test above tests something."""
    root, outside = _setup(tmp_path)
    host = Root(str(root)).resolve("/lib/ld-musl-x86_64.so.1")
    os.rename(root / "real", root / "real.dir")
    (root / "real").symlink_to(outside)
    with open(host, "rb") as f:
        assert os.path.realpath(f"/proc/self/fd/{f.fileno()}").startswith(str(outside))
    with pytest.raises(FileAccessError, match="no such file"):
        Root(str(root)).open("/lib/ld-musl-x86_64.so.1")


def test_root_is_a_value(tmp_path: Path) -> None:
    assert Root("/a") == Root("/a") and hash(Root("/a")) == hash(Root("/a"))
    assert Root("/a") != Root("/b") and repr(Root("/a")) == "Root('/a')"
    root, _ = _setup(tmp_path)
    r = Root(str(root))
    assert r.resolve("/lib/ld-musl-x86_64.so.1") == str(root / "real/lib/ld-musl-x86_64.so.1")
    assert r.is_file("/usr/bin/python3") and not r.is_file("/usr/bin")
    assert r.listdir("/lib") == ["ld-musl-x86_64.so.1"]
    assert (r.read("/usr/bin/python3", 4) or b"")[:4] == b"\x7fELF"
    with r.open_elf("/lib/ld-musl-x86_64.so.1") as elf:
        assert elf.arch == "x86_64"


def test_root_open_refuses_what_it_should(tmp_path: Path) -> None:
    root, _ = _setup(tmp_path)
    r = Root(str(root))
    os.mkfifo(root / "fifo")
    (root / "loop").symlink_to("loop")
    with pytest.raises(FileAccessError, match="not a regular file"):
        r.open("/fifo")
    with pytest.raises(FileAccessError, match="a directory"):
        r.open("/usr")
    with pytest.raises(FileAccessError, match="no such file"):
        r.open("/nowhere/x")
    with pytest.raises(RootError, match=f"more than {MAX_SYMLINK_HOPS}"):
        r.open("/loop")
    assert r.resolve("/../../../usr/bin/../bin/python3") == str(root / "usr/bin/python3")
    assert r.resolve("/usr/missing/a/b") == str(root / "usr/missing/a/b")


def test_a_held_root_walks_from_its_own_descriptor(tmp_path: Path) -> None:
    """``with root:`` opens the directory once: a root moved away mid-detection (and another
    directory put in its place) does not change what the walks inside the block see."""
    root, _ = _setup(tmp_path)
    bait = tmp_path / "bait"
    (bait / "usr/bin").mkdir(parents=True)
    r = Root(str(root))
    with r:
        os.rename(root, tmp_path / "moved")
        bait.rename(root)
        assert r.is_file("/usr/bin/python3")
        assert r.resolve("/lib/ld-musl-x86_64.so.1").endswith("real/lib/ld-musl-x86_64.so.1")
    assert not r.is_file("/usr/bin/python3")  # released: a walk opens the path again


def test_the_host_has_the_roots_methods(tmp_path: Path) -> None:
    from libcprobe._rootfs import HOST

    program = tmp_path / "p"
    program.write_bytes(elfbuild.build(elfbuild.Spec()).data)
    (tmp_path / "link").symlink_to("p")
    assert HOST.shown is None and Root(str(tmp_path)).shown == str(tmp_path)
    assert Root("/") != HOST and repr(HOST) == "HOST"
    assert HOST.resolve(str(tmp_path / "link")) == str(tmp_path / "link")  # the kernel's job
    assert HOST.is_file(str(tmp_path / "link")) and not HOST.is_file(str(tmp_path))
    assert HOST.real_path(str(tmp_path / "link")) == os.path.realpath(program)
    assert sorted(HOST.listdir(str(tmp_path))) == ["link", "p"]
    assert HOST.glob(f"{tmp_path}/l*") == [f"{tmp_path}/link"]
    assert (HOST.read(str(tmp_path / "link"), 4) or b"") == b"\x7fELF"
    with HOST.open_elf(str(tmp_path / "link")) as elf:
        assert elf.path == str(tmp_path / "link")
    os.mkfifo(tmp_path / "fifo")
    assert HOST.read(str(tmp_path / "fifo"), 4) is None  # never opened
