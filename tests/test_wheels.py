"""Wheels read in place, directory trees, wheel summaries and ``libcprobe check``."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest

import elfbuild
from libcprobe._cli import main
from libcprobe.audit import _wheel
from libcprobe.audit._check import check_items, target_from_tag
from libcprobe.audit._tree import iter_items
from libcprobe.audit._wheel_summary import parse_platform_tag, summarize_wheel

WHEELS = Path(__file__).parent / "fixtures" / "wheels"
MANY = WHEELS / "greenlet-3.2.5-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
MUSL = WHEELS / "greenlet-3.2.5-cp311-cp311-musllinux_1_1_x86_64.whl"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def test_fixture_wheels_match_their_provenance() -> None:
    recorded = json.loads((WHEELS / "PROVENANCE.json").read_text())["wheels"]
    assert len(recorded) == 2
    for entry in recorded:
        data = (WHEELS / entry["wheel"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]


def test_manylinux_wheel_members_and_summary() -> None:
    items = list(iter_items([str(MANY)]))
    names = [i.report.path.split("!", 1)[1] for i in items]
    assert "greenlet/_greenlet.cpython-311-x86_64-linux-gnu.so" in names
    assert all(i.report.ok and i.report.family == "glibc" for i in items)
    summary = summarize_wheel(str(MANY), items)
    assert summary.declared == ("manylinux2014_x86_64", "manylinux_2_17_x86_64")
    assert "cp311-cp311-manylinux_2_17_x86_64" in summary.metadata
    assert summary.family == "glibc" and summary.arch == "x86_64"
    assert summary.glibc_requires is not None and summary.problems == ()
    # GLIBC alone would allow manylinux_2_14, but CXXABI_1.3.7 (libstdc++) is beyond
    # manylinux2010's policy: the lowest policy that admits the wheel is manylinux_2_17.
    assert summary.glibc_requires == "2.14"
    assert dict(summary.requires) == {
        "CXXABI": "1.3.7",
        "GCC": "3.0",
        "GLIBC": "2.14",
        "GLIBCXX": "3.4.11",
    }
    assert summary.policy == summary.justified == "manylinux_2_17_x86_64"
    assert summary.external == ()


def test_musllinux_wheel_with_bundled_libs() -> None:
    items = list(iter_items([str(MUSL)]))
    names = [i.report.path.split("!", 1)[1] for i in items]
    assert any(n.startswith("greenlet.libs/libstdc++") for n in names)
    ext = next(i.report for i in items if "_greenlet" in i.report.path)
    assert ext.family == "musl" and "libc.musl-x86_64.so.1" in ext.needed
    assert ext.runpath == ("$ORIGIN/../greenlet.libs",) or ext.rpath
    summary = summarize_wheel(str(MUSL), items)
    assert summary.family == "musl" and summary.problems == ()
    # 64-bit: nothing musl 1.1 lacks; the bundled libgcc_s's GCC_ versions are its own.
    assert summary.policy == summary.justified == "musllinux_1_1_x86_64"
    assert summary.requires == () and summary.glibc_requires is None


def test_sparse_multi_pass_reading_gives_the_same_facts(monkeypatch: pytest.MonkeyPatch) -> None:
    whole = [i.report for i in iter_items([str(MUSL)])]
    monkeypatch.setattr(_wheel, "WHOLE_MEMBER", 4096)  # force the streamed, sparse path
    sparse = [i.report for i in iter_items([str(MUSL)])]
    assert sparse == whole


def test_check_wheels_against_platforms() -> None:
    many = list(iter_items([str(MANY)], keep_elf=True))
    musl = list(iter_items([str(MUSL)], keep_elf=True))
    assert check_items(many, target_from_tag("manylinux_2_17_x86_64")) == []
    assert check_items(musl, target_from_tag("musllinux_1_1_x86_64")) == []
    wrong = check_items(musl, target_from_tag("manylinux_2_28_x86_64"))
    assert wrong and all("the target runs glibc" in p.have for p in wrong)
    arch = check_items(many, target_from_tag("manylinux_2_17_aarch64"))
    assert arch and "the target is aarch64" in arch[0].have
    old = check_items(many, target_from_tag("manylinux_2_5_x86_64"))
    assert any(p.need.startswith("GLIBC_2.") for p in old)


def test_check_cli_exit_status() -> None:
    status, text = run("check", "--platform", "musllinux_1_1_x86_64", str(MUSL))
    assert status == 0
    status, text = run("check", "--platform", "manylinux_2_17_x86_64", str(MUSL))
    assert status == 1 and "needs musl" in text
    status, text = run("check", "--json", "--platform", "manylinux_2_17_x86_64", str(MANY))
    data = json.loads(text)
    assert status == 0 and data["problems"] == [] and data["binaries"] == 3


def _retag(source: Path, dest_dir: Path, platform: str) -> Path:
    """A copy of a wheel under another platform tag (members unchanged): mis-tagged on purpose."""
    name = source.name.split("-")
    dest = dest_dir / "-".join([*name[:4], platform + ".whl"])
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            out.writestr(info, src.read(info))
    return dest


def test_mis_tagged_wheels_are_reported(tmp_path: Path) -> None:
    wrong_family = _retag(MANY, tmp_path, "musllinux_1_2_x86_64")
    summary = summarize_wheel(str(wrong_family), list(iter_items([str(wrong_family)])))
    assert any("wrong family" in p for p in summary.problems)
    too_old = _retag(MANY, tmp_path, "manylinux_2_5_x86_64")
    summary = summarize_wheel(str(too_old), list(iter_items([str(too_old)])))
    assert any("too new for its tag" in p for p in summary.problems)
    status, text = run("inspect", str(too_old))
    assert status == 0 and "problem: manylinux_2_5_x86_64: too new for its tag" in text
    status, text = run("inspect", "--json", str(wrong_family))
    rows = [json.loads(line) for line in text.splitlines()]
    assert rows[-1]["wheel"] == str(wrong_family) and rows[-1]["problems"]


def test_tree_with_an_unresolvable_needed(tmp_path: Path) -> None:
    tree = tmp_path / "site-packages"
    (tree / "pkg" / "lib").mkdir(parents=True)
    spec = elfbuild.Spec(
        interp=None,
        needed=["libbundled.so.1", "libc.so.6", "libnothere.so.7"],
        runpath="$ORIGIN/lib",
        verneed=[("libc.so.6", ["GLIBC_2.2.5"])],
    )
    (tree / "pkg" / "_ext.so").write_bytes(elfbuild.build(spec).data)
    bundled = elfbuild.Spec(
        interp=None, needed=["libc.so.6"], runpath=None, soname="libbundled.so.1"
    )
    (tree / "pkg" / "lib" / "libbundled.so.1").write_bytes(elfbuild.build(bundled).data)
    (tree / "pkg" / "__init__.py").write_text("")
    status, text = run("check", str(tree))
    assert status == 1
    lines = text.strip().splitlines()
    assert len(lines) == 1 and "needs libnothere.so.7" in lines[0] and "_ext.so" in lines[0]


def test_tree_walk_skips_non_elf_and_outside_links(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.so").write_bytes(elfbuild.build(elfbuild.Spec()).data)
    (tree / "readme.txt").write_text("hi")
    outside = tmp_path / "outside.so"
    shutil.copy(tree / "a.so", outside)
    (tree / "link-out.so").symlink_to(outside)
    (tree / "link-in.so").symlink_to(tree / "a.so")
    (tree / "dir-out").symlink_to(tmp_path)
    status, text = run("inspect", "--json", str(tree))
    paths = [json.loads(line)["path"] for line in text.splitlines()]
    assert status == 0 and paths == [str(tree / "a.so"), str(tree / "link-in.so")]
    status, text = run("inspect", "--json", "--all", str(tree))
    rows = {json.loads(line)["path"]: json.loads(line)["error"] for line in text.splitlines()}
    assert rows[str(tree / "readme.txt")] == "not an ELF file"
    assert "not followed" in rows[str(tree / "link-out.so")]
    assert "not followed" in rows[str(tree / "dir-out")]
    assert status == 0  # non-ELF files in a tree are not errors


def test_jobs_keep_the_order(tmp_path: Path) -> None:
    for i in range(40):
        spec = elfbuild.Spec(needed=[f"libdep{i}.so"])
        (tmp_path / f"m{i:02d}.so").write_bytes(elfbuild.build(spec).data)
    shutil.copy(MANY, tmp_path)
    one = run("inspect", "--json", str(tmp_path))
    two = run("inspect", "--json", "-j", "2", str(tmp_path))
    assert one == two and one[1].count("\n") == 40 + 3 + 1


def test_hostile_wheels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    evil = tmp_path / "evil-1.0-py3-none-manylinux_2_17_x86_64.whl"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../../etc/passwd.so", b"\x7fELF")
        z.writestr("/abs/lib.so", b"\x7fELF")
        z.writestr("ok/lib.so", elfbuild.build(elfbuild.Spec()).data)
        z.writestr("ok/trunc.so", b"\x7fELF\x02\x01")
    status, text = run("inspect", "--json", str(evil))
    rows = [json.loads(line) for line in text.splitlines()]
    errors = {r["path"].split("!", 1)[1]: r["error"] for r in rows if "path" in r}
    assert "unsafe member name" in errors["../../etc/passwd.so"]
    assert "unsafe member name" in errors["/abs/lib.so"]
    assert errors["ok/lib.so"] is None and errors["ok/trunc.so"] is not None
    assert status == 1
    monkeypatch.setattr(_wheel, "MAX_WHEEL_MEMBERS", 2)
    status, text = run("inspect", "--json", str(evil))
    assert status == 1 and "lists 4 members" in json.loads(text)["error"]
    monkeypatch.setattr(_wheel, "MAX_WHEEL_MEMBERS", 100)
    monkeypatch.setattr(_wheel, "MAX_MEMBER_SIZE", 100)
    status, text = run("inspect", "--json", str(evil))
    assert "limit 100" in text


def test_zip_bomb_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = tmp_path / "bomb-1.0-py3-none-linux_x86_64.whl"
    header = elfbuild.build(elfbuild.Spec()).data
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("big.so", header + bytes(64 << 20))  # 64 MiB of zeros, ~64 KiB compressed
    assert bomb.stat().st_size < 1 << 20
    monkeypatch.setattr(_wheel, "MAX_WHEEL_BYTES", 8 << 20)
    items = list(iter_items([str(bomb)]))
    # Only the kept ranges are decompressed: the structures sit in the first block.
    assert items[0].report.ok, items[0].report.error


def test_not_a_zip(tmp_path: Path) -> None:
    fake = tmp_path / "fake-1.0-py3-none-any.whl"
    fake.write_bytes(b"not a zip at all")
    status, text = run("inspect", "--json", str(fake))
    assert status == 1 and "not a zip" in json.loads(text)["error"]


@pytest.mark.parametrize(
    ("tag", "family", "version", "arch"),
    [
        ("manylinux_2_17_x86_64", "glibc", (2, 17), "x86_64"),
        ("manylinux2010_i686", "glibc", (2, 12), "i686"),
        ("musllinux_1_2_aarch64", "musl", (1, 2), "aarch64"),
        ("linux_armv7l", None, None, "armv7l"),
        ("android_24_arm64_v8a", "bionic", (24,), "aarch64"),
    ],
)
def test_parse_platform_tag(
    tag: str, family: str | None, version: tuple[int, ...] | None, arch: str
) -> None:
    parsed = parse_platform_tag(tag)
    assert parsed is not None
    assert (parsed.family, parsed.version, parsed.arch) == (family, version, arch)
    assert parse_platform_tag("win_amd64") is None
