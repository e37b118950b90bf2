#!/usr/bin/env python3
"""Fuzz libcprobe's ELF reader, ``inspect()``, ``detect(root=...)`` and the CLI.

One input is used four ways (see fuzz/README.md):

1. ``libcprobe._elf.read_elf(bytes)`` and every derived fact of the parsed file
   (``arch``, ``glibc_requires``, ``readonly_data()``, ``classify()``, ...);
2. ``libcprobe.inspect(path)`` of a temporary file holding the input (written once per process,
   then rewritten in place), and ``libcprobe inspect PATH`` (the CLI, printing to a strict
   UTF-8 stream like a terminal's);
3. ``libcprobe.detect(root=ROOT)`` of a temporary root where the same inode is
   ``/lib/ld-musl-x86_64.so.1``, ``/usr/bin/python3``, ``/lib/x86_64-linux-gnu/libc.so.6``
   and ``/etc/ld.so.conf`` (so ELF parsing, shebang following and ld.so.conf parsing are all
   reached inside a root that contains nothing else), then ``libcprobe --root ROOT -v``;
4. ``libcprobe.detect(executable=PATH)`` on the host, for inputs that are not ``#!`` scripts
   (a script would make libcprobe read whatever host file its first line names).

Any exception other than :class:`libcprobe.LibcprobeError` is a crash; ``inspect()`` and the
CLI must not raise at all. Hangs (``-timeout``) and memory blow-ups (``-rss_limit_mb``) are
crashes too.

Usage::

    python fuzz/fuzz_elf.py -max_total_time=30           # atheris (libFuzzer flags)
    python fuzz/fuzz_elf.py --no-atheris --seconds 30    # plain random-mutation loop
    python fuzz/fuzz_elf.py --make-seeds                 # (re)build fuzz/seeds only
    python fuzz/fuzz_elf.py crash-1234abcd               # replay one input (either mode)

Without corpus directories on the command line the run uses ``fuzz/corpus`` (grows) and
``fuzz/seeds`` (built on first use from tests/fixtures, tests/elfbuild.py and a few host files).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import importlib.util
import io
import json
import os
import random
import re
import resource
import signal
import struct
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any, Callable, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SEEDS = HERE / "seeds"
CORPUS = HERE / "corpus"
CRASHES = HERE / "crashes"
FIXTURES = REPO / "tests" / "fixtures"
HOST_FILES = (
    # (path, bytes kept: 0 = all)
    ("/usr/lib/x86_64-linux-musl/libc.so", 0),
    ("/lib/ld-musl-x86_64.so.1", 0),
    ("/bin/busybox", 64 * 1024),
    ("/lib/x86_64-linux-gnu/libc.so.6", 64 * 1024),
    ("/lib64/ld-linux-x86-64.so.2", 64 * 1024),
    ("/bin/sh", 64 * 1024),
)
MAX_SEED = 1024 * 1024  # whole fixture files up to this size; larger ones are cut to 64 KiB
MAX_LEN = 1024 * 1024  # default -max_len

#: Paths inside the fuzz root that are hard links to the input file.
ROOT_LINKS = (
    "lib/ld-musl-x86_64.so.1",
    "usr/bin/python3",
    "lib/x86_64-linux-gnu/libc.so.6",
    "etc/ld.so.conf",
)

#: Crashes already reported as bugs, skipped with --ignore-known so a long run can look past
#: them: (exception type name, regular expression on its message).
# Crash signatures --ignore-known skips. Empty: the three found by the first fuzz runs (a NUL
# byte in a path from the file, GLIBC_<non-ASCII digit>, undecodable names printed by the CLI)
# are fixed and pinned by regression tests in tests/test_error_model.py.
KNOWN_BUGS: tuple[tuple[str, str], ...] = ()


class Hang(BaseException):
    """One input ran past the per-input time limit (plain loop)."""


# -- the code under test -------------------------------------------------------------------


class Targets:
    """libcprobe's modules (imported under atheris instrumentation when fuzzing with it) and a
    scratch directory with the input file and the fuzz root."""

    def __init__(self, instrument: Optional[Any] = None) -> None:
        names = (
            "libcprobe",
            "libcprobe._errors",
            "libcprobe._elf",
            "libcprobe._classify",
            "libcprobe._libc_strings",
            "libcprobe._rootfs",
            "libcprobe._detect",
            "libcprobe._process",
            "libcprobe._program",
            "libcprobe._libc_files",
            "libcprobe._shim",
            "libcprobe._root",
            "libcprobe.audit._inspect",
            "libcprobe._model",
            "libcprobe._tags",
            "libcprobe._arch",
            "libcprobe._cli",
        )
        modules: dict[str, ModuleType] = {}
        context = (
            instrument.instrument_imports(include=["libcprobe"])
            if instrument is not None
            else contextlib.nullcontext()
        )
        with context:
            for name in names:
                modules[name] = importlib.import_module(name)
        self.lib = modules["libcprobe"]
        self.elf = modules["libcprobe._elf"]
        self.classify = modules["libcprobe._classify"]
        self.cli = modules["libcprobe._cli"]
        self.error: type[BaseException] = self.lib.LibcprobeError
        self.work = Path(tempfile.mkdtemp(prefix="libcprobe-fuzz-"))
        self.input = self.work / "input"
        self.root = self.work / "root"
        self.input.write_bytes(b"")
        for link in ROOT_LINKS:
            target = self.root / link
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(self.input, target)

    def write(self, data: bytes) -> None:
        """Rewrite the input file in place (all hard links in the root see it)."""
        fd = os.open(self.input, os.O_WRONLY | os.O_TRUNC)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)

    def cleanup(self) -> None:
        for link in ROOT_LINKS:
            with contextlib.suppress(OSError):
                (self.root / link).unlink()
        with contextlib.suppress(OSError):
            self.input.unlink()


def _expect_error(targets: Targets, fn: Callable[[], object]) -> Optional[object]:
    """Run ``fn``; a LibcprobeError is a result, anything else propagates (a crash)."""
    try:
        return fn()
    except targets.error:
        return None


def _exercise_elf(targets: Targets, elf: Any) -> None:
    for name in ("arch", "endian", "type_name", "linkage", "is_pie", "glibc_requires"):
        getattr(elf, name)
    elf.vaddr_to_offset(elf.entry)
    chunks = elf.readonly_data()
    assert sum(len(c) for _, c in chunks) <= targets.elf.MAX_BYTES_PER_FILE
    targets.classify.classify(elf, scan=True)


def _exercise_info(info: Any) -> None:
    repr(info)
    hash(info)
    json.dumps(info.to_dict())
    info.why("family")
    info.platform_tags()
    info.platform_tags(linux_first=False)


def _strict_utf8_stream() -> io.TextIOWrapper:
    # What a UTF-8 terminal (or a pipe under a UTF-8 locale) gives print().
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")


def _run_cli(targets: Targets, argv: list[str]) -> str:
    out = _strict_utf8_stream()
    with contextlib.redirect_stderr(_strict_utf8_stream()):
        status = targets.cli.main(argv, out=out)
    assert status in (0, 1), f"libcprobe {argv}: exit status {status}"
    out.flush()
    return out.buffer.getvalue().decode()  # type: ignore[attr-defined,no-any-return]


def one_input(targets: Targets, data: bytes) -> str:
    """Run every target on one input; returns a short outcome signature (for the plain loop's
    corpus selection). Raises on a crash."""
    outcome: list[str] = []
    # 1. The reader on bytes.
    try:
        elf = targets.elf.read_elf(data)
    except targets.error as exc:
        reason = str(getattr(exc, "reason", exc))
        outcome.append(type(exc).__name__ + ":" + re.sub(r"0x[0-9a-f]+|\d+", "N", reason))
    else:
        outcome.append("elf")
        _exercise_elf(targets, elf)
    # 2. inspect() and `libcprobe inspect` on a file. Neither may raise at all.
    targets.write(data)
    report = targets.lib.inspect(str(targets.input))
    json.dumps(report.to_dict())
    outcome.append(f"family={report.family}")
    _run_cli(targets, ["inspect", str(targets.input)])
    # 3. detect(root=...) and `libcprobe --root`.
    targets.lib.clear_cache()
    info = _expect_error(targets, lambda: targets.lib.detect(root=str(targets.root)))
    if info is not None:
        _exercise_info(info)
        outcome.append(f"root={info.family}/{info.linkage}/{info.version is not None}")  # type: ignore[attr-defined]
    _run_cli(targets, ["--root", str(targets.root), "-v"])
    # 4. detect(executable=...) on the host, for non-scripts.
    if not data.startswith(b"#!"):
        info = _expect_error(targets, lambda: targets.lib.detect(str(targets.input)))
        if info is not None:
            _exercise_info(info)
    targets.lib.clear_cache()
    return " ".join(outcome)


def is_known(exc: BaseException) -> bool:
    text = str(exc)
    return any(
        type(exc).__name__ == name and re.search(pattern, text) for name, pattern in KNOWN_BUGS
    )


# -- seeds -----------------------------------------------------------------------------------


def _elfbuild() -> Any:
    spec = importlib.util.spec_from_file_location("elfbuild", REPO / "tests" / "elfbuild.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["elfbuild"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def built_seeds() -> dict[str, bytes]:
    """Small valid ELF files from tests/elfbuild.py, one per classification path."""
    eb = _elfbuild()
    spec = eb.Spec
    musl_rodata = b"\0musl libc (x86_64)\0Version %s\0Dynamic Program Loader\0\x001.2.4\0"
    glibc_banner = b"\0GNU C Library (Debian GLIBC 2.36-9+deb12u4) stable release version 2.36.\n\0"
    android = struct.pack("<i", 30) + b"r25c\0\0\0\0"
    specs: dict[str, Any] = {
        "musl-program": spec(),
        "musl-program-32be": spec(elf_class=32, little=False),
        "musl-program-32le": spec(elf_class=32),
        "musl-program-64be": spec(little=False, machine=22),
        "musl-libc": spec(
            interp=None,
            needed=[],
            runpath=None,
            verneed=[],
            flags_1=0,
            notes=[],
            extra_rodata=musl_rodata,
        ),
        "glibc-program": spec(interp="/lib64/ld-linux-x86-64.so.2", needed=["libc.so.6"]),
        "glibc-libc": spec(
            interp=None,
            needed=["ld-linux-x86-64.so.2"],
            soname="libc.so.6",
            runpath=None,
            verdef=["libc.so.6", "GLIBC_2.2.5", "GLIBC_2.36", "GLIBC_PRIVATE"],
            verneed=[("ld-linux-x86-64.so.2", ["GLIBC_2.3", "GLIBC_PRIVATE"])],
            extra_rodata=glibc_banner,
        ),
        "glibc-loader": spec(
            interp=None,
            needed=[],
            soname="ld-linux-x86-64.so.2",
            runpath=None,
            verneed=[],
            verdef=["ld-linux-x86-64.so.2", "GLIBC_2.2.5", "GLIBC_2.3"],
            extra_rodata=glibc_banner,
        ),
        "musl-static": spec(
            etype=2,
            interp=None,
            needed=[],
            runpath=None,
            verneed=[],
            flags_1=0,
            notes=[],
            extra_rodata=b"\0No error information\0",
        ),
        "glibc-static": spec(
            etype=2,
            interp=None,
            needed=[],
            runpath=None,
            verneed=[],
            flags_1=0,
            extra_rodata=b"\0GLIBC_TUNABLES\0",
        ),
        "go-static": spec(
            etype=2, interp=None, needed=[], runpath=None, verneed=[], notes=[("Go", 4, b"x" * 8)]
        ),
        "android": spec(
            machine=183,
            interp="/system/bin/linker64",
            needed=["libc.so"],
            verneed=[],
            notes=[("Android", 1, android)],
        ),
        "bionic-libc": spec(
            machine=183,
            interp=None,
            needed=[],
            soname="libc.so",
            verneed=[],
            verdef=["libc.so", "LIBC", "LIBC_N"],
        ),
        "uclibc-libc": spec(interp=None, needed=[], soname="libc.so.0", verneed=[]),
        "arm-hard-float": spec(elf_class=32, machine=40, flags=0x05000400),
        "shebang-python": spec(interp="/usr/bin/python3"),
    }
    return {f"elfbuild-{name}": eb.build(s).data for name, s in specs.items()}


def text_seeds() -> dict[str, bytes]:
    return {
        "script-python3": b"#!/usr/bin/python3\n",
        "script-loader": b"#!/lib/ld-musl-x86_64.so.1 --\nexec\n",
        "script-env": b"#!/usr/bin/env python3\n",
        "script-dotdot": b"#!/usr/bin/../../../../lib/x86_64-linux-gnu/libc.so.6 -u\n",
        "ld-so-conf": b"# libc\ninclude /etc/ld.so.conf\ninclude /etc/*.conf\n/lib\n/usr/lib\n",
        "magic-only": b"\x7fELF",
        "magic-64": b"\x7fELF\x02\x01\x01" + bytes(9),
    }


def make_seeds(out: Path = SEEDS) -> int:
    """Write the seed corpus to ``out``; returns the number of files."""
    out.mkdir(parents=True, exist_ok=True)
    seeds: dict[str, bytes] = {}
    if FIXTURES.is_dir():
        for path in sorted(FIXTURES.rglob("*")):
            if not path.is_file() or path.is_symlink():
                continue
            with open(path, "rb") as f:
                head = f.read(MAX_SEED + 1)
            if not head.startswith(b"\x7fELF"):
                continue
            data = head if len(head) <= MAX_SEED else head[: 64 * 1024]
            seeds["fixture-" + str(path.relative_to(FIXTURES)).replace("/", "_")] = data
    for name, keep in HOST_FILES:
        with contextlib.suppress(OSError), open(name, "rb") as f:
            data = f.read(keep or MAX_SEED)
            seeds["host" + name.replace("/", "_")] = data
    seeds.update(built_seeds())
    seeds.update(text_seeds())
    for name, data in seeds.items():
        digest = hashlib.sha1(data).hexdigest()[:12]
        (out / f"{name}-{digest}").write_bytes(data)
    return len(seeds)


def _ensure_seeds() -> None:
    if not SEEDS.is_dir() or not any(SEEDS.iterdir()):
        count = make_seeds(SEEDS)
        print(f"fuzz_elf: wrote {count} seeds to {SEEDS}", file=sys.stderr)


# -- the plain random-mutation loop ------------------------------------------------------------

_INTERESTING = (
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    16,
    0x7F,
    0x80,
    0xFF,
    0x100,
    0x1000,
    0x7FFF,
    0x8000,
    0xFFFF,
    0x10000,
    0x7FFFFFFF,
    0x80000000,
    0xFFFFFFFF,
    0x100000000,
    2**63 - 1,
    2**63,
    2**64 - 1,
)
_TOKENS = (
    b"\x7fELF",
    b"\0",
    b"#!",
    b"/lib/ld-musl-x86_64.so.1\0",
    b"/lib64/ld-linux-x86-64.so.2\0",
    b"libc.so.6\0",
    b"libc.so\0",
    b"GLIBC_2.17\0",
    b"GLIBC_2.\xc2\xb2\0",
    b"musl libc",
    b"\x001.2.3\x00",
    b"release version 2.36.",
    b"No error information\0",
    b"GLIBC_TUNABLES\0",
    b"include ",
    b"/../",
    b"\xff\xfe",
)


class Mutator:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def mutate(self, data: bytes, other: bytes) -> bytes:
        out = bytearray(data)
        for _ in range(self.rng.choice((1, 1, 1, 2, 3, 4, 8))):
            self._one(out, other)
        return bytes(out[:MAX_LEN])

    def _one(self, out: bytearray, other: bytes) -> None:
        rng = self.rng
        op = rng.randrange(10)
        size = len(out)
        # Most of what libcprobe reads is in the first few KiB: aim there more often.
        hot = min(size, 4096) if size and rng.random() < 0.7 else size
        if op == 0 and size:  # flip a bit
            at = rng.randrange(hot)
            out[at] ^= 1 << rng.randrange(8)
        elif op == 1 and size:  # set a byte
            out[rng.randrange(hot)] = rng.choice((0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)))
        elif op in (2, 3) and size >= 8:  # an interesting word at an aligned offset
            width = rng.choice((2, 4, 8))
            at = rng.randrange(0, max(1, hot - width + 1)) & ~(width - 1)
            if at + width <= size:
                value = rng.choice((*_INTERESTING, size, size - 1, rng.randrange(size + 1)))
                value += rng.choice((0, 0, 0, 1, -1))
                fmt = rng.choice("<>") + {2: "H", 4: "I", 8: "Q"}[width]
                struct.pack_into(fmt, out, at, value % (1 << (8 * width)))
        elif op == 4 and size:  # truncate
            del out[rng.randrange(size) :]
        elif op == 5 and size:  # delete a chunk
            at = rng.randrange(size)
            del out[at : at + rng.randrange(1, 64)]
        elif op == 6:  # insert a token or random bytes
            at = rng.randrange(size + 1)
            piece = rng.choice(_TOKENS) if rng.random() < 0.6 else rng.randbytes(rng.randrange(16))
            out[at:at] = piece
        elif op == 7 and other:  # splice from another input
            start = rng.randrange(len(other))
            piece = other[start : start + rng.randrange(1, 512)]
            at = rng.randrange(size + 1)
            out[at : at + len(piece)] = piece
        elif op == 8 and size:  # duplicate a chunk (repeated headers, notes, entries)
            at = rng.randrange(size)
            chunk = bytes(out[at : at + rng.randrange(1, 256)])
            out[at:at] = chunk * rng.randrange(1, 8)
        elif size:  # overwrite with a token
            token = rng.choice(_TOKENS)
            at = rng.randrange(hot)
            out[at : at + len(token)] = token


def _load_corpus(dirs: list[Path]) -> list[bytes]:
    inputs: list[bytes] = []
    for d in dirs:
        if d.is_file():
            inputs.append(d.read_bytes()[:MAX_LEN])
            continue
        if d.is_dir():
            inputs.extend(p.read_bytes()[:MAX_LEN] for p in sorted(d.iterdir()) if p.is_file())
    return inputs or [b""]


def _on_alarm(signum: int, frame: Optional[FrameType]) -> None:
    raise Hang("one input ran past the time limit")


def _save_crash(data: bytes, exc: BaseException, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"crash-{hashlib.sha1(data).hexdigest()}"
    path.write_bytes(data)
    path.with_suffix(".txt").write_text(
        "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    )
    return path


def plain_loop(
    targets: Targets,
    corpus_dirs: list[Path],
    *,
    seconds: float,
    seed: Optional[int],
    timeout: float,
    ignore_known: bool,
    keep_going: bool,
    crash_dir: Path,
    save_corpus: Optional[Path],
    rss_limit_mb: int,
) -> int:
    """Mutate inputs at random for ``seconds``; returns the number of crashes found."""
    rng = random.Random(seed)
    mutator = Mutator(rng)
    pool = _load_corpus(corpus_dirs)
    seen: set[str] = set()
    if rss_limit_mb > 0:
        limit = rss_limit_mb * 1024 * 1024
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard == resource.RLIM_INFINITY or hard > limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    start = time.monotonic()
    runs = crashes = known = 0
    last_report = start
    try:
        index = 0
        while True:
            now = time.monotonic()
            if now - start >= seconds and index >= len(pool):  # every given input runs once
                break
            if now - last_report >= 60:
                last_report = now
                print(
                    f"fuzz_elf: {runs} inputs in {now - start:.0f} s, pool {len(pool)}, "
                    f"{crashes} crashes",
                    file=sys.stderr,
                    flush=True,
                )
            # Seeds first, unmutated; then mutants of random pool members.
            if index < len(pool):
                data = pool[index]
                index += 1
            else:
                data = mutator.mutate(rng.choice(pool), rng.choice(pool))
            runs += 1
            signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                signature = one_input(targets, data)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                signal.setitimer(signal.ITIMER_REAL, 0)
                if ignore_known and is_known(exc):
                    known += 1
                    continue
                crashes += 1
                path = _save_crash(data, exc, crash_dir)
                print(f"fuzz_elf: CRASH ({type(exc).__name__}: {exc}) saved to {path}")
                traceback.print_exception(type(exc), exc, exc.__traceback__)
                if not keep_going:
                    break
                continue
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            if signature not in seen:
                seen.add(signature)
                if index >= len(pool):
                    pool.append(data)
                    if save_corpus is not None:
                        save_corpus.mkdir(parents=True, exist_ok=True)
                        name = hashlib.sha1(data).hexdigest()
                        (save_corpus / name).write_bytes(data)
    finally:
        signal.signal(signal.SIGALRM, previous)
    elapsed = time.monotonic() - start
    print(
        f"fuzz_elf: plain loop done: {runs} inputs in {elapsed:.1f} s "
        f"({runs / max(elapsed, 1e-9):.0f}/s), {len(seen)} distinct outcomes, "
        f"{crashes} crashes, {known} known-bug inputs skipped",
        flush=True,
    )
    return crashes


# -- main ----------------------------------------------------------------------------------


def _import_atheris() -> Optional[Any]:
    try:
        return importlib.import_module("atheris")
    except ImportError:
        return None


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        description="Fuzz libcprobe's ELF reader, inspect() and detect(root=...). "
        "Unknown -flags go to libFuzzer (atheris).",
    )
    parser.add_argument("--no-atheris", action="store_true", help="use the plain mutation loop")
    parser.add_argument("--seconds", type=float, default=None, help="plain loop: run time")
    parser.add_argument("--seed", type=int, default=None, help="plain loop: random seed")
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds one input may take (a hang)"
    )
    parser.add_argument(
        "--rss-limit-mb", type=int, default=2048, help="plain loop: address-space limit"
    )
    parser.add_argument("--keep-going", action="store_true", help="plain loop: do not stop")
    parser.add_argument(
        "--ignore-known", action="store_true", help="do not report crashes listed in KNOWN_BUGS"
    )
    parser.add_argument("--make-seeds", action="store_true", help="only (re)build fuzz/seeds")
    parser.add_argument("--crash-dir", type=Path, default=CRASHES)
    parser.add_argument(
        "--supervise",
        type=float,
        metavar="SECONDS",
        default=None,
        help="atheris: fuzz this long in all, restarting libFuzzer after each crash",
    )
    return parser.parse_known_args(argv)


def supervise(seconds: float, argv: list[str]) -> int:
    """Fuzz with atheris for ``seconds`` in all, restarting after each crash (libFuzzer stops at
    the first one); print the total number of inputs and the crashes (saved in --crash-dir)."""
    import subprocess

    passthrough: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--supervise":
            skip = True
        elif not arg.startswith(("--supervise=", "-max_total_time=")):
            passthrough.append(arg)
    start = time.monotonic()
    runs = known = sessions = crashes = 0
    with tempfile.TemporaryDirectory() as tmp:
        stats = Path(tmp) / "stats"
        while True:
            left = int(seconds - (time.monotonic() - start))
            if left < 5:
                break
            stats.write_text("0 0\n")
            env = dict(os.environ, LIBCPROBE_FUZZ_STATS=str(stats))
            proc = subprocess.run(
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    *passthrough,
                    f"-max_total_time={left}",
                ],
                env=env,
                check=False,
            )
            sessions += 1
            counted = [int(n) for n in stats.read_text().split()] + [0, 0]
            runs += counted[0]
            known += counted[1]
            if proc.returncode != 0:
                crashes += 1
    elapsed = time.monotonic() - start
    print(
        f"fuzz_elf: supervised run done: {elapsed:.0f} s, about {runs} inputs "
        f"(counted every 100), {known} hit a known bug (skipped), {sessions} libFuzzer "
        f"sessions, {crashes} ended by a crash",
        flush=True,
    )
    return 1 if crashes else 0


def _flag(rest: list[str], name: str) -> Optional[str]:
    for arg in rest:
        if arg.startswith(f"-{name}="):
            return arg.split("=", 1)[1]
    return None


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args, rest = parse_args(argv)
    if args.make_seeds:
        print(f"fuzz_elf: wrote {make_seeds(SEEDS)} seeds to {SEEDS}")
        return 0
    atheris = None if args.no_atheris else _import_atheris()
    flags = [a for a in rest if a.startswith("-")]
    paths = [Path(a) for a in rest if not a.startswith("-")]
    if not paths:
        _ensure_seeds()
        CORPUS.mkdir(exist_ok=True)
        paths = [CORPUS, SEEDS]

    if atheris is None:
        if not args.no_atheris:
            print("fuzz_elf: atheris is not installed: using the plain loop", file=sys.stderr)
        seconds = args.seconds
        if seconds is None:
            seconds = float(_flag(flags, "max_total_time") or 60)
        replay = all(p.is_file() for p in paths)
        targets = Targets()
        try:
            crashes = plain_loop(
                targets,
                paths,
                seconds=0 if replay else seconds,
                seed=args.seed,
                timeout=args.timeout,
                ignore_known=args.ignore_known,
                keep_going=args.keep_going,
                crash_dir=args.crash_dir,
                save_corpus=None if replay else (paths[0] if paths[0].is_dir() else None),
                rss_limit_mb=args.rss_limit_mb,
            )
        finally:
            targets.cleanup()
        return 1 if crashes else 0

    if args.supervise is not None:
        return supervise(args.supervise, argv)

    targets = Targets(instrument=atheris)
    ignore_known = args.ignore_known
    stats = os.environ.get("LIBCPROBE_FUZZ_STATS")
    count = [0, 0]  # inputs, inputs that hit a known bug (skipped)

    def write_stats() -> None:
        if stats:
            Path(stats).write_text(f"{count[0]} {count[1]}\n")

    def test_one_input(data: bytes) -> None:
        count[0] += 1
        if count[0] % 100 == 0:
            write_stats()
        try:
            one_input(targets, data)
        except BaseException as exc:
            if ignore_known and is_known(exc):
                count[1] += 1
                return
            write_stats()
            raise

    defaults = {
        "max_len": str(MAX_LEN),
        "timeout": str(int(args.timeout)),
        "rss_limit_mb": str(args.rss_limit_mb),
        "artifact_prefix": str(args.crash_dir) + "/",
    }
    args.crash_dir.mkdir(parents=True, exist_ok=True)
    extra = [f"-{k}={v}" for k, v in defaults.items() if _flag(flags, k) is None]
    fuzz_argv = [sys.argv[0], *extra, *flags, *map(str, paths)]
    atheris.Setup(fuzz_argv, test_one_input)
    atheris.Fuzz()
    return 0  # pragma: no cover - libFuzzer exits the process


if __name__ == "__main__":
    sys.exit(main())
