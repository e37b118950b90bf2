"""The musl version read by looking outward from the usage text (issue 16, target 3) gives
what the rule as first written gives (``musl_oracle``: every version-shaped string found
left to right by a regular expression, the nearest kept), on every real musl loader, on
random chunks and ELF layouts, and on real loaders with strings written into them; and it
reads only around the usage text."""

from __future__ import annotations

import functools
import random
import struct
import zipfile
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

import musl_oracle
from libcprobe import LibcprobeError, _classify, _libc_strings
from libcprobe._elf import ByteSource, ELFFile, open_elf, read_elf, read_elf_source
from libcprobe.audit._tree import iter_items

FIXTURES = Path(__file__).parent / "fixtures"
GLUED = FIXTURES / "static" / "synthetic" / "musl-version-glued" / "libc.so"
LOADERS = [*sorted(FIXTURES.glob("debian/*/*/musl/libc.so")), GLUED]
HOST_LOADER = Path("/lib/ld-musl-x86_64.so.1")
NEAR = _libc_strings.MUSL_NEAR

#: What random data is made of: version-shaped strings, strings that look like them and are
#: not, the pieces of both, the usage text.
PIECES = [b".", b"1", b"23", b"4567", b"\0", b"-", b"git", b"a", b"+", b" ", b"\xff", b"_",
          b"x" * 70, b"1.2.3\0", b"\x001.2.3\0", b"a1.2.3\0", b"x0.9.9\0", b"1.2.3-git-3-gabc\0",
          b"LINUX_2.6.39\0", b"1.2.3-a+1.2.3\0", b"1.2.3-x1.2.3\0", b"1.2.3.4\0", b"12.34.56\0",
          b"1234.5.6\0", b"b1.22.333\0", b"-" + b"a" * 63 + b"\0", b"1.2.3-" + b"a" * 64 + b"\0",
          b"1.2.3-" + b"a" * 65 + b"\0", b"1.2.3-.a\0", b"1.2.3-a.+_-\0", b"1.2.3-\0",
          b"1.2.3-a\xff\0", b"musl libc"]  # fmt: skip

Result = Any


def _found(found: Optional[_libc_strings.Found]) -> Result:
    if found is None:
        return None
    return found.version.release, found.version.raw, found.text, found.offset


def _version_of(fn: Callable[[ELFFile], tuple[Any, bool]], data: bytes) -> Result:
    try:
        found, marked = fn(read_elf(data))
    except LibcprobeError as exc:
        return type(exc).__name__
    return _found(found), marked


def _random_data(rng: random.Random, size: int, near: int) -> bytes:
    """Filler with pieces strewn over it, and usage texts with strings at the distances where
    the rule changes (the window's edges, the 80 bytes a NUL may lie past it)."""
    out = bytearray(rng.choice([b"\0", b"\xaa", b"x", b"."]) * size)
    for _ in range(rng.randint(0, 12)):
        piece = rng.choice(PIECES)
        at = rng.randint(0, max(0, size - len(piece)))
        out[at : at + len(piece)] = piece[: size - at]
    for _ in range(rng.randint(0, 3)):
        marker = rng.randint(0, max(0, size - 9))
        out[marker : marker + 9] = b"musl libc"[: size - marker]
        for _ in range(rng.randint(0, 10)):
            distance = rng.choice([0, 1, 2, 3, 5, 9, 80, near - 1, near, near + 1, near + 75,
                                   near + 79, near + 80, near + 85, near + 128, 2 * near,
                                   rng.randint(0, size)])  # fmt: skip
            at = marker + distance * rng.choice([-1, 1])
            piece = rng.choice(PIECES[13:])
            if 0 <= at < size:
                out[at : at + len(piece)] = piece[: size - at]
    return bytes(out)


def _random_chunks(rng: random.Random, data: bytes) -> list[tuple[int, bytes]]:
    """One to three chunks of data: the whole, or random slices, overlapping, in any order."""
    chunks = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        a, b = 0, len(data)
        if rng.random() < 0.5 and len(data) > 1:
            a = rng.randint(0, len(data) - 1)
            b = rng.randint(a + 1, len(data))
        chunks.append((a, data[a:b]))
    if rng.random() < 0.3:
        rng.shuffle(chunks)
    return chunks


def _elf_with_segments(rng: random.Random, body: bytes) -> bytes:
    """An ELF64 file whose body is cut into PT_LOAD segments (read-only, code, writable), or
    covered by random ones that overlap, leave gaps and run past the end of the file."""
    count = rng.randint(1, 6)
    start = 64 + 56 * count
    size = start + len(body)
    segments = []
    if rng.random() < 0.6:
        cuts = [0, *sorted(rng.randint(0, len(body)) for _ in range(count - 1)), len(body)]
        for a, b in zip(cuts, cuts[1:]):
            segments.append((rng.choice([4, 4, 5, 5, 6]), start + a, b - a))
    else:
        for _ in range(count):
            offset = rng.randint(0, size - 1)
            segments.append((rng.choice([4, 4, 5, 5, 6, 7, 1, 0]), offset, rng.randint(0, size)))
    header = b"\x7fELF\x02\x01\x01" + bytes(9)
    header += struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0x1000, 64, 0, 0, 64, 56, count, 64, 0, 0)
    phdrs = b"".join(
        struct.pack("<IIQQQQQQ", 1, flags, off, 0x1000 + off, 0x1000 + off, n, n, 0x1000)
        for flags, off, n in segments
    )
    return header + phdrs + body


@pytest.fixture
def small_constants(monkeypatch: pytest.MonkeyPatch) -> int:
    """The window, rings, steps and bounds a few hundred times smaller (in the code and in the
    oracle alike), so that small random files reach every edge."""
    near = 40
    for module in (_libc_strings, _classify, musl_oracle):
        monkeypatch.setattr(module, "MUSL_NEAR", near)
    monkeypatch.setattr(_libc_strings, "_RING", 8)
    for module in (_classify, musl_oracle):
        monkeypatch.setattr(module, "_STEP", 64)
        monkeypatch.setattr(module, "MUSL_LOADER_SCAN", 64 * 8)
    monkeypatch.setattr(_classify, "_MUSL_TAIL", 64 * 3)
    marker = functools.partial(_libc_strings.last_musl_marker, first=16)
    monkeypatch.setattr(_classify, "last_musl_marker", marker)
    return near


@pytest.mark.parametrize("path", LOADERS, ids=lambda p: "/".join(p.parts[-4:-2]))
def test_real_loaders_give_what_the_rule_gives(path: Path) -> None:
    data = path.read_bytes()
    ours = _version_of(_classify._musl_version_of, data)
    assert ours == _version_of(musl_oracle.musl_version_of, data)
    assert ours[0] is not None and ours[1]
    chunks = read_elf(data).readonly_data()
    assert _found(_libc_strings.find_musl_version(chunks)) == _found(
        musl_oracle.find_musl_version(chunks)
    )


def test_the_host_loader_gives_what_the_rule_gives() -> None:
    if not HOST_LOADER.exists():
        pytest.skip(f"{HOST_LOADER} not found")
    data = HOST_LOADER.read_bytes()
    ours = _version_of(_classify._musl_version_of, data)
    assert ours == _version_of(musl_oracle.musl_version_of, data)
    assert ours[0] is not None


def test_random_chunks_give_what_the_rule_gives(small_constants: int) -> None:
    rng = random.Random(1616)
    for _ in range(6000):
        data = _random_data(rng, rng.choice([20, 50, 100, 200, 400, 800]), small_constants)
        chunks = _random_chunks(rng, data)
        expected = _found(musl_oracle.find_musl_version(chunks))
        assert _found(_libc_strings.find_musl_version(chunks)) == expected, chunks
        start, end = rng.randint(-2, len(data)), rng.randint(0, len(data) + 3)
        expected_all = musl_oracle.musl_versions(data, start, end)
        assert list(_libc_strings._musl_versions(data, start, end)) == expected_all


def test_random_chunks_at_full_size_give_what_the_rule_gives() -> None:
    rng = random.Random(16)
    for _ in range(150):
        data = _random_data(rng, rng.choice([3000, 20000, 40000, 70000]), NEAR)
        chunks = _random_chunks(rng, data)
        expected = _found(musl_oracle.find_musl_version(chunks))
        assert _found(_libc_strings.find_musl_version(chunks)) == expected


def test_random_elf_layouts_give_what_the_rule_gives(small_constants: int) -> None:
    rng = random.Random(3)
    for _ in range(2500):
        body = _random_data(rng, rng.choice([20, 50, 100, 200, 400, 800, 1600]), small_constants)
        data = _elf_with_segments(rng, body)
        ours = _version_of(_classify._musl_version_of, data)
        assert ours == _version_of(musl_oracle.musl_version_of, data), data


def test_real_loaders_with_strings_written_in_give_what_the_rule_gives() -> None:
    rng = random.Random(12)
    loaders = [p.read_bytes() for p in LOADERS[:-1]]
    for _ in range(40):
        data = bytearray(rng.choice(loaders))
        marker = data.rfind(b"musl libc")
        for _ in range(rng.randint(1, 6)):
            distance = rng.choice([0, 5, 80, NEAR - 3, NEAR, NEAR + 1, NEAR + 77, NEAR + 80,
                                   NEAR + 130, 40000, 65540, 150000, 262144,
                                   rng.randint(0, 300000)])  # fmt: skip
            at = marker + distance * rng.choice([-1, 1])
            piece = rng.choice(PIECES)
            if rng.random() < 0.1:
                data[marker : marker + 9] = b"x" * 9
            if 0 <= at < len(data) - len(piece):
                data[at : at + len(piece)] = piece
        ours = _version_of(_classify._musl_version_of, bytes(data))
        assert ours == _version_of(musl_oracle.musl_version_of, bytes(data))


class _Counting:
    """Counts the bytes an ELFFile's read_range returns."""

    def __init__(self, read: Callable[[int, int], bytes]) -> None:
        self.read, self.total = read, 0

    def __call__(self, start: int, end: int) -> bytes:
        data = self.read(start, end)
        self.total += len(data)
        return data


@pytest.mark.parametrize(
    ("release", "arch", "most"),
    [
        ("bookworm", "amd64", 40_000),  # the version 8 KiB after the usage text
        ("bookworm", "arm64", 240_000),  # 162 KiB before it, in the one read-only segment
        ("trixie", "riscv64", 320_000),  # the usage text 205 KiB before the segment's end
    ],
)
def test_only_the_bytes_around_the_usage_text_are_read(
    monkeypatch: pytest.MonkeyPatch, release: str, arch: str, most: int
) -> None:
    path = FIXTURES / "debian" / release / arch / "musl" / "libc.so"
    monkeypatch.setattr(ELFFile, "readonly_data", None)  # not the whole of it
    with open_elf(path) as elf:
        counting = _Counting(elf.read_range)
        monkeypatch.setattr(elf, "read_range", counting)
        found, marked = _classify._musl_version_of(elf)
    assert found is not None and marked
    assert counting.total <= most, counting.total


class _Parts(ByteSource):
    """A file of which only some ranges are held, as a wheel member over 8 MiB is
    (audit/_wheel.py's _SparseSource): ``scan`` gives the held parts of a range, joined."""

    def __init__(self, data: bytes, kept: list[tuple[int, int]]) -> None:
        super().__init__("parts", len(data))
        self.data, self.kept, self.short = data, kept, False

    def read(self, offset: int, size: int) -> bytes:
        return self.data[offset : offset + size]

    def scan(self, offset: int, size: int) -> bytes:
        end = offset + size
        out = b"".join(
            self.data[max(a, offset) : min(b, end)] for a, b in self.kept if max(a, offset) < b
        )
        self.short = self.short or len(out) < size
        return out


def _sparse_reproducer() -> bytes:
    """The review's mk_sparse.py: a 9 MiB ET_DYN with one 3 MiB read-only segment and, in its
    first 64 KiB (all a sparse reader keeps), the version, the usage text and a dot as the
    last kept byte."""
    out = bytearray(9 << 20)
    header = b"\x7fELF\x02\x01\x01" + bytes(9)
    header += struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, 64, 0, 0, 64, 56, 1, 64, 0, 0)
    out[:64] = header
    out[64:120] = struct.pack("<IIQQQQQQ", 1, 4, 0, 0, 0, 3 << 20, 3 << 20, 4096)
    for at, piece in ((50 << 10, b"\x001.2.3\x00"), (60 << 10, b"\x00musl libc\x00")):
        out[at : at + len(piece)] = piece
    out[(64 << 10) - 2 : 64 << 10] = b"9."
    return bytes(out)


def _whole_scan(elf: ELFFile) -> Result:
    """What the version search gives from all the read-only data at once (the rule's first
    form, and what a byte source holding only parts of the file gets)."""
    chunks = elf.readonly_data()
    found = _libc_strings.find_musl_version(chunks)
    return _found(found), found is not None or any(b"musl libc" in d for _, d in chunks)


def test_a_source_holding_only_parts_gets_the_whole_scan() -> None:
    # Review finding 1: the searches indexed past the end of a short piece (IndexError).
    data = _sparse_reproducer()
    elf = read_elf_source(_Parts(data, [(0, 64 << 10)]))
    found, marked = _classify._musl_version_of(elf)
    assert (_found(found), marked) == _whole_scan(elf)
    assert found is not None and found.text == "1.2.3" and marked


@pytest.mark.parametrize("path", LOADERS, ids=lambda p: "/".join(p.parts[-4:-2]))
def test_real_loaders_held_in_parts_get_the_whole_scan(path: Path) -> None:
    data = path.read_bytes()
    rng = random.Random(path.stat().st_size)
    shapes: set[bool] = set()
    for attempt in range(8):
        cuts = sorted(rng.randrange(len(data)) for _ in range(2 * rng.randint(1, 6)))
        kept = [(0, 4096), *zip(cuts[::2], cuts[1::2])] if attempt else [(0, len(data))]
        source = _Parts(data, kept)
        elf = read_elf_source(source)
        found, marked = _classify._musl_version_of(elf)
        # Whole reads all the way: the file's own answer; else the scan of what is held.
        whole = _version_of(_classify._musl_version_of, data)
        assert (_found(found), marked) == (_whole_scan(elf) if source.short else whole), kept
        shapes.add(source.short)
    assert shapes == {False, True}


def test_a_large_wheel_member_held_in_parts(tmp_path: Path) -> None:
    # The review's reproducer end to end: a member over 8 MiB is read sparsely.
    wheel = tmp_path / "sparse-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("pkg/libc.so", _sparse_reproducer())
    (item,) = iter_items([str(wheel)], all_files=False)
    assert (item.report.family, item.report.libc_version, item.report.error) == (
        "musl",
        "1.2.3",
        None,
    )
