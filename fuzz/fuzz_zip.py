#!/usr/bin/env python3
"""Fuzz libcprobe's zip layer and directory walks by mutating *structures*, not only bytes.

One input is a program of edits (see fuzz/README.md): its first byte picks a real wheel (the
greenlet fixture wheels, trimmed to a few of their own members, parsed with
tests/zipsurgery.py), the following bytes pick edits to its records -- a field of a central
directory entry, a local header or the end record set to an interesting value, members
dropped, duplicated, reordered or added, extra fields, ZIP64 records, data descriptors, gaps,
prefixes, second directories, comments, truncation, flipped data bytes -- with or without
re-laying out the offsets; the rest builds a small directory tree (files, the wheel, symlinks
that loop, climb out, dangle or chain, FIFOs, deep directories). Then:

1. every member of the wheel is read to its end (``ZipArchive.chunks``) and
   ``iter_wheel_members(all_files=True)`` parses the ELF ones;
2. ``libcprobe inspect --json --all`` of the wheel and the tree, and ``libcprobe check`` of the
   wheel (exit 0 or 1, nothing raised);
3. ``detect(root=TREE)`` and ``Root(TREE).resolve`` of a few paths in the tree.

Any exception other than :class:`libcprobe.LibcprobeError` is a crash; the CLI must not raise.

Usage::

    python fuzz/fuzz_zip.py -max_total_time=30           # atheris (libFuzzer flags)
    python fuzz/fuzz_zip.py --no-atheris --runs 500 --seed 1   # plain loop, reproducible
    python fuzz/fuzz_zip.py crash-1234abcd               # replay one input
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import io
import os
import random
import shutil
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Optional

REPO = Path(__file__).resolve().parent.parent
WHEELS = REPO / "tests" / "fixtures" / "wheels"
CORPUS = REPO / "fuzz" / "corpus-zip"
SEED_DIR = REPO / "fuzz" / "seeds-zip"
CRASHES = REPO / "fuzz" / "crashes"
KEEP = (".so", "__init__.py", "dist-info/WHEEL", "dist-info/METADATA")
MAX_READ = 64 << 20  # bytes read per input by the chunk loop


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


zs = _load("zipsurgery", REPO / "tests" / "zipsurgery.py")


class Choices:
    """Integers drawn from the input's bytes (0 once they run out)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def pick(self, n: int) -> int:
        if n <= 1:
            return 0
        size = 1 if n <= 256 else (2 if n <= 65536 else 4)
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return int.from_bytes(chunk.ljust(size, b"\0"), "little") % n

    def blob(self, limit: int) -> bytes:
        n = self.pick(limit + 1)
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def left(self) -> bool:
        return self.pos < len(self.data)


def seeds() -> list[Any]:
    """The parsed, trimmed real wheels (plus one with a single stored member)."""
    out = []
    for wheel in sorted(WHEELS.glob("*.whl")):
        out.append(zs.parse(wheel.read_bytes()).keep(KEEP, 5))
    stored = out[0].copy()
    content = zlib.decompress(stored.records[0].data, -15) if stored.records[0].method else b""
    stored.records, stored.centrals = [], []
    out.append(zs.add_member(stored, b"lib/x.so", content[:4096], method=0))
    return out


SEEDS: list[Any] = []


def _interesting(c: Choices, old: int) -> int:
    values = (0, 1, 0xFFFF, 0xFFFFFFFF, old + 1, old - 1, old * 2, old + 30, 1 << 31)
    pick = c.pick(len(values) + 1)
    value = values[pick] if pick < len(values) else c.pick(1 << 32)
    return max(0, min(value, 0xFFFFFFFF))


CENTRAL_FIELDS = ("crc", "csize", "size", "offset", "flags", "method", "disk", "version")
LOCAL_FIELDS = ("crc", "csize", "size", "flags", "method", "nlen")
END_FIELDS = ("disk", "cd_disk", "here", "total", "cd_size", "cd_offset")
METHODS = (0, 8, 9, 12, 14, 93, 99, 77)


def _member(c: Choices, z: Any) -> int:
    return c.pick(len(z.centrals)) if z.centrals else -1


def edit(c: Choices, z: Any) -> None:
    """One structural edit of ``z``."""
    op = c.pick(18)
    i = _member(c, z)
    if i < 0 and op < 10:
        op = 12
    if op == 0:
        name = CENTRAL_FIELDS[c.pick(len(CENTRAL_FIELDS))]
        setattr(
            z.centrals[i],
            name,
            _interesting(c, getattr(z.centrals[i], name)) & 0xFFFF
            if name in ("flags", "method", "disk", "version")
            else _interesting(c, getattr(z.centrals[i], name)),
        )
    elif op == 1:
        name = LOCAL_FIELDS[c.pick(len(LOCAL_FIELDS))]
        old = getattr(z.records[i], name) or 0
        value = _interesting(c, old)
        if name in ("flags", "method", "nlen"):
            value &= 0xFFFF
        setattr(z.records[i], name, value)
    elif op == 2:
        name = END_FIELDS[c.pick(len(END_FIELDS))]
        value = _interesting(c, getattr(z.end, name))
        setattr(z.end, name, value & 0xFFFF if name in ("disk", "cd_disk", "here") else value)
    elif op == 3:  # method and flags in both headers
        method = METHODS[c.pick(len(METHODS))]
        flags = (0, 1, 0x08, 0x40, 0x800, 0x2000)[c.pick(6)]
        for h in (z.records[i], z.centrals[i]):
            h.method, h.flags = method, h.flags ^ flags
    elif op == 4:
        del z.records[i], z.centrals[i]
        z.relayout()
    elif op == 5:
        z.records.append(z.records[i])
        z.centrals.append(zs.copy.deepcopy(z.centrals[i]))
        z.relayout()
    elif op == 6:
        j = _member(c, z)
        z.centrals[i], z.centrals[j] = z.centrals[j], z.centrals[i]
        if c.pick(2):
            z.records[i], z.records[j] = z.records[j], z.records[i]
            z.relayout()
    elif op == 7:  # extra fields: ZIP64 values, junk, or truncated headers
        kind = c.pick(3)
        r, cen = z.records[i], z.centrals[i]
        if kind == 0:
            extra = struct.pack("<HHQQ", 1, 16, r.size, r.csize)
            r.extra = cen.extra = extra
            for h in (r, cen):
                h.size = h.csize = 0xFFFFFFFF
        elif kind == 1:
            (r if c.pick(2) else cen).extra = c.blob(40)
        else:
            cen.extra = struct.pack("<HHQ", 1, 8, c.pick(1 << 32)) + c.blob(8)
            cen.offset = 0xFFFFFFFF
        if c.pick(2):
            z.relayout()
    elif op == 8:  # data: cut, flip, replace
        r = z.records[i]
        kind = c.pick(3)
        if kind == 0 and r.data:
            r.data = r.data[: c.pick(len(r.data))]
        elif kind == 1 and r.data:
            p = c.pick(len(r.data))
            r.data = r.data[:p] + bytes([r.data[p] ^ (1 + c.pick(255))]) + r.data[p + 1 :]
        else:
            r.data = c.blob(64)
        if c.pick(2):
            z.set_both(i, csize=len(r.data))
            z.relayout()
    elif op == 9:  # a data descriptor
        r = z.records[i]
        sig = b"PK\x07\x08" if c.pick(2) else b""
        descriptor = sig + struct.pack("<III", r.crc, r.csize, r.size ^ c.pick(2))
        z.add_descriptor(i, descriptor, zero_local=bool(c.pick(2)))
    elif op == 10:
        where = c.pick(4)
        blob = SEEDS[c.pick(len(SEEDS))].write() if c.pick(2) else c.blob(64)
        if where == 0:
            z.prefix = blob
        elif where == 1:
            z.gap = blob
        elif where == 2:
            z.extra_directory = b"".join(x.to_bytes() for x in z.centrals) if c.pick(2) else blob
        else:
            z.trailer = blob
        if c.pick(2):
            z.relayout()
    elif op == 11:
        z.end.zip64 = not z.end.zip64
    elif op == 12:
        content = c.blob(300)
        if c.pick(2) and SEEDS:
            src = SEEDS[0].records[0]
            content = zlib.decompress(src.data, -15)[: 1 + c.pick(20000)] if src.method else content
        names = (b"lib/a.so", b"a.so", b"../x.so", b"/abs.so", b"dir/", b"lib/a.so", b"\xff.so")
        zs.add_member(z, names[c.pick(len(names))], content, method=(0, 8)[c.pick(2)])
    elif op == 13:
        z.relayout()
    elif op == 14:
        z.end.comment = (b"PK\x05\x06" + bytes(18)) if c.pick(2) else c.blob(40)
    elif op == 15 and z.records:
        z.records[i if i >= 0 else 0].sig = (b"PK\x03\x04", b"PK\x01\x02", b"\0\0\0\0")[c.pick(3)]
    elif op == 16 and z.centrals:
        z.centrals[max(i, 0)].name = c.blob(20) or b"x"
        if c.pick(2):
            z.relayout()
    elif op == 17:  # a second archive glued on
        z.trailer = SEEDS[c.pick(len(SEEDS))].write()


def build_zip(c: Choices) -> bytes:
    z = SEEDS[c.pick(len(SEEDS))].copy()
    for _ in range(c.pick(6) + 1):
        if not c.left():
            break
        edit(c, z)
    blob: bytes = z.write()
    if c.pick(4) == 0:
        blob = blob[: c.pick(len(blob) + 1)]
    return blob


NAMES = ("usr", "bin", "lib", "python3", "ld-musl-x86_64.so.1", "x.whl", "etc", "a", "b")
TARGETS = (
    "..",
    "/",
    "/etc/passwd",
    "../../..",
    "a",
    "b",
    "/lib",
    "/usr/bin/python3",
    "loop",
    "nowhere",
    "/proc/self/root",
    "lib/ld-musl-x86_64.so.1",
    "./././a",
    "a/../..",
)


def build_tree(c: Choices, top: Path, wheel: bytes, elf: bytes) -> None:
    """A small tree under ``top`` drawn from the input."""
    shutil.rmtree(top, ignore_errors=True)
    top.mkdir()
    (top / "usr" / "bin").mkdir(parents=True)
    (top / "lib").mkdir()
    dirs = [top, top / "usr", top / "usr" / "bin", top / "lib"]
    for _ in range(c.pick(10)):
        parent = dirs[c.pick(len(dirs))]
        name = NAMES[c.pick(len(NAMES))]
        path = parent / name
        if os.path.lexists(path):
            continue
        kind = c.pick(6)
        try:
            if kind == 0:
                path.write_bytes(wheel)
            elif kind == 1:
                path.write_bytes(elf[: c.pick(len(elf) + 1)] if elf else b"\x7fELF")
            elif kind == 2:
                path.symlink_to(TARGETS[c.pick(len(TARGETS))])
            elif kind == 3:
                os.mkfifo(path)
            elif kind == 4:
                path.mkdir()
                dirs.append(path)
            else:
                deep = path
                for _ in range(c.pick(40)):
                    deep = deep / "d"
                deep.mkdir(parents=True)
                (deep / "up").symlink_to("../" * c.pick(50) or ".")
        except OSError:
            pass


class Targets:
    """libcprobe's modules (instrumented under atheris) and a scratch directory."""

    def __init__(self, instrument: Optional[Any] = None) -> None:
        names = [
            "libcprobe",
            "libcprobe.audit._zip",
            "libcprobe.audit._wheel",
            "libcprobe.audit._tree",
            "libcprobe._cli",
            "libcprobe._rootfs",
            "libcprobe._detect",
            "libcprobe._process",
            "libcprobe._program",
            "libcprobe._libc_files",
            "libcprobe._shim",
            "libcprobe._root",
            "libcprobe.audit._wheel_summary",
            "libcprobe.audit._check",
        ]
        if instrument is not None:
            with instrument.instrument_imports(include=["libcprobe"]):
                self.mods = {n: importlib.import_module(n) for n in names}
        else:
            self.mods = {n: importlib.import_module(n) for n in names}
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else None  # rmdir is slow on overlays
        self.tmp = Path(tempfile.mkdtemp(prefix="libcprobe-fuzz-zip-", dir=shm))
        self.wheel = self.tmp / "x-1.0-cp311-cp311-musllinux_1_1_x86_64.whl"
        self.tree = self.tmp / "tree"
        if not SEEDS:
            SEEDS.extend(seeds())
        self.devnull = open(os.devnull, "w")  # noqa: SIM115 - open for the process's life
        so = next(r for r in SEEDS[0].records if r.name.endswith(b".so"))
        self.elf = zlib.decompress(so.data, -15)

    def cleanup(self) -> None:
        self.devnull.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def one_input(t: Targets, data: bytes) -> None:
    m = t.mods
    error = m["libcprobe"].LibcprobeError
    c = Choices(data)
    blob = build_zip(c)
    t.wheel.write_bytes(blob)
    read = 0
    try:
        with m["libcprobe.audit._zip"].ZipArchive(str(t.wheel)) as archive:
            for member in archive.members(100_000):
                try:
                    for chunk in archive.chunks(member):
                        read += len(chunk)
                        if read > MAX_READ:
                            break
                except error:
                    pass
    except error:
        pass
    try:
        members = list(m["libcprobe.audit._wheel"].iter_wheel_members(str(t.wheel), all_files=True))
    except error:
        members = []
    assert all(mm.elf is not None or mm.error for mm in members if mm.is_elf)
    build_tree(c, t.tree, blob, t.elf)
    with contextlib.suppress(error):
        m["libcprobe"].detect(root=str(t.tree))
    m["libcprobe"].clear_cache()
    for path in ("/usr/bin/python3", "/lib/ld-musl-x86_64.so.1", "/a/b/../x.whl", "/usr/a"):
        with contextlib.suppress(error):
            m["libcprobe._rootfs"].Root(str(t.tree)).resolve(path)
    tree = m["libcprobe.audit._tree"]
    items = list(tree.iter_items([str(t.wheel), str(t.tree)], all_files=True, keep_elf=True))
    m["libcprobe.audit._wheel_summary"].summarize_wheel(str(t.wheel), items)
    check = m["libcprobe.audit._check"]
    check.check_items(items, check.target_from_tag("musllinux_1_2_x86_64"))
    if c.pick(8):  # the CLI (argparse costs 20 ms) for one input in 8
        return
    out = io.StringIO()
    main = m["libcprobe._cli"].main
    # check's summary goes to stderr: send it to a real file (libFuzzer's timeout handler
    # writes to sys.stderr's descriptor, which a StringIO lacks)
    with contextlib.redirect_stderr(t.devnull):
        status = main(["inspect", "--json", "--all", str(t.wheel), str(t.tree)], out=out)
        assert status in (0, 1), status
        status = main(["check", "--platform", "musllinux_1_2_x86_64", str(t.wheel)], out=out)
        assert status in (0, 1), status


def make_seed_dir(directory: Path, count: int = 64) -> None:
    """Random edit programs (seeded, so always the same) for libFuzzer to start from."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(1)
    for i in range(count):
        path = directory / f"seed-{i:02d}"
        if not path.exists():
            path.write_bytes(bytes(rng.getrandbits(8) for _ in range(rng.randrange(8, 160))))


def plain_loop(
    t: Targets,
    runs: int,
    seed: int,
    seconds: float,
    on_crash: Callable[[bytes, BaseException], None],
) -> tuple[int, int]:
    """``runs`` random inputs (or until ``seconds``); returns (inputs, crashes)."""
    rng = random.Random(seed)
    start = time.monotonic()
    done = crashes = 0
    while done < runs and time.monotonic() - start < seconds:
        data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(4, 200)))
        done += 1
        try:
            one_input(t, data)
        except Exception as exc:  # a crash is anything that escapes
            crashes += 1
            on_crash(data, exc)
    return done, crashes


def _save_crash(data: bytes, exc: BaseException) -> None:
    import hashlib
    import traceback

    CRASHES.mkdir(parents=True, exist_ok=True)
    name = CRASHES / f"crash-zip-{hashlib.sha1(data).hexdigest()}"
    name.write_bytes(data)
    name.with_suffix(".txt").write_text("".join(traceback.format_exception(exc)))
    print(f"fuzz_zip: crash {type(exc).__name__}: {exc} -> {name}", file=sys.stderr)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--no-atheris", action="store_true")
    parser.add_argument("--runs", type=int, default=1_000_000_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    args, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    files = [Path(a) for a in rest if not a.startswith("-") and Path(a).is_file()]
    atheris = None
    if not args.no_atheris and not files:
        try:
            atheris = importlib.import_module("atheris")
        except ImportError:
            print("fuzz_zip: atheris is not installed: using the plain loop", file=sys.stderr)
    t = Targets(instrument=atheris)
    try:
        if files:  # replay
            for f in files:
                one_input(t, f.read_bytes())
            print(f"fuzz_zip: replayed {len(files)} inputs, no crash")
            return 0
        if atheris is None:
            done, crashes = plain_loop(t, args.runs, args.seed, args.seconds, _save_crash)
            print(f"fuzz_zip: {done} inputs, {crashes} crashes (seed {args.seed})")
            return 1 if crashes else 0
        CORPUS.mkdir(parents=True, exist_ok=True)
        CRASHES.mkdir(parents=True, exist_ok=True)
        make_seed_dir(SEED_DIR)
        flags = [a for a in rest if a.startswith("-")]
        defaults = {
            "max_len": "512",
            "timeout": "10",
            "rss_limit_mb": "2048",
            "artifact_prefix": f"{CRASHES}/zip-",
        }
        given = {a.split("=", 1)[0].lstrip("-") for a in flags}
        extra = [f"-{k}={v}" for k, v in defaults.items() if k not in given]
        dirs = [a for a in rest if not a.startswith("-")] or [str(CORPUS), str(SEED_DIR)]
        atheris.Setup([sys.argv[0], *extra, *flags, *dirs], lambda d: one_input(t, d))
        atheris.Fuzz()
        return 0  # pragma: no cover - libFuzzer exits the process
    finally:
        t.cleanup()


if __name__ == "__main__":
    sys.exit(main())
