"""/proc/self/maps: the libc line is found piece by piece as procfs hands the text out; it must
pick exactly the line a reading of the whole text line by line picks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libcprobe import LibcInfo, _process
from libcprobe._classify import family_of_loader_name, family_of_needed_name


def line_by_line(content: bytes) -> Optional[str]:
    """The rule as it reads: every line, in order, the first whose path names a libc."""
    for line in content.splitlines():
        fields = line.split(None, 5)
        if len(fields) < 6 or not fields[5].startswith(b"/"):
            continue
        path = os.fsdecode(fields[5])
        if path.endswith(" (deleted)"):
            path = path[: -len(" (deleted)")]
        name = path.rsplit("/", 1)[-1]
        if family_of_needed_name(name) is not None or family_of_loader_name(path) is not None:
            return path
    return None


def searched(content: bytes, cuts: tuple[int, ...] = ()) -> Optional[str]:
    """The search over ``content`` handed out in pieces cut at ``cuts`` (as procfs hands out
    a page or so per read), each read asking for up to its size."""
    pieces = [content[a:b] for a, b in zip((0, *cuts), (*cuts, len(content))) if b > a]
    pieces.reverse()
    return _process._scan_maps(lambda size: pieces.pop() if pieces else b"")


def test_this_process_maps() -> None:
    content = Path("/proc/self/maps").read_bytes()
    assert searched(content) == line_by_line(content)
    assert _process._mapped_libc() is not None  # the test interpreter has a libc mapped


_PREFIX = b"7f50b259d000-7f50b25b2000 r--p 00000000 fe:00 1442129                    "
_PATHS = [
    b"/usr/lib/x86_64-linux-musl/libc.so",
    b"/lib/ld-musl-x86_64.so.1",
    b"/lib/x86_64-linux-gnu/libc.so.6 (deleted)",
    b"/lib64/ld-linux-x86-64.so.2",
    b"/usr/lib/libcrypt.so.1",
    b"/sbin/ldconfig",
    b"/system/bin/linker64",
    b"/usr/bin/linker",
    b"/opt/my libc.so/libm.so",
    b"/opt/x /lib/ld-musl-aarch64.so.1",
    b"/lib/libc.musl-x86_64.so.1",
    b"/usr/lib/locale/locale-archive",
]
_OTHER = [b"[heap]", b"[anon:/lib/libc.so.6]", b"", b"[vdso]"]


@given(
    st.lists(
        st.tuples(st.sampled_from(_PATHS + _OTHER), st.sampled_from([b"\n", b"\r", b"\r\n"])),
        max_size=12,
    ),
    st.booleans(),
    st.lists(st.integers(1, 400), max_size=6),
)
@settings(max_examples=400, deadline=None)
def test_search_matches_the_line_by_line_rule(
    lines: list[tuple[bytes, bytes]], short: bool, cuts: list[int]
) -> None:
    content = b"".join((b"0-1 ---p 0 0:0 0" if short else _PREFIX) + p + end for p, end in lines)
    expected = line_by_line(content)
    assert searched(content) == expected
    # Cut anywhere (inside a key, a line, a \r\n), the pieces give the same line.
    assert searched(content, tuple(sorted({c % (len(content) + 1) for c in cuts}))) == expected


def test_unreadable_maps_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", refuse)
    assert _process._mapped_libc() is None


def test_reading_stops_at_the_page_that_completes_the_libc_line() -> None:
    libc = _PREFIX + b"/lib/x86_64-linux-gnu/libc.so.6\n"
    pieces = [_PREFIX + b"/usr/bin/python3\n", libc, b"never read\n"]
    asked = []

    def read(size: int) -> bytes:
        asked.append(size)
        return pieces.pop(0) if pieces else b""

    assert _process._scan_maps(read) == "/lib/x86_64-linux-gnu/libc.so.6"
    assert len(asked) == 2 and pieces == [b"never read\n"]
    bounded: list[int] = []

    def endless(size: int) -> bytes:  # a file that never ends: read up to MAPS_LIMIT
        bounded.append(size)
        return b"x" * size

    assert _process._scan_maps(endless) is None
    assert sum(bounded) == _process.MAPS_LIMIT


# -- when the running process reads /proc/self/maps ----------------------------------------

_MUSL_LIBC = Path(__file__).parent / "fixtures/debian/bookworm/amd64/musl/libc.so"


def _detect_running(program: Path, mapped: Callable[[], Optional[str]]) -> LibcInfo:
    from libcprobe._elf import open_elf
    from libcprobe._model import EvidenceLog
    from libcprobe._program import Ask, detect_elf
    from libcprobe._rootfs import HOST

    ask = Ask(HOST, False, running=True, mapped=mapped)
    with open_elf(program, lazy=True) as elf:
        return detect_elf(elf, str(program), ask, EvidenceLog())


def test_the_loader_pt_interp_names_answers_without_maps(tmp_path: Path) -> None:
    # The kernel maps exactly the PT_INTERP file: /proc/self/maps (which the kernel formats
    # line by line up to the libc's) is not read when that file answers.
    from elfbuild import Spec, build

    loader = tmp_path / "ld-musl-x86_64.so.1"
    loader.write_bytes(_MUSL_LIBC.read_bytes())
    program = tmp_path / "python3"
    program.write_bytes(build(Spec(interp=str(loader))).data)

    def mapped() -> Optional[str]:
        raise AssertionError("/proc/self/maps read although PT_INTERP answered")

    info = _detect_running(program, mapped)
    assert (str(info.family), str(info.version), info.library) == ("musl", "1.2.3", str(loader))
    assert "proc-maps" not in {e.source for e in info.evidence}


def test_maps_answers_when_the_loader_cannot_be_read(tmp_path: Path) -> None:
    from elfbuild import Spec, build

    program = tmp_path / "python3"
    program.write_bytes(build(Spec(interp=str(tmp_path / "gone" / "ld-musl-x86_64.so.1"))).data)
    asked: list[bool] = []

    def mapped() -> Optional[str]:
        asked.append(True)
        return str(_MUSL_LIBC)

    info = _detect_running(program, mapped)
    assert asked == [True]
    found = (str(info.family), str(info.version), info.library)
    assert found == ("musl", "1.2.3", str(_MUSL_LIBC))
    sources = [e.source for e in info.evidence]
    assert "proc-maps" in sources and sources.index("elf-interp") < sources.index("proc-maps")
