"""32-bit ARM: the CPU an object is built for comes from Tag_CPU_arch in .ARM.attributes
(readelf -A is the oracle, recorded in the manifest); the float-ABI rule (EABI5 + hard-float =
armv7l) stays what decides which wheels an interpreter may load (issue 12, item 3), and what
a wheel's tag and ``check``'s target are compared with."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path
from typing import Any

import pytest

import libcprobe
from libcprobe._arch import ARM_CPU_ARCH_NAMES
from libcprobe._elf import arm_cpu_arch_tag, read_elf
from libcprobe.audit._check import check_items, target_from_tag
from libcprobe.audit._tree import iter_items
from libcprobe.audit._wheel_summary import summarize_wheel

FIXTURES = Path(__file__).parent / "fixtures"
MANIFEST: list[dict[str, Any]] = json.loads((FIXTURES / "manifest.json").read_text())["fixtures"]
ARM = [e for e in MANIFEST if e["expect"]["machine"] == 40]
OBJECTS = {
    e["path"].split("/")[2]: FIXTURES / e["path"] for e in MANIFEST if "static/arm/" in e["path"]
}


@pytest.mark.parametrize("entry", ARM, ids=lambda e: e["path"])
def test_cpu_arch_matches_readelf(entry: dict[str, Any]) -> None:
    assert libcprobe.inspect(FIXTURES / entry["path"]).arch == entry["expect"]["arch"]


@pytest.mark.parametrize(
    ("name", "cpu", "abi"),
    [
        ("armv7-musleabi-softfloat", "armv7l", "armv5tel"),  # soft-float ARMv7: not armv5tel
        ("armv7-androideabi", "armv7l", "armv5tel"),  # Android armeabi-v7a
        ("armv6-musleabihf", "armv6l", "armv7l"),  # ARMv6 hard-float: not armv7l
    ],
)
def test_cpu_is_not_the_float_abi(name: str, cpu: str, abi: str) -> None:
    path = OBJECTS[name]
    elf = read_elf(path)
    assert elf.cpu_arch == cpu and elf.arch == abi
    assert libcprobe.inspect(path).arch == cpu  # what an object is built for
    assert libcprobe.detect(path).arch == abi  # which wheels it could load, as an interpreter


def test_no_section_headers_falls_back_to_the_abi_rule() -> None:
    data = bytearray(OBJECTS["armv6-musleabihf"].read_bytes())
    struct.pack_into("<I", data, 32, 0)  # e_shoff
    elf = read_elf(bytes(data))
    assert elf.arm_cpu_arch is None and elf.cpu_arch == elf.arch == "armv7l"


def test_absurd_section_count_is_not_read() -> None:
    data = bytearray(OBJECTS["armv6-musleabihf"].read_bytes())
    struct.pack_into("<H", data, 48, 0xFFFF)  # e_shnum
    assert read_elf(bytes(data)).arm_cpu_arch is None


def _attrs(body: bytes, vendor: bytes = b"aeabi", scope: int = 1) -> bytes:
    sub = bytes([scope]) + struct.pack("<I", 5 + len(body)) + body
    section = vendor + b"\0" + sub
    return b"A" + struct.pack("<I", 4 + len(section)) + section


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        (_attrs(b"\x05ARMv7-A\0\x06\x0a\x07A"), 10),  # Tag_CPU_name NTBS, then Tag_CPU_arch
        (_attrs(b"\x04raw\0\x06\x06"), 6),
        (_attrs(b"\x20\x01gnu\0\x06\x04"), 4),  # Tag_compatibility: ULEB + NTBS
        (_attrs(b"\x41x\0\x06\x0e"), 14),  # odd tag > 32: NTBS
        (_attrs(b"\x2a\x01\x06\x0a"), 10),  # even tag > 32: ULEB
        (_attrs(b"\x06\x0a", vendor=b"gnu"), None),  # not the aeabi vendor
        (_attrs(b"\x06\x0a", scope=2), None),  # section scope, not file scope
        (_attrs(b"\x05ARMv7"), None),  # NTBS without its NUL
        (_attrs(b"\x06\x8a"), None),  # ULEB128 past the end
        (b"B" + _attrs(b"\x06\x0a")[1:], None),  # unknown format version
        (b"", None),
        (b"A\x02\0\0\0", None),  # length shorter than a header
    ],
)
def test_attribute_parser(raw: bytes, want: int | None) -> None:
    assert arm_cpu_arch_tag(raw) == want


def test_names_are_uname_spellings() -> None:
    assert ARM_CPU_ARCH_NAMES[10] == "armv7l" and ARM_CPU_ARCH_NAMES[4] == "armv5tel"
    assert all(n.startswith("armv") and n.endswith("l") for n in ARM_CPU_ARCH_NAMES.values())


def _armv7l_wheel(tmp_path: Path, module: str) -> Path:
    """A manylinux_2_17_armv7l wheel holding one of the real ARM fixture objects."""
    wheel = tmp_path / "arm-1.0-cp311-cp311-manylinux_2_17_armv7l.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("arm/_mod.so", OBJECTS[module].read_bytes())
        zf.writestr("arm-1.0.dist-info/WHEEL", "Tag: cp311-cp311-manylinux_2_17_armv7l\n")
    return wheel


def test_armv6_hard_float_module_belongs_in_an_armv7l_wheel(tmp_path: Path) -> None:
    # Regression: FileReport.arch became the CPU (armv6l), and the wheel summary and check
    # compared it with the tag's armv7l. The tag architecture is the float ABI's.
    wheel = _armv7l_wheel(tmp_path, "armv6-musleabihf")
    items = list(iter_items([str(wheel)], keep_elf=True))
    assert [i.report.arch for i in items] == ["armv6l"]  # inspect still names the CPU
    summary = summarize_wheel(str(wheel), items)
    assert summary.arch == "armv7l" and summary.problems == ()
    assert check_items(items, target_from_tag("manylinux_2_17_armv7l")) == []


def test_armv7_soft_float_module_is_not_armv7l_wheel_code(tmp_path: Path) -> None:
    wheel = _armv7l_wheel(tmp_path, "armv7-musleabi-softfloat")
    items = list(iter_items([str(wheel)], keep_elf=True))
    assert [i.report.arch for i in items] == ["armv7l"]
    summary = summarize_wheel(str(wheel), items)
    assert summary.arch == "armv5tel"
    assert summary.problems == (
        "manylinux_2_17_armv7l: arm/_mod.so is armv5tel code (built for an armv7l CPU), not armv7l",
    )
    (problem,) = check_items(items, target_from_tag("manylinux_2_17_armv7l"))
    assert problem.need == "armv5tel (32-bit, built for an armv7l CPU)"
    assert problem.have == "the target is armv7l"
