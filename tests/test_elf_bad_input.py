"""The ELF reader on hand-made bad input: every failure is a documented LibcprobeError."""

from __future__ import annotations

import contextlib
import os
import struct
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import elfbuild
from libcprobe import (
    CorruptELFError,
    ELFError,
    FileAccessError,
    LibcprobeError,
    NotELFError,
    TruncatedELFError,
)
from libcprobe._elf import MAX_BYTES_PER_FILE, MAX_PROGRAM_HEADERS, read_elf

VARIANTS = [(c, le) for c in (32, 64) for le in (True, False)]


def _patch(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def _word(little: bool, is64: bool) -> str:
    return ("<" if little else ">") + ("Q" if is64 else "I")


@pytest.mark.parametrize(("elf_class", "little"), VARIANTS)
def test_builder_output_is_read_back(elf_class: int, little: bool) -> None:
    built = elfbuild.build(
        elfbuild.Spec(
            elf_class=elf_class, little=little, soname="libx.so", verdef=["libx.so", "X_1"]
        )
    )
    elf = read_elf(built.data)
    assert elf.elf_class == elf_class and elf.little_endian == little
    assert elf.interpreter == "/lib/ld-musl-x86_64.so.1"
    assert elf.needed == ("libc.so",) and elf.soname == "libx.so"
    assert elf.runpath == ("$ORIGIN/../lib",) and elf.rpath == ()
    assert elf.version_needs[0].names == ("GLIBC_2.2.5", "GLIBC_2.17")
    assert elf.version_definitions == ("libx.so", "X_1")
    assert elf.glibc_requires == (2, 17) and elf.is_pie and elf.linkage == "dynamic"


def test_empty_and_not_elf() -> None:
    with pytest.raises(NotELFError, match="empty"):
        read_elf(b"")
    with pytest.raises(NotELFError, match="no ELF magic"):
        read_elf(b"#!/bin/sh\necho hi\n")
    with pytest.raises(NotELFError):
        read_elf(b"\x7fEL")


@pytest.mark.parametrize(("elf_class", "little"), VARIANTS)
def test_every_truncation_is_an_elf_error_or_a_result(elf_class: int, little: bool) -> None:
    data = elfbuild.build(elfbuild.Spec(elf_class=elf_class, little=little)).data
    for cut in range(len(data)):
        with contextlib.suppress(ELFError):
            read_elf(data[:cut])
    # Cutting inside the headers is always reported as truncation.
    with pytest.raises(TruncatedELFError):
        read_elf(data[:40])


def test_bad_class_and_encoding() -> None:
    built = elfbuild.build(elfbuild.Spec())
    with pytest.raises(CorruptELFError, match="class"):
        read_elf(_patch(built.data, 4, "B", 9))
    with pytest.raises(CorruptELFError, match="encoding"):
        read_elf(_patch(built.data, 5, "B", 0))


def test_phdrs_past_eof_and_huge_counts() -> None:
    built = elfbuild.build(elfbuild.Spec())
    f = built.fields
    with pytest.raises(TruncatedELFError, match="program header table"):
        read_elf(_patch(built.data, f["e_phoff"], "<Q", 2**63))
    with pytest.raises(CorruptELFError, match="program headers"):
        read_elf(_patch(built.data, f["e_phnum"], "<H", MAX_PROGRAM_HEADERS + 1))
    with pytest.raises(CorruptELFError, match="entry size"):
        read_elf(_patch(built.data, f["e_phentsize"], "<H", 55))


def test_segment_offsets_past_eof() -> None:
    built = elfbuild.build(elfbuild.Spec())
    f = built.fields
    # phdr1 = PT_INTERP, phdr3 = PT_DYNAMIC, phdr4 = PT_NOTE
    for index in (1, 3, 4):
        with pytest.raises(TruncatedELFError):
            read_elf(_patch(built.data, f[f"phdr{index}.offset"], "<Q", len(built.data) + 8))
    with pytest.raises(CorruptELFError, match="PT_INTERP"):
        read_elf(_patch(built.data, f["phdr1.filesz"], "<Q", 2**40))
    with pytest.raises(CorruptELFError, match="PT_NOTE"):
        read_elf(_patch(built.data, f["phdr4.filesz"], "<Q", 2**40))


def test_huge_dynamic_segment_is_bounded() -> None:
    built = elfbuild.build(elfbuild.Spec())
    # PT_DYNAMIC claims 2**40 bytes: only as many entries as the file holds are read, and the
    # DT_NULL inside ends the walk.
    with pytest.raises((TruncatedELFError, CorruptELFError)):
        read_elf(_patch(built.data, built.fields["phdr3.filesz"], "<Q", 2**40))


def test_string_index_past_strsz() -> None:
    built = elfbuild.build(elfbuild.Spec())
    dyn = built.fields["dynamic"]
    # First dynamic entry is DT_NEEDED; point its string far away.
    with pytest.raises(CorruptELFError, match="DT_STRSZ"):
        read_elf(_patch(built.data, dyn + 8, "<Q", 10**9))


def test_strtab_not_mapped() -> None:
    built = elfbuild.build(elfbuild.Spec())
    data = built.data
    dyn = built.fields["dynamic"]
    # Find DT_STRTAB and point it outside every PT_LOAD.
    for i in range(0, 400, 16):
        tag, _ = struct.unpack_from("<qQ", data, dyn + i)
        if tag == 5:
            data = _patch(data, dyn + i + 8, "<Q", 0xDEAD0000)
            break
    with pytest.raises(CorruptELFError, match="DT_STRTAB"):
        read_elf(data)


def test_verneed_chain_with_huge_count_stays_bounded() -> None:
    """vn_next is unsigned, so chains only move forward; a huge DT_VERNEEDNUM with a chain
    that walks into its own aux entries must end in an error, not a long or endless walk."""
    spec = elfbuild.Spec(verneed=[("libc.so.6", ["GLIBC_2.2.5"]), ("libm.so.6", ["GLIBC_2.29"])])
    built = elfbuild.build(spec)
    vn = built.fields["verneed"]
    data = _patch(built.data, vn + 32 + 12, "<I", 16)  # second entry's vn_next -> its aux
    dyn = built.fields["dynamic"]
    for i in range(0, 512, 16):
        tag, _ = struct.unpack_from("<qQ", data, dyn + i)
        if tag == 0x6FFFFFFF:  # DT_VERNEEDNUM
            data = _patch(data, dyn + i + 8, "<Q", 10**9)
            break
    with pytest.raises(CorruptELFError, match=r"Verneed|DT_VERNEED"):
        read_elf(data)


def test_self_referencing_vernaux_is_detected() -> None:
    built = elfbuild.build(elfbuild.Spec(verneed=[("libc.so.6", ["GLIBC_2.2.5", "GLIBC_2.3"])]))
    vn = built.fields["verneed"]
    # First Vernaux (at vn + 16): vna_next = 0 would end; set it to 0 offset => itself.
    data = bytearray(built.data)
    struct.pack_into("<H", data, vn + 2, 2)  # vn_cnt stays 2
    struct.pack_into("<I", data, vn + 16 + 12, 0)  # vna_next 0 ends the chain early: fine
    read_elf(bytes(data))
    # A vna_next that loops back to an earlier aux entry is a cycle.
    struct.pack_into("<I", data, vn + 16 + 12, 16)
    struct.pack_into("<I", data, vn + 32 + 12, (-16) & 0xFFFFFFFF)
    struct.pack_into("<H", data, vn + 2, 50)
    with pytest.raises(CorruptELFError, match="aux chain"):
        read_elf(bytes(data))


def test_note_overrunning_its_segment() -> None:
    built = elfbuild.build(elfbuild.Spec())
    with pytest.raises(CorruptELFError, match="note"):
        read_elf(_patch(built.data, built.fields["notes"] + 4, "<I", 2**31))


def test_extended_phnum_needs_section_zero() -> None:
    built = elfbuild.build(elfbuild.Spec())
    with pytest.raises(CorruptELFError, match="PN_XNUM"):
        read_elf(_patch(built.data, built.fields["e_phnum"], "<H", 0xFFFF))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    variant=st.sampled_from(VARIANTS),
    where=st.sampled_from(
        [
            "e_phoff",
            "e_phnum",
            "e_phentsize",
            "phdr1.offset",
            "phdr1.filesz",
            "phdr3.offset",
            "phdr3.filesz",
            "phdr4.offset",
            "phdr4.filesz",
            "dynamic",
            "verneed",
            "notes",
            "strtab",
            "interp",
        ]
    ),
    delta=st.integers(min_value=0, max_value=24),
    value=st.one_of(st.integers(0, 255), st.sampled_from([0xFF, 0x7F, 0x80, 0x01, 0x00])),
    width=st.sampled_from([1, 2, 4]),
)
def test_one_corrupted_field_never_escapes(
    variant: tuple[int, bool], where: str, delta: int, value: int, width: int
) -> None:
    """Property: corrupt one field; the reader returns or raises an ELFError, nothing else."""
    elf_class, little = variant
    built = elfbuild.build(
        elfbuild.Spec(elf_class=elf_class, little=little, verdef=["libx.so", "X_1"])
    )
    at = built.fields[where] + delta
    data = bytearray(built.data)
    if at + width > len(data):
        return
    data[at : at + width] = bytes([value]) * width
    with contextlib.suppress(ELFError):
        read_elf(bytes(data))


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=512))
def test_random_bytes_after_magic(tail: bytes) -> None:
    with contextlib.suppress(ELFError):
        read_elf(b"\x7fELF" + tail)


def test_filesystem_errors(tmp_path: Path) -> None:
    with pytest.raises(FileAccessError, match="no such file"):
        read_elf(tmp_path / "missing")
    with pytest.raises(FileAccessError, match="directory"):
        read_elf(tmp_path)
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileAccessError, match="dangling"):
        read_elf(link)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(FileAccessError, match="not a regular file"):
        read_elf(fifo)  # must not block on open or read


@pytest.mark.skipif(
    os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root reads any file"
)
def test_unreadable_file(tmp_path: Path) -> None:  # pragma: no cover - CI runs as root
    target = tmp_path / "secret"
    target.write_bytes(elfbuild.build(elfbuild.Spec()).data)
    target.chmod(0)
    with pytest.raises(FileAccessError, match="permission"):
        read_elf(target)


def test_unreadable_file_via_mode_zero_as_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As root a mode-0 file is readable; simulate the kernel's EACCES to check the message.
    import errno

    def deny(path: str, flags: int, mode: int = 0o777) -> int:
        raise PermissionError(errno.EACCES, "Permission denied", path)

    target = tmp_path / "x"
    target.write_bytes(b"\x7fELF")  # exists (libcprobe stats before it opens), but denied
    monkeypatch.setattr(os, "open", deny)
    with pytest.raises(FileAccessError, match="permission denied") as info:
        read_elf(target)
    assert info.value.errno == errno.EACCES


def test_sparse_huge_file_reads_little(tmp_path: Path) -> None:
    """A 1 GiB sparse file with a valid header: the reader touches only a few blocks."""
    built = elfbuild.build(elfbuild.Spec())
    big = tmp_path / "big.so"
    with open(big, "wb") as f:
        f.write(built.data)
        f.truncate(1 << 30)
    elf = read_elf(big)
    assert elf.needed == ("libc.so",)
    assert elf.file_size == 1 << 30


def test_readonly_scan_is_capped() -> None:
    built = elfbuild.build(elfbuild.Spec(extra_rodata=b"x" * 100_000))
    elf = read_elf(built.data)
    chunks = elf.readonly_data(limit=1000)
    assert sum(len(c) for _, c in chunks) <= 1000
    assert MAX_BYTES_PER_FILE >= 1 << 20


def test_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.so"
    bad.write_bytes(b"\x7fELF\x09")
    with pytest.raises(LibcprobeError) as info:
        read_elf(bad)
    assert str(bad) in str(info.value)
    assert info.value.path == str(bad)
    assert isinstance(info.value, ValueError)  # ELF errors are ValueErrors, like packaging's


def test_python_version_floor() -> None:
    assert sys.version_info >= (3, 9)


# -- open_elf(lazy=True): what detection reads, and when the rest raises --------------------


def _broken_verneed(tmp_path: Path) -> Path:
    """A dynamic program (PT_INTERP the glibc loader) whose DT_VERNEED chain loops."""
    built = elfbuild.build(
        elfbuild.Spec(
            interp="/lib64/ld-linux-x86-64.so.2",
            needed=["libc.so.6"],
            verneed=[("libc.so.6", ["GLIBC_2.2.5", "GLIBC_2.3"])],
        )
    )
    data = bytearray(built.data)
    vn = built.fields["verneed"]
    struct.pack_into("<I", data, vn + 16 + 12, 16)
    struct.pack_into("<I", data, vn + 32 + 12, (-16) & 0xFFFFFFFF)
    struct.pack_into("<H", data, vn + 2, 50)
    path = tmp_path / "broken-verneed"
    path.write_bytes(bytes(data))
    return path


def test_lazy_open_raises_for_a_broken_table_only_when_it_is_used(tmp_path: Path) -> None:
    from libcprobe._elf import open_elf

    path = _broken_verneed(tmp_path)
    with pytest.raises(CorruptELFError, match="aux chain"):
        read_elf(path)  # eager: at once
    with pytest.raises(CorruptELFError, match="aux chain"), open_elf(path):
        pass
    with open_elf(path, lazy=True) as elf:
        assert elf.needed == ("libc.so.6",)
        assert elf.interpreter == "/lib64/ld-linux-x86-64.so.2"
        for _ in range(2):  # every use raises: nothing half-parsed is kept
            with pytest.raises(CorruptELFError, match="aux chain"):
                _ = elf.version_needs
        assert elf.version_definitions == ()
        assert [n.name for n in elf.notes] == ["GNU"]


def test_lazy_groups_used_after_the_block_say_the_file_was_closed(tmp_path: Path) -> None:
    from libcprobe._elf import open_elf

    path = tmp_path / "ok"
    path.write_bytes(elfbuild.build(elfbuild.Spec()).data)
    with open_elf(path, lazy=True) as elf:
        assert elf.version_needs  # parsed inside: kept
    assert elf.version_needs[0].file == "libc.so.6"
    with open_elf(path, lazy=True) as late:
        pass
    with pytest.raises(FileAccessError, match="closed before this read"):
        _ = late.notes


def test_detect_reads_a_program_with_a_broken_version_table(tmp_path: Path) -> None:
    """Detection does not need DT_VERNEED when PT_INTERP names the family; inspect() (eager)
    reports the broken table."""
    import libcprobe

    path = _broken_verneed(tmp_path)
    info = libcprobe.detect(executable=str(path))
    assert info.family == "glibc"
    assert info.interpreter == "/lib64/ld-linux-x86-64.so.2"
    assert "aux chain" in (libcprobe.inspect(path).error or "")


def test_lazy_and_eager_reads_agree_on_real_files() -> None:
    """Every group parsed on demand equals the eager parse, on the repository's real ELF
    fixtures (and the note pre-test never says no to a note that is there)."""
    from libcprobe._elf import open_elf

    root = Path(__file__).parent / "fixtures"
    seen = 0
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix in (".json", ".md", ".whl", ".txt", ".py", ".sh"):
            continue
        try:
            eager = read_elf(path)
        except LibcprobeError:
            continue
        seen += 1
        with open_elf(path, lazy=True) as lazy:
            for note in eager.notes:
                assert lazy.may_have_note(note.name), (path, note.name)
            assert not lazy.may_have_note("no such owner\0")
            assert lazy.notes == eager.notes
            assert lazy.version_needs == eager.version_needs
            assert lazy.version_definitions == eager.version_definitions
            assert lazy.dynamic == eager.dynamic
            assert (lazy.needed, lazy.soname, lazy.rpath, lazy.runpath, lazy.flags_1) == (
                eager.needed,
                eager.soname,
                eager.rpath,
                eager.runpath,
                eager.flags_1,
            )
    assert seen > 50


@given(
    st.sampled_from(VARIANTS),
    st.lists(
        st.tuples(
            st.sampled_from([0, 1, 5, 10, 0x100, 0x1000000, 0x6FFFFE00, 0x6FFFFFFB, 2**31]),
            st.integers(0, 2**32 - 1),
        ),
        max_size=12,
    ),
)
@settings(max_examples=300, deadline=None)
def test_dt_null_search_matches_the_entry_loop(
    variant: tuple[int, bool], entries: list[tuple[int, int]]
) -> None:
    """The strided search for the first DT_NULL finds what a loop over the entries finds,
    whatever the tags' other bytes are."""
    elf_class, little = variant
    elf = read_elf(elfbuild.build(elfbuild.Spec(elf_class=elf_class, little=little)).data)
    fmt = ("<" if little else ">") + ("qQ" if elf_class == 64 else "iI")
    size = struct.calcsize(fmt)
    raw = b"".join(struct.pack(fmt, tag if elf_class == 64 else tag & 0x7FFFFFFF, value)
                   for tag, value in entries)  # fmt: skip
    expected = next((i * size for i, (tag, _) in enumerate(struct.iter_unpack(fmt, raw))
                     if tag == 0), -1)  # fmt: skip
    assert elf._dt_null(raw) == expected


def test_a_bad_name_raises_the_error_of_the_first_bad_entry() -> None:
    """DT_NEEDED names are read before the others for speed; when one is bad, the error is
    still that of the first bad entry in the dynamic section (here a DT_SONAME before a
    DT_NEEDED, both past DT_STRSZ), as when they were read in entry order."""
    built = elfbuild.build(elfbuild.Spec(soname="libx.so.1", needed=["libc.so.6"], verneed=[]))
    data = bytearray(built.data)
    dyn = built.fields["dynamic"]
    entries = list(struct.iter_unpack("<qQ", data[dyn : dyn + 16 * 8]))
    tags = [t for t, _ in entries]
    soname, needed = tags.index(14), tags.index(1)
    struct.pack_into("<qQ", data, dyn + 16 * min(soname, needed), 14, 999)
    struct.pack_into("<qQ", data, dyn + 16 * max(soname, needed), 1, 998)
    with pytest.raises(CorruptELFError, match="DT_SONAME string index 999"):
        read_elf(bytes(data))


def test_note_segments_named_many_times_are_read_once(tmp_path: Path) -> None:
    """Many PT_NOTE headers naming one segment: the quick note test, like the parse, reads
    it once, and the distinct segments are capped in all."""
    from libcprobe._elf import open_elf

    built = elfbuild.build(elfbuild.Spec())
    path = tmp_path / "notes"
    path.write_bytes(built.data)
    with open_elf(path, lazy=True) as elf:
        note = next(ph for ph in elf._phdrs if ph[0] == 4)
        elf._phdrs = elf._phdrs + [note] * 500
        assert len(list(elf._note_segments())) == 1
        assert elf.may_have_note("GNU") and not elf.may_have_note("Android")
        assert [n.name for n in elf.notes] == ["GNU"]


def test_the_string_table_the_reader_holds_is_the_one_at_dt_strtab() -> None:
    """ELFFile.dynamic_string_table (what inspect's symbol search takes instead of reading
    the table again) is the DT_STRTAB bytes, DT_STRSZ long, on every real fixture that has it."""
    root = Path(__file__).parent / "fixtures"
    held = 0
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix in (".json", ".md", ".whl", ".txt", ".py", ".sh"):
            continue
        try:
            elf = read_elf(path)
        except LibcprobeError:
            continue
        table = elf.dynamic_string_table()
        if table is None:
            continue
        held += 1
        offset, room = elf.vaddr_to_offset(elf.first_dynamic(5) or 0) or (0, 0)
        size = min(elf.first_dynamic(10) or room, room)
        assert table == path.read_bytes()[offset : offset + size], path
    assert held > 40
