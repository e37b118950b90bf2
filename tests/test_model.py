"""LibcVersion, LibcInfo and Evidence: immutable, hashable, ordered, JSON-ready."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from libcprobe import Evidence, Family, LibcInfo, LibcVersion


def test_version_parse_and_text() -> None:
    v = LibcVersion.parse("1.2.5-git-3-gabcdef")
    assert v.release == (1, 2, 5) and v.raw == "1.2.5-git-3-gabcdef"
    assert str(v) == "1.2.5" and (v.major, v.minor) == (1, 2)
    assert repr(v) == "LibcVersion((1, 2, 5), raw='1.2.5-git-3-gabcdef')"
    with pytest.raises(ValueError):
        LibcVersion.parse("unknown")
    with pytest.raises(ValueError):
        LibcVersion(())


def test_version_ordering_with_tuples() -> None:
    v = LibcVersion.parse("2.36")
    assert v == (2, 36) and v == (2, 36, 0) and v != (2, 35)
    assert v > (2, 17) and v >= (2, 36) and v < (3,) and v <= (2, 36, 0)
    assert sorted([LibcVersion((1, 2, 3)), LibcVersion((1, 1, 24)), LibcVersion((1, 2))]) == [
        (1, 1, 24),
        (1, 2),
        (1, 2, 3),
    ]
    assert hash(LibcVersion((2, 36))) == hash(LibcVersion((2, 36, 0)))
    assert (v == "2.36") is False


def test_version_is_immutable() -> None:
    v = LibcVersion((1, 2))
    with pytest.raises(AttributeError):
        v.raw = "x"


def test_info_is_immutable_hashable_and_json_ready() -> None:
    ev = Evidence("family", "musl", "elf-interp", "/bin/x", "PT_INTERP")
    info = LibcInfo(
        family="musl",
        version=LibcVersion((1, 2, 3)),
        linkage="dynamic",
        arch="aarch64",
        interpreter="/lib/ld-musl-aarch64.so.1",
        can_load_extensions=True,
        evidence=[ev],
    )
    assert info.family is Family.MUSL and info.evidence == (ev,)
    with pytest.raises(AttributeError):
        info.family = None
    same = LibcInfo(
        family=Family.MUSL,
        version=LibcVersion((1, 2, 3)),
        linkage="dynamic",
        arch="aarch64",
        interpreter="/lib/ld-musl-aarch64.so.1",
        can_load_extensions=True,
        evidence=(ev,),
    )
    assert info == same and len({info, same}) == 1
    data = json.loads(json.dumps(info.to_dict()))
    assert data["family"] == "musl" and data["version"] == "1.2.3"
    assert data["evidence"][0] == {
        "fact": "family",
        "value": "musl",
        "source": "elf-interp",
        "path": "/bin/x",
        "detail": "PT_INTERP",
    }
    assert info.why("family") == (ev,)
    assert str(Family.GLIBC) == "glibc" and Family("bionic") is Family.BIONIC


def test_a_misspelt_evidence_fact_or_source_fails_mypy(tmp_path: Path) -> None:
    """``fact`` and ``source`` are Literal types for type checkers: a misspelling is an error,
    in an ``Evidence`` as in the ``EvidenceLog`` detection fills."""
    pytest.importorskip("mypy")
    snippet = tmp_path / "snippet.py"
    snippet.write_text(
        "from libcprobe import Evidence\n"
        "from libcprobe._model import EvidenceLog\n"
        'Evidence("family", "musl", "env", None, "fine")\n'
        'Evidence("famliy", "musl", "elf-interp", None, "fact misspelt")\n'
        'Evidence("family", "musl", "elf_interp", None, "source misspelt")\n'
        "ev = EvidenceLog()\n"
        'ev.family("musl", "elf-interp", None, "fine")\n'
        'ev.family("musl", "elf_interp", None, "source misspelt")\n'
        'ev.add("famliy", "musl", "env", None, "fact misspelt")\n'
        'ev.famliy("musl", "env", None, "no such fact")\n'
    )
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(snippet)],
        capture_output=True,
        text=True,
        check=False,
    )
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    assert [line.split(":")[1] for line in errors] == ["4", "5", "8", "9", "10"], proc.stdout
