"""Cold start: what ``import libcprobe; libcprobe.detect()`` loads in a fresh interpreter, and
the stand-ins that keep enum, re, typing and collections off that path behaving like the
originals (Family like a str enum, records like NamedTuples, name shapes like the regular
expressions they replace). Costs themselves are measured in benchmarks/, not here."""

from __future__ import annotations

import copy
import enum
import json
import os
import pickle
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import libcprobe
import musl_oracle
from libcprobe import Evidence, Family, LibcVersion, _classify, _libc_strings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from libcprobe._records import NamedTuple

#: Modules that only inspect, wheels or the CLI need, or that a few str methods replace; none
#: may load for detect() of the running interpreter (nor for its platform_tags()).
NOT_ON_DETECT_PATH = (
    "argparse",
    "collections",
    "contextlib",
    "ctypes",
    "dataclasses",
    "enum",
    "fnmatch",
    "functools",
    "json",
    "re",
    "subprocess",
    "threading",
    "typing",
    "zipfile",
    "libcprobe._cli",
    "libcprobe.audit._inspect",
    "libcprobe.audit._tree",
    "libcprobe.audit._wheel",
)
E2E = Path(os.environ.get("E2E_DIR") or Path.home() / ".cache" / "libcprobe-e2e")
MUSL_PYTHON = E2E / "dynamic" / "bin" / "python3"

_LOADED = """
import sys
before = set(sys.modules)
import libcprobe
libcprobe.detect()
after_detect = set(sys.modules)
tags = libcprobe.detect().platform_tags()
print(" ".join(sorted(after_detect - before)))
print(" ".join(sorted(set(sys.modules) - before)))
print(len(tags))
"""


def _loaded(python: str, env_extra: dict[str, str]) -> tuple[set[str], set[str]]:
    # -S: no site, so no .pth file of this venv imports anything first; libcprobe is found
    # through PYTHONPATH. LIBCPROBE_LIBC unset: the real detection path.
    env = {k: v for k, v in os.environ.items() if k != "LIBCPROBE_LIBC"}
    env["PYTHONPATH"] = str(Path(libcprobe.__file__).resolve().parent.parent)
    env.update(env_extra)
    out = subprocess.run(
        [python, "-S", "-c", _LOADED], env=env, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert int(out[2]) > 0
    return set(out[0].split()), set(out[1].split())


def test_detect_loads_none_of_the_heavy_modules() -> None:
    after_detect, after_tags = _loaded(sys.executable, {})
    assert "libcprobe._detect" in after_detect
    assert sorted(after_detect & set(NOT_ON_DETECT_PATH)) == []
    assert sorted(after_tags & set(NOT_ON_DETECT_PATH)) == []


@pytest.mark.skipif(
    not (MUSL_PYTHON.exists() and os.path.exists("/lib/ld-musl-x86_64.so.1")),
    reason=f"needs the e2e dynamic musl CPython ({MUSL_PYTHON}) and this host's musl loader",
)
def test_detect_in_the_musl_interpreter_loads_none_of_the_heavy_modules() -> None:
    after_detect, after_tags = _loaded(str(MUSL_PYTHON), {"PYTHONDONTWRITEBYTECODE": "1"})
    assert "libcprobe._detect" in after_detect
    assert sorted(after_tags & set(NOT_ON_DETECT_PATH)) == []


# -- Family: a str enum for its users ---------------------------------------------------------


def test_family_behaves_like_a_str_enum() -> None:
    assert [f.value for f in Family] == ["glibc", "musl", "bionic", "uclibc"]
    assert [f.name for f in Family] == ["GLIBC", "MUSL", "BIONIC", "UCLIBC"]
    dynamic: Any = Family  # what only the run time can check (mypy sees the enum)
    assert len(Family) == 4 and "musl" in dynamic and Family.MUSL in Family and "x" not in dynamic
    assert Family("musl") is Family.MUSL and Family(Family.GLIBC) is Family.GLIBC
    assert Family["BIONIC"] is Family.BIONIC and Family.__members__["UCLIBC"] is Family.UCLIBC
    with pytest.raises(ValueError, match="not a valid Family"):
        Family("glib")
    with pytest.raises(ValueError):
        dynamic(None)
    assert dynamic.MUSL == "musl" and dynamic.GLIBC == "glibc" and dynamic.MUSL != "glibc"
    assert isinstance(Family.MUSL, str) and isinstance(Family.MUSL, Family)
    assert type(Family.MUSL.value) is str and Family.MUSL.value == "musl"
    assert (
        str(Family.MUSL) == "musl"
        and f"{Family.GLIBC}" == "glibc"
        and format(Family.MUSL) == "musl"
    )
    assert repr(Family.MUSL) == "<Family.MUSL: 'musl'>"
    assert json.dumps({"family": Family.MUSL}) == '{"family": "musl"}'
    assert {"musl": 1}[Family.MUSL] == 1 and {dynamic.MUSL: 1}["musl"] == 1
    assert pickle.loads(pickle.dumps(Family.BIONIC)) is Family.BIONIC
    assert copy.copy(Family.MUSL) is Family.MUSL and copy.deepcopy(Family.MUSL) is Family.MUSL
    assert sorted([Family.MUSL, Family.GLIBC]) == [Family.GLIBC, Family.MUSL]


def test_family_matches_the_enum_type_checkers_see() -> None:
    class Reference(str, enum.Enum):
        GLIBC = "glibc"
        MUSL = "musl"
        BIONIC = "bionic"
        UCLIBC = "uclibc"

    assert [(f.name, f.value) for f in Family] == [(f.name, f.value) for f in Reference]
    assert [repr(f).replace("Family", "Reference") for f in Family] == [repr(f) for f in Reference]


# -- records: NamedTuple without typing ---------------------------------------------------------


def test_records_behave_like_namedtuples() -> None:
    ev = Evidence("family", "musl", "env", None, "why")
    assert isinstance(ev, tuple) and tuple(ev) == ("family", "musl", "env", None, "why")
    assert ev.fact == "family" and ev[4] == "why" and ev.path is None
    assert Evidence._fields == ("fact", "value", "source", "path", "detail")
    assert Evidence(fact="arch", value="v", source="file", path="p", detail="d").path == "p"
    assert Evidence("arch", "v", "file", path="p", detail="d") == ("arch", "v", "file", "p", "d")
    assert ev._replace(path="/x").path == "/x" and type(ev._replace()) is Evidence
    assert ev._asdict()["detail"] == "why" and Evidence._make(tuple(ev)) == ev
    assert (
        repr(ev) == "Evidence(fact='family', value='musl', source='env', path=None, detail='why')"
    )
    assert pickle.loads(pickle.dumps(ev)) == ev and type(pickle.loads(pickle.dumps(ev))) is Evidence
    assert hash(ev) == hash(tuple(ev)) and copy.deepcopy(ev) == ev
    with pytest.raises(AttributeError):
        ev.fact = "x"  # type: ignore[misc, assignment]
    with pytest.raises(TypeError):
        Evidence("too", "few")  # type: ignore[call-arg, arg-type]
    with pytest.raises(TypeError):
        Evidence("a", "b", "c", "d", "e", nope=1)  # type: ignore[call-arg, arg-type]
    with pytest.raises(ValueError):
        ev._replace(nope=1)  # type: ignore[call-arg]
    assert Evidence.__match_args__ == Evidence._fields


def test_records_keep_defaults_and_docstrings() -> None:
    class Point(NamedTuple):
        """A point."""

        x: int
        y: int = 0

        def norm(self) -> int:
            return abs(self.x) + abs(self.y)

    assert Point(3) == (3, 0) and Point(1, y=-2).norm() == 3 and Point.__doc__ == "A point."
    assert Point._field_defaults == {"y": 0}
    with pytest.raises(TypeError):

        class Bad(NamedTuple):  # a default before a field without one
            a: int = 0
            b: int  # type: ignore[misc]


# -- the version text without re ------------------------------------------------------------

_VERSION_RE = re.compile(r"(\d{1,9})(?:\.(\d{1,9}))?(?:\.(\d{1,9}))?")
_VERSION_TEXTS = [
    "2.36", "1.2.3", "1.2.5-git-3-gabcdef", "24", " 1.2 ", "1.", "1..2", ".1", "1234567890.1",
    "1.1234567890", "1.2.3.4", "x1", "", "\u0663.\u0661", "1.2a", "0.0.0", "007.08",
]  # fmt: skip


@pytest.mark.parametrize("text", _VERSION_TEXTS)
def test_version_parse_matches_the_pattern_it_replaces(text: str) -> None:
    match = _VERSION_RE.match(text.strip())
    if match is None:
        with pytest.raises(ValueError):
            LibcVersion.parse(text)
    else:
        expected = tuple(int(g) for g in match.groups() if g is not None)
        assert LibcVersion.parse(text).release == expected


# -- name shapes without re -----------------------------------------------------------------

_LOADER_RES = (
    (re.compile(r"ld-musl-[\w.-]+\.so\.1"), Family.MUSL),
    (re.compile(r"ld(64)?-uClibc(-[\w.]+)?\.so(\.\d+)*"), Family.UCLIBC),
    (re.compile(r"ld-linux[\w.-]*\.so\.\d+|ld(64)?\.so\.\d+|ld-2\.\d+\.so"), Family.GLIBC),
    (re.compile(r"linker(64)?"), Family.BIONIC),
)
_NEEDED_RES = (
    (re.compile(r"libc\.so\.6(\.1)?"), Family.GLIBC),
    (re.compile(r"libc\.musl-[\w.-]+\.so\.1"), Family.MUSL),
    (re.compile(r"libc\.so\.[01]"), Family.UCLIBC),
    (re.compile(r"libc\.so"), Family.MUSL),
)
_GLIBC_NAME_RE = re.compile(r"(?:ld|libc)-(\d{1,3}\.\d{1,3}(?:\.\d{1,3})?)\.so")
_REAL_NAMES = [
    "ld-musl-x86_64.so.1", "ld-musl-armhf.so.1", "ld-musl-mips64el-sf.so.1", "ld-musl-.so.1",
    "ld-musl-x.so.10", "ld-linux-x86-64.so.2", "ld-linux.so.2", "ld-linux-aarch64.so.1",
    "ld-linux-armhf.so.3", "ld-linux-riscv64-lp64d.so.1", "ld-linux.so.", "ld-linux.so.x",
    "ld.so.1", "ld64.so.1", "ld64.so.2", "ld.so.", "ld-2.31.so", "ld-2..so", "ld-2.x.so",
    "ld-uClibc.so.0", "ld64-uClibc.so.0", "ld-uClibc-1.0.30.so", "ld-uClibc-.so", "ld-uClibc.so",
    "ld-uClibc.so.0.1", "ld-uClibc.so.", "linker", "linker64", "linker32", "libc.so.6",
    "libc.so.6.1", "libc.so.7", "libc.musl-x86_64.so.1", "libc.musl-.so.1", "libc.so.0",
    "libc.so.1", "libc.so", "libc.so.", "ld-linux-x86-64.so.2.so.3", "ld-musl-a b.so.1",
    "ld-musl-ä.so.1", "ld-linux\u0663.so.\u0663", "libc-2.31.so", "ld-2.31.1.so", "libc-2.3100.so",
    "ld-2.31.so.6", "libc-.so", "ld-2.31.so!x", "x!libc-2.28.so",
]  # fmt: skip


def _random_names(n: int) -> list[str]:
    rng = random.Random(16)
    pieces = ["ld", "-", "musl", "linux", "uClibc", "64", ".so", ".", "1", "2", "x", "_", "libc",
              "linker", "-2", "ä", "\u0663", " ", "/", ".musl-", "0"]  # fmt: skip
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 7))) for _ in range(n)]


def _expected(patterns: tuple[tuple[re.Pattern[str], Family], ...], name: str) -> object:
    return next((family for pattern, family in patterns if pattern.fullmatch(name)), None)


@pytest.mark.parametrize("names", [_REAL_NAMES, _random_names(20000)], ids=["real", "random"])
def test_name_shapes_match_the_patterns_they_replace(names: list[str]) -> None:
    for name in names:
        expected = _expected(_LOADER_RES, name)
        if expected is Family.BIONIC:
            assert _classify.family_of_loader_name("/system/bin/" + name) is expected
            expected = None
        assert _classify.family_of_loader_name("/lib/" + name) is expected, name
        assert _classify.family_of_needed_name(name) is _expected(_NEEDED_RES, name), name
        match = _GLIBC_NAME_RE.fullmatch(name.rsplit("!", 1)[-1])
        found = _libc_strings.glibc_version_from_name("/lib/" + name)
        assert (found.text if found else None) == (match.group(1) if match else None), name


# -- byte scans without re --------------------------------------------------------------------

_BANNER_RE = re.compile(rb"release version (\d{1,3}\.\d{1,3}(?:\.\d{1,5})?)[.,\s]")


def _random_bytes(rng: random.Random) -> bytes:
    pieces = [b".", b"1", b"23", b"4567", b"\0", b"-", b"git", b"a", b"+", b" ", b"\n", b",", b"0",
              b"release version ", b"x" * 70, b"musl", b"\xff"]  # fmt: skip
    return b"".join(rng.choice(pieces) for _ in range(rng.randint(1, 30)))


def test_byte_scans_match_the_patterns_they_replace() -> None:
    rng = random.Random(1616)
    for _ in range(20000):
        data = _random_bytes(rng)
        start, end = rng.randint(-2, len(data)), rng.randint(0, len(data) + 3)
        ours = list(_libc_strings._musl_versions(data, start, end))
        assert ours == musl_oracle.musl_versions(data, start, end), (data, start, end)
        match = _BANNER_RE.search(data)
        found = _libc_strings.find_glibc_banner([(100, data)])
        expected = (match.group(1).decode(), 100 + match.start(1)) if match else None
        assert ((found.text, found.offset) if found else None) == expected, data
