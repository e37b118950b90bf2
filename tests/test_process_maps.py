"""/proc/self/maps: the libc line is found by a bytes search for the keys every libc or loader
name holds; it must pick exactly the line a line-by-line reading picks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libcprobe import _process
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


def searched(content: bytes, monkeypatch: pytest.MonkeyPatch) -> Optional[str]:
    monkeypatch.setattr(_process, "_read_proc_file", lambda path, limit: content)
    return _process._mapped_libc()


def test_this_process_maps(monkeypatch: pytest.MonkeyPatch) -> None:
    content = Path("/proc/self/maps").read_bytes()
    assert searched(content, monkeypatch) == line_by_line(content)
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
)
@settings(max_examples=300, deadline=None)
def test_search_matches_the_line_by_line_rule(
    lines: list[tuple[bytes, bytes]], short: bool
) -> None:
    content = b"".join((b"0-1 ---p 0 0:0 0" if short else _PREFIX) + p + end for p, end in lines)
    with pytest.MonkeyPatch.context() as mp:
        assert searched(content, mp) == line_by_line(content)


def test_unreadable_maps_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _process._read_proc_file("/proc/self/no-such-file", 100) is None
    assert len(_process._read_proc_file("/proc/self/maps", 10) or b"") == 10  # bounded
    monkeypatch.setattr(_process, "_read_proc_file", lambda path, limit: None)
    assert _process._mapped_libc() is None
