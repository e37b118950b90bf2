"""Every kind of damage to a wheel's zip structure, and to a directory tree, goes through the
error model (docs/errors.md): an error row naming the cause for that member or wheel, the scan
goes on with the next file, the exit status is 1, and nothing else escapes.

The wheels are real (the greenlet fixture wheels, trimmed to a few of their own members) and
damaged one structure at a time with tests/zipsurgery.py.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import re
import socket
import struct
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Callable

import pytest

import zipsurgery as zs
from libcprobe import LibcprobeError, ZipError
from libcprobe._cli import main
from libcprobe.audit import _wheel
from libcprobe.audit._tree import MAX_TREE_DEPTH, walk
from libcprobe.audit._wheel import iter_wheel_members
from libcprobe.audit._zip import ZipArchive

WHEELS = Path(__file__).parent / "fixtures" / "wheels"
MUSL = WHEELS / "greenlet-3.2.5-cp311-cp311-musllinux_1_1_x86_64.whl"
SO = "_test_extension.cpython-311-x86_64-linux-musl.so"
KEEP = (SO, "greenlet/__init__.py", "dist-info/WHEEL", "dist-info/METADATA")


def base() -> zs.Zip:
    """The real wheel, trimmed to an ELF member and three text members (real bytes)."""
    return zs.parse(MUSL.read_bytes()).keep(KEEP)


def run(*argv: str) -> tuple[int, list[dict[str, object]]]:
    out = io.StringIO()
    status = main(list(argv), out=out)
    return status, [json.loads(line) for line in out.getvalue().splitlines()]


def _so(z: zs.Zip) -> int:
    return zs.find(z, SO)


def _count(z: zs.Zip, count: int) -> None:
    z.end.total = z.end.here = count


def _relaid(target: object, z: zs.Zip, **fields: bytes) -> None:
    for key, value in fields.items():
        setattr(target, key, value)
    z.relayout()


def _so_bytes() -> bytes:
    z = base()
    return zlib.decompress(z.records[_so(z)].data, -15)


Mutation = Callable[[zs.Zip], object]


def _flip_block_type(z: zs.Zip) -> None:
    r = z.records[_so(z)]
    r.data = bytes([r.data[0] | 0b110]) + r.data[1:]  # BTYPE 3: invalid


def _flip_middle(z: zs.Zip) -> None:
    r = z.records[_so(z)]
    mid = len(r.data) // 2
    r.data = r.data[:mid] + bytes([r.data[mid] ^ 0xFF]) + r.data[mid + 1 :]


def _cut_data(z: zs.Zip) -> None:
    i = _so(z)
    z.records[i].data = z.records[i].data[:-50]
    z.set_both(i, csize=len(z.records[i].data))
    z.relayout()


def _zip64_member(z: zs.Zip) -> None:
    i = _so(z)
    r, c = z.records[i], z.centrals[i]
    extra = struct.pack("<HHQQ", 1, 16, r.size, r.csize)
    r.extra = c.extra = extra
    z.set_both(i, size=0xFFFFFFFF, csize=0xFFFFFFFF)
    z.relayout()


def _zip64_without_extra(z: zs.Zip) -> None:
    z.centrals[_so(z)].size = 0xFFFFFFFF


def _duplicate(z: zs.Zip) -> None:
    i = _so(z)
    z.records.append(z.records[i])
    z.centrals.append(copy.deepcopy(z.centrals[i]))
    z.relayout()


def _two_entries_one_record(z: zs.Zip) -> None:
    i = _so(z)
    twin = copy.deepcopy(z.centrals[i])
    twin.name = b"greenlet/twin.so"
    z.centrals.append(twin)
    z.end.cd_size += len(twin.to_bytes())
    z.end.here = z.end.total = len(z.centrals)


def _second_directory(z: zs.Zip) -> None:
    z.extra_directory = b"".join(c.to_bytes() for c in z.centrals)


def _second_archive_hidden(z: zs.Zip) -> None:
    z.gap = base().write()
    z.relayout()


def _end_in_comment(z: zs.Zip) -> None:
    z.end.comment = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0, 0, 0, 0, 0)


def _descriptor(z: zs.Zip) -> None:
    i = _so(z)
    r = z.records[i]
    z.add_descriptor(i, struct.pack("<4sIII", b"PK\x07\x08", r.crc, r.csize, r.size))


def _bad_descriptor(z: zs.Zip) -> None:
    _descriptor(z)
    r = z.records[_so(z)]
    r.descriptor = r.descriptor[:4] + struct.pack("<I", 1) + r.descriptor[8:]


def _stored(z: zs.Zip, lie: int) -> None:
    i = _so(z)
    content = zlib.decompress(z.records[i].data, -15)
    z.records[i].data = content
    z.set_both(i, method=0, csize=len(content), size=len(content) + lie)
    z.relayout()


# (name, mutation, what the error row says, the row of: "so" member / "wheel")
CASES: list[tuple[str, Mutation, str, str]] = [
    ("deflate_invalid_block_type", _flip_block_type, "corrupt deflate data.*block type", "so"),
    ("deflate_byte_flipped", _flip_middle, "deflate|CRC-32|decompresses", "so"),
    ("deflate_truncated", _cut_data, "deflate stream is truncated|corrupt deflate", "so"),
    (
        "crc_in_both_headers",
        lambda z: z.set_both(_so(z), crc=z.centrals[_so(z)].crc ^ 1),
        "CRC-32 mismatch",
        "so",
    ),
    (
        "crc_in_directory_only",
        lambda z: setattr(z.centrals[_so(z)], "crc", 7),
        "local header disagrees.*CRC",
        "so",
    ),
    (
        "size_too_big_in_both",
        lambda z: z.set_both(_so(z), size=z.centrals[_so(z)].size + 1),
        "decompresses to \\d+ bytes, the directory says",
        "so",
    ),
    (
        "size_too_small_in_both",
        lambda z: z.set_both(_so(z), size=z.centrals[_so(z)].size - 1),
        "decompresses to more than",
        "so",
    ),
    (
        "size_in_local_header_only",
        lambda z: setattr(z.records[_so(z)], "size", 5),
        "local header disagrees.*sizes",
        "so",
    ),
    (
        "csize_too_small_in_both",
        lambda z: z.set_both(_so(z), csize=z.centrals[_so(z)].csize - 9),
        "belong to no member",
        "wheel",
    ),
    (
        "csize_too_big_in_both",
        lambda z: z.set_both(_so(z), csize=z.centrals[_so(z)].csize + 9),
        "ends before its compressed size|runs into the central directory",
        "so",
    ),
    (
        "csize_past_the_directory",
        lambda z: z.set_both(_so(z), csize=z.end.cd_offset + 10),
        "runs into the central directory",
        "so",
    ),
    (
        "offset_off_by_one",
        lambda z: setattr(z.centrals[_so(z)], "offset", z.centrals[_so(z)].offset + 1),
        "belong to no member|no local file header",
        "wheel",
    ),
    (
        "offset_past_the_file",
        lambda z: setattr(z.centrals[_so(z)], "offset", 1 << 31),
        "belong to no member|no local file header",
        "wheel",
    ),
    ("two_entries_one_record", _two_entries_one_record, "overlaps member", "twin"),
    (
        "count_too_big",
        lambda z: _count(z, z.end.total + 1),
        "the end record says 5",
        "wheel",
    ),
    (
        "count_too_small",
        lambda z: _count(z, 3),
        "more than the 3 entries",
        "wheel",
    ),
    ("count_disagrees_per_disk", lambda z: setattr(z.end, "here", 1), "multi-disk", "wheel"),
    (
        "directory_offset",
        lambda z: setattr(z.end, "cd_offset", z.end.cd_offset - 1),
        "does not end where the end record begins",
        "wheel",
    ),
    (
        "directory_size",
        lambda z: setattr(z.end, "cd_size", z.end.cd_size + 3),
        "does not end where the end record begins",
        "wheel",
    ),
    (
        "directory_entry_signature",
        lambda z: setattr(z.centrals[1], "sig", b"PK\x01\x09"),
        "central directory entry 1 is damaged",
        "wheel",
    ),
    ("multi_disk", lambda z: setattr(z.end, "disk", 1), "multi-disk", "wheel"),
    (
        "local_signature",
        lambda z: setattr(z.records[_so(z)], "sig", b"PK\x03\x05"),
        "no local file header",
        "so",
    ),
    (
        "local_name",
        lambda z: setattr(z.records[_so(z)], "name", b"x" * len(z.records[_so(z)].name)),
        "names another file",
        "so",
    ),
    (
        "local_method",
        lambda z: setattr(z.records[_so(z)], "method", 0),
        "local header disagrees.*method",
        "so",
    ),
    (
        "local_flags",
        lambda z: setattr(z.records[_so(z)], "flags", 1),
        "local header disagrees.*flags",
        "so",
    ),
    (
        "local_extra_malformed",
        lambda z: _relaid(z.records[_so(z)], z, extra=b"\x01\x00\xff\x00"),
        "malformed extra field in its local header",
        "so",
    ),
    (
        "directory_extra_malformed",
        lambda z: _relaid(z.centrals[_so(z)], z, extra=b"\x01\x00\xff\x00"),
        "malformed extra field in the central directory",
        "so",
    ),
    ("bzip2", lambda z: z.set_both(_so(z), method=12), "method 12 \\(bzip2\\)", "so"),
    ("lzma", lambda z: z.set_both(_so(z), method=14), "method 14 \\(lzma\\)", "so"),
    ("zstd", lambda z: z.set_both(_so(z), method=93), "method 93 \\(zstd\\)", "so"),
    ("deflate64", lambda z: z.set_both(_so(z), method=9), "method 9 \\(deflate64\\)", "so"),
    ("unknown_method", lambda z: z.set_both(_so(z), method=77), "method 77 \\(unknown\\)", "so"),
    ("aes", lambda z: z.set_both(_so(z), method=99), "method 99 \\(AES", "so"),
    ("encrypted", lambda z: z.set_both(_so(z), flags=0x01), "encrypted \\(flag bit 0\\)", "so"),
    ("strong_encryption", lambda z: z.set_both(_so(z), flags=0x41), "strong encryption", "so"),
    ("masked_headers", lambda z: z.set_both(_so(z), flags=0x2000), "flag bit 13", "so"),
    ("stored_sizes_differ", lambda z: _stored(z, 1), "stored member with", "so"),
    ("zip64_field_missing", _zip64_without_extra, "ZIP64 extra field missing", "so"),
    (
        "zip64_count_without_locator",
        lambda z: _count(z, 0xFFFF),
        "no ZIP64 locator",
        "wheel",
    ),
    ("duplicate_name", _duplicate, "2 members of this name", "so"),
    ("second_central_directory", _second_directory, "second central directory", "wheel"),
    ("second_archive_before_the_directory", _second_archive_hidden, "belong to no member", "wheel"),
    (
        "prefix",
        lambda z: _relaid(z, z, prefix=b"#!/bin/sh\n"),
        "belong to no member",
        "wheel",
    ),
    ("end_record_in_the_comment", _end_in_comment, "two end of central directory", "wheel"),
    ("trailing_data", lambda z: setattr(z, "trailer", b"junk"), "comment length", "wheel"),
    ("data_descriptor_disagrees", _bad_descriptor, "data descriptor disagrees", "so"),
]


@pytest.mark.parametrize(
    ("mutate", "cause", "where"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_damage_is_an_error_row_and_the_scan_goes_on(
    tmp_path: Path, mutate: Mutation, cause: str, where: str
) -> None:
    z = base()
    mutate(z)
    bad = tmp_path / "a-1.0-cp311-cp311-musllinux_1_1_x86_64.whl"
    bad.write_bytes(z.write())
    good = tmp_path / "b-1.0-cp311-cp311-musllinux_1_1_x86_64.whl"
    good.write_bytes(base().write())
    status, rows = run("inspect", "--json", str(bad), str(good))
    assert status == 1
    files = [r for r in rows if "path" in r]
    errors = {str(r["path"]): str(r["error"]) for r in files if r["error"]}
    if where == "wheel":
        assert re.search(cause, errors.pop(str(bad))), errors
    else:
        wanted = {"so": SO, "twin": "twin.so"}[where]
        hits = [e for p, e in errors.items() if p.startswith(str(bad)) and p.endswith(wanted)]
        assert hits and re.search(cause, hits[0]), errors
    # The next wheel is read in full, and checked clean.
    assert not [p for p in errors if p.startswith(str(good))]
    assert any(str(r["path"]).startswith(f"{good}!") and r["error"] is None for r in files)
    # check and the wheel summary take it too.
    out = io.StringIO()
    assert main(["check", "--platform", "musllinux_1_2_x86_64", str(bad)], out=out) == 1


@pytest.mark.parametrize(("mutate", "where"), [c[1::2] for c in CASES], ids=[c[0] for c in CASES])
def test_damage_is_a_zip_error_never_an_elf_error(
    tmp_path: Path, mutate: Mutation, where: str
) -> None:
    """What a damaged zip raises, for the wheel or for a member read as ELF, is the audit
    side's ZipError: never an ELFError (the member's bytes are not what is wrong)."""
    z = base()
    mutate(z)
    bad = tmp_path / "a-1.0-cp311-cp311-musllinux_1_1_x86_64.whl"
    bad.write_bytes(z.write())
    raised: list[LibcprobeError] = []
    try:
        with _wheel.open_wheel(str(bad)) as zf:
            for info in zf.members(_wheel.MAX_WHEEL_MEMBERS):
                try:
                    _wheel._read_member(zf, info, info.name, _wheel._Budget())
                except LibcprobeError as exc:
                    raised.append(exc)
    except LibcprobeError as exc:
        raised.append(exc)
    assert raised and all(type(exc) is ZipError for exc in raised), raised
    assert (where == "wheel") == (len(raised) == 1 and raised[0].path == str(bad))


@pytest.mark.parametrize(
    "mutate",
    [
        _zip64_member,
        _descriptor,
        lambda z: setattr(z.end, "zip64", True),
        lambda z: _stored(z, 0),
        lambda z: setattr(z.end, "comment", b"PK\x05\x06 x"),
    ],
    ids=["zip64_member", "data_descriptor", "zip64_end_record", "stored", "comment_with_sig"],
)
def test_valid_variants_read_cleanly(tmp_path: Path, mutate: Mutation) -> None:
    z = base()
    mutate(z)
    whl = tmp_path / "a-1.0-cp311-cp311-musllinux_1_1_x86_64.whl"
    whl.write_bytes(z.write())
    if b"PK" not in z.end.comment:  # (zipfile itself mistakes a signature in the comment)
        with zipfile.ZipFile(whl) as ref:  # the standard library agrees it is a valid zip
            assert ref.testzip() is None
    members = list(iter_wheel_members(str(whl), all_files=True))
    assert [m.error for m in members if m.is_elf] == [None]
    assert len(members) == 4


def test_every_member_of_the_fixture_wheels_checks_out() -> None:
    for wheel in WHEELS.glob("*.whl"):
        with ZipArchive(str(wheel)) as z, zipfile.ZipFile(wheel) as ref:
            members = z.members(100_000)
            assert [m.name for m in members] == ref.namelist()
            for m in members:
                assert b"".join(z.chunks(m)) == ref.read(m.name)


def test_zipfile_streamed_output_with_descriptors(tmp_path: Path) -> None:
    """zipfile writing to an unseekable stream uses data descriptors: still read."""

    class Unseekable(io.RawIOBase):
        def __init__(self) -> None:
            self.buf = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, b: object) -> int:
            data = bytes(b)  # type: ignore[call-overload]
            self.buf += data
            return len(data)

    sink = Unseekable()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as out, out.open("x/lib.so", "w") as f:
        f.write(_so_bytes())
    whl = tmp_path / "s-1.0-py3-none-any.whl"
    whl.write_bytes(bytes(sink.buf))
    (member,) = iter_wheel_members(str(whl))
    assert member.error is None


def test_truncation_at_every_structure_boundary(tmp_path: Path) -> None:
    z = base()
    blob = z.write()
    cuts = zs.boundaries(z)
    assert len(cuts) > 15
    whl = tmp_path / "t-1.0-py3-none-any.whl"
    for cut in [*cuts, 0, 1, 21]:
        whl.write_bytes(blob[:cut])
        with pytest.raises(ZipError, match=r"end of central directory|too short"):
            list(iter_wheel_members(str(whl)))


def test_truncated_member_data_with_intact_directory(tmp_path: Path) -> None:
    """The members before the directory cut short, the directory moved up: the offsets lie."""
    z = base()
    i = _so(z)
    z.records[i].data = z.records[i].data[: len(z.records[i].data) // 2]
    blob = z.write()  # offsets still the old ones
    whl = tmp_path / "t-1.0-py3-none-any.whl"
    whl.write_bytes(blob)
    with pytest.raises(ZipError, match="does not end where"):
        list(iter_wheel_members(str(whl)))


def test_concatenated_wheels(tmp_path: Path) -> None:
    blob = base().write()
    whl = tmp_path / "c-1.0-py3-none-any.whl"
    whl.write_bytes(blob + blob)
    status, rows = run("inspect", "--json", str(whl))
    assert status == 1 and "does not end where" in str(rows[0]["error"])


def test_not_a_zip_and_empty(tmp_path: Path) -> None:
    for content, cause in ((b"", "too short"), (b"x" * 100, "no end of central directory")):
        whl = tmp_path / "e-1.0-py3-none-any.whl"
        whl.write_bytes(content)
        status, rows = run("inspect", "--json", str(whl))
        assert status == 1 and cause in str(rows[0]["error"])


# -- directories -----------------------------------------------------------------------------


def _rows(*paths: Path, all_files: bool = True) -> tuple[int, dict[str, str]]:
    status, rows = run("inspect", "--json", *(["--all"] if all_files else []), *map(str, paths))
    return status, {str(r["path"]): str(r["error"]) for r in rows if "path" in r}


def test_special_files_are_named_and_skipped(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    os.mkfifo(tree / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tree / "sock"))
    if os.geteuid() == 0:
        os.mknod(tree / "null", 0o600 | 0o020000, os.makedev(1, 3))
    status, rows = _rows(tree)
    sock.close()
    assert "a FIFO" in rows[str(tree / "fifo")]
    assert "a socket" in rows[str(tree / "sock")]
    if os.geteuid() == 0:
        assert "a character device" in rows[str(tree / "null")]
    assert status == 0  # not binaries that failed: skipped, listed with --all


def test_unreadable_directory_is_an_error_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = tmp_path / "tree"
    (tree / "locked").mkdir(parents=True)
    (tree / "z").mkdir()
    (tree / "z" / "lib.so").write_bytes(_so_bytes())
    real = os.scandir

    def scandir(path: str) -> object:  # root ignores permissions, so refuse like EACCES would
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    status, rows = _rows(tree, all_files=False)
    assert "cannot list the directory: Permission denied" in rows[str(tree / "locked")]
    assert rows[str(tree / "z" / "lib.so")] == "None"  # the scan went on
    assert status == 1


def test_symlink_loops_and_links_out(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a").symlink_to("b")
    (tree / "b").symlink_to("a")
    (tree / "up").symlink_to("..")  # a directory loop through a link: not followed
    (tree / "out").symlink_to("/etc/passwd")
    (tree / "gone").symlink_to("nowhere")
    status, rows = _rows(tree)
    assert rows[str(tree / "a")] == "symbolic link loop"
    assert "out of the tree" in rows[str(tree / "out")]
    assert rows[str(tree / "gone")] == "dangling symbolic link"
    assert str(tree / "up") in rows and "out of the tree" in rows[str(tree / "up")]
    assert status == 1  # the loops


def test_deep_tree_is_bounded_without_recursion(tmp_path: Path) -> None:
    deep = tmp_path / "d"
    path = str(deep)
    os.makedirs(deep)
    fd = os.open(path, os.O_RDONLY)
    try:  # MAX_TREE_DEPTH + 50 levels, made relative to a directory fd (paths would be long)
        for _ in range(MAX_TREE_DEPTH + 50):
            os.mkdir("d", dir_fd=fd)
            new = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = new
    finally:
        os.close(fd)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # the walk must not recurse per level
    try:
        entries = list(walk(path))
    finally:
        sys.setrecursionlimit(limit)
    assert [e.note for e in entries] == [f"deeper than {MAX_TREE_DEPTH} levels: not read"]
    assert entries[0].error


def test_nothing_but_libcprobe_errors_from_the_zip_reader(tmp_path: Path) -> None:
    """Every single-byte change of the trimmed wheel's structures (not its member data): no
    exception but a LibcprobeError, every member either read or an error."""
    z = base()
    blob = bytearray(z.write())
    so = _so(z)
    data_start = z.centrals[so].offset + 30 + len(z.records[so].name)
    skip = range(data_start, data_start + len(z.records[so].data))
    whl = tmp_path / "f-1.0-py3-none-any.whl"
    positions = [p for p in range(len(blob)) if p not in skip]
    for p in positions[:: max(1, len(positions) // 600)]:
        mutated = bytearray(blob)
        mutated[p] ^= 0xA5
        whl.write_bytes(mutated)
        with contextlib.suppress(LibcprobeError):
            list(iter_wheel_members(str(whl), all_files=True))
