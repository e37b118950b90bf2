"""Random and corrupted input: a property test over random files, ELF files with corrupted
fields and truncated ones (each gives a result or a LibcprobeError, never anything else, and
every result's methods work), and a bounded run of fuzz/fuzz_elf.py. The documented error
model itself is in test_error_model.py."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import elfbuild
import libcprobe
from libcprobe import LibcprobeError
from shared import Hang, exercise_info, hang_guard

REPO = Path(__file__).resolve().parent.parent
FUZZ = REPO / "fuzz" / "fuzz_elf.py"


def _load_harness() -> Any:
    spec = importlib.util.spec_from_file_location("libcprobe_fuzz_elf", FUZZ)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


harness = _load_harness()


# -- property: random and corrupted files ----------------------------------------------------------

_SPECS = [
    elfbuild.Spec(),
    elfbuild.Spec(elf_class=32, little=False),
    elfbuild.Spec(interp=None, needed=[], runpath=None, verneed=[], etype=2),
    elfbuild.Spec(interp=None, needed=[], soname="libc.so.6", verdef=["libc.so.6", "GLIBC_2.5"]),
]
_BUILT = [elfbuild.build(s) for s in _SPECS]


@st.composite
def bad_files(draw: st.DrawFn) -> bytes:
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(st.binary(max_size=2048))
    if choice == 1:
        return b"\x7fELF" + draw(st.binary(max_size=1024))
    built = _BUILT[draw(st.integers(0, len(_BUILT) - 1))]
    data = bytearray(built.data)
    for _ in range(draw(st.integers(1, 6))):
        where = draw(st.sampled_from(sorted(built.fields)))
        at = built.fields[where] + draw(st.integers(0, 16))
        width = draw(st.sampled_from([1, 2, 4, 8]))
        if at + width <= len(data):
            value = draw(st.integers(0, 2 ** (8 * width) - 1))
            data[at : at + width] = value.to_bytes(width, "little")
    if choice == 3:
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


def _known(exc: BaseException) -> bool:
    return bool(harness.is_known(exc))


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=bad_files(), script=st.booleans())
def test_random_files_give_results_or_libcprobe_errors(
    tmp_path: Path, data: bytes, script: bool
) -> None:
    path = tmp_path / "input"
    if script:  # a #! script whose interpreter is the bad file
        (tmp_path / "interp").write_bytes(data)
        path.write_text(f"#!{tmp_path / 'interp'} -x\n")
    else:
        path.write_bytes(data)
    libcprobe.clear_cache()
    try:
        with hang_guard(10):
            report = libcprobe.inspect(path)
            assert isinstance(report, libcprobe.FileReport)
            json.dumps(report.to_dict())
            try:
                info = libcprobe.detect(path)
            except LibcprobeError:
                pass
            else:
                exercise_info(info)
    except Hang:
        raise
    except Exception as exc:
        if _known(exc):  # a signature listed in fuzz_elf.KNOWN_BUGS (none today)
            return
        raise


def test_known_bug_list_is_empty() -> None:
    """Every crash signature the fuzzer found is fixed and has a regression test here, so
    fuzz_elf.py --ignore-known has nothing left to skip."""
    assert harness.KNOWN_BUGS == ()
    assert not harness.is_known(ValueError("embedded null byte"))


# -- a bounded fuzz run ----------------------------------------------------------------------------


def _fuzz_budget() -> tuple[bool, float]:
    atheris = importlib.util.find_spec("atheris") is not None
    text = os.environ.get("LIBCPROBE_FUZZ_SECONDS")
    return atheris, float(text) if text else (30.0 if atheris else 10.0)


def test_fuzz_harness_short_run(tmp_path: Path) -> None:
    """fuzz/fuzz_elf.py for ~30 s with atheris, else its plain mutation loop for ~10 s
    (LIBCPROBE_FUZZ_SECONDS overrides; 0 skips). Any crash fails here (--ignore-known would
    skip signatures listed in fuzz_elf.KNOWN_BUGS: there are none today)."""
    atheris, seconds = _fuzz_budget()
    if seconds <= 0:
        pytest.skip("LIBCPROBE_FUZZ_SECONDS=0")
    seeds, corpus, crashes = tmp_path / "seeds", tmp_path / "corpus", tmp_path / "crashes"
    corpus.mkdir()
    assert harness.make_seeds(seeds) >= 20
    command = [sys.executable, str(FUZZ), "--ignore-known", "--crash-dir", str(crashes)]
    if atheris:
        command += [f"-max_total_time={int(seconds)}", "-print_final_stats=1"]
    else:
        command += ["--no-atheris", "--seconds", str(seconds), "--seed", "0"]
    command += [str(corpus), str(seeds)]
    proc = subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=seconds + 180,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert not crashes.exists() or not any(crashes.iterdir()), output[-4000:]
    match = re.search(r"Done (\d+) runs|plain loop done: (\d+) inputs", output)
    assert match is not None, output[-2000:]
    assert int(match.group(1) or match.group(2)) > 0
