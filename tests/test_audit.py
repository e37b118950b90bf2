"""Per-file audit keys (symbol_versions, requires, isa, policy_symbols), wheel policies and
``check`` against a policy or a real system."""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest

import elfbuild
from libcprobe import inspect
from libcprobe._cli import main
from libcprobe._detect import detect
from libcprobe.audit._audit import Bundle, causes, wheel_requires
from libcprobe.audit._check import check_items, cpu_isa_level, target_from_info, target_from_tag
from libcprobe.audit._inspect import FileReport
from libcprobe.audit._policy import policy_named
from libcprobe.audit._tree import iter_items
from libcprobe.audit._wheel_summary import summarize_wheel

FIXTURES = Path(__file__).parent / "fixtures"
GREENLET_MUSL = FIXTURES / "wheels" / "greenlet-3.2.5-cp311-cp311-musllinux_1_1_x86_64.whl"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def _isa_note(bits: int) -> tuple[str, int, bytes]:
    # NT_GNU_PROPERTY_TYPE_0: GNU_PROPERTY_X86_ISA_1_NEEDED, 4 bytes, padded to 8.
    return ("GNU", 5, struct.pack("<III4x", 0xC0008002, 4, bits))


def _so(tmp_path: Path, name: str, **kw: object) -> Path:
    spec = elfbuild.Spec(interp=None, runpath=None, **kw)  # type: ignore[arg-type]
    path = tmp_path / name
    path.write_bytes(elfbuild.build(spec).data)
    return path


def test_requires_counts_a_namespace_only_from_its_owner(tmp_path: Path) -> None:
    path = _so(
        tmp_path,
        "m.so",
        needed=["libgcc_s.so.1", "libc.so.6", "libstdc++.so.6"],
        verneed=[
            ("libgcc_s.so.1", ["GLIBC_2.0", "GCC_3.0", "GCC_4.2.0"]),
            ("libc.so.6", ["GLIBC_2.2.5", "GLIBC_2.17", "GLIBC_PRIVATE"]),
            ("libstdc++.so.6", ["GLIBCXX_3.4.9", "GLIBCXX_3.4.19", "CXXABI_1.3.7"]),
        ],
    )
    report = inspect(path)
    assert report.requires == (
        ("CXXABI", "1.3.7"),
        ("GCC", "4.2.0"),
        ("GLIBC", "2.17"),
        ("GLIBCXX", "3.4.19"),
    )
    assert report.glibc_requires == "2.17"
    row = report.to_dict()
    assert row["symbol_versions"]["libc.so.6"] == ["GLIBC_2.2.5", "GLIBC_2.17", "GLIBC_PRIVATE"]
    assert row["requires"]["GLIBC"] == "2.17"
    # GLIBC_2.0 from libgcc_s alone is no glibc need at all.
    only_gcc = _so(
        tmp_path, "g.so", needed=["libgcc_s.so.1"], verneed=[("libgcc_s.so.1", ["GLIBC_2.0"])]
    )
    assert inspect(only_gcc).glibc_requires is None and inspect(only_gcc).requires == ()


@pytest.mark.parametrize(
    ("bits", "level"), [(1, None), (3, "x86-64-v2"), (7, "x86-64-v3"), (15, "x86-64-v4")]
)
def test_isa_level_from_the_gnu_property_note(tmp_path: Path, bits: int, level: str) -> None:
    path = _so(tmp_path, "isa.so", notes=[_isa_note(bits)])
    assert inspect(path).isa == level


def test_isa_is_only_read_for_x86(tmp_path: Path) -> None:
    path = _so(tmp_path, "arm.so", machine=183, notes=[_isa_note(7)])
    assert inspect(path).isa is None


def _gcc(tmp_path: Path, source: str, *flags: str) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    src = tmp_path / "prog.c"
    src.write_text(source)
    out = tmp_path / "prog"
    try:
        subprocess.run(
            ["gcc", "-O2", *flags, str(src), "-o", str(out)], check=True, capture_output=True
        )
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"gcc cannot build it here: {exc.stderr[-200:]!r}")
    return out


BLACKLISTED = """
extern int __cxa_thread_atexit_impl(void (*)(void *), void *, void *);
static void f(void *p) { (void)p; }
int main(void) { return __cxa_thread_atexit_impl(f, 0, 0); }
"""


def test_real_gcc_program_isa_and_blacklisted_symbol(tmp_path: Path) -> None:
    prog = _gcc(tmp_path, BLACKLISTED, "-march=x86-64-v3", "-mneeded")
    report = inspect(prog)
    assert report.isa == "x86-64-v3"
    assert report.policy_symbols == ("__cxa_thread_atexit_impl",)
    items = list(iter_items([str(prog)], keep_elf=True))
    problems = check_items(items, target_from_tag("manylinux2014_x86_64"))
    needs = [p.need for p in problems]
    assert "__cxa_thread_atexit_impl from libc.so.6" in needs
    assert "x86-64-v3" in needs
    # One problem per cause: one GLIBC line whatever number of GLIBC versions are too new.
    assert sum(n.startswith("GLIBC_") for n in needs) <= 1
    # manylinux_2_24 no longer blacklists it.
    later = check_items(items, target_from_tag("manylinux_2_40_x86_64"))
    assert [p.need for p in later] == ["x86-64-v3"]


def test_policy_symbols_agree_with_pyelftools() -> None:
    elftools = pytest.importorskip("elftools.elf.elffile")
    from libcprobe.audit._policy import blacklisted_symbols, time64_pattern

    checked = 0
    for path in sorted((FIXTURES / "pypi").rglob("*.so")) + sorted(
        (FIXTURES / "debian").rglob("*.so*")
    ):
        report = inspect(path)
        if not report.ok or not report.needed:
            continue
        with open(path, "rb") as f:
            elf = elftools.ELFFile(f)
            table = elf.get_section_by_name(".dynsym")
            if table is None:
                continue
            undefined = {
                s.name
                for s in table.iter_symbols()
                if s["st_shndx"] == "SHN_UNDEF" and s["st_info"]["bind"] != "STB_WEAK"
            }
        names = blacklisted_symbols(report.needed)
        wide = report.elf_class == 32
        expected = tuple(
            sorted(
                n
                for n in undefined
                if n.encode() in names or (wide and time64_pattern().fullmatch(n.encode()))
            )
        )
        assert report.policy_symbols == expected, path
        checked += 1
    assert checked >= 10


def test_policy_manylinux2014_aarch64_and_whitelist() -> None:
    policy = policy_named("glibc", "aarch64", (2, 17))
    assert policy is not None and policy.name == "manylinux_2_17_aarch64"
    assert "manylinux2014_aarch64" in policy.aliases
    assert "2.18" in policy.symbol_versions["GLIBC"]  # aarch64's baseline glibc provides it
    assert {"libatomic.so.1", "libexpat.so.1", "libz.so.1"} <= policy.whitelist
    report = FileReport(
        path="m.so",
        arch="aarch64",
        linkage="dynamic",
        family="glibc",
        needed=("libatomic.so.1", "libexpat.so.1", "libc.so.6"),
        symbol_versions=(("libc.so.6", ("GLIBC_2.17", "GLIBC_2.18")),),
    )
    assert causes(report, policy, Bundle([report])) == []


def test_android_policy_knows_the_stable_libraries_and_libpython() -> None:
    for arch in ("aarch64", "armv7l", "x86_64", "i686"):
        policy = policy_named("bionic", arch, (24,))
        assert policy is not None, arch
        report = FileReport(
            path="m.so",
            arch=arch,
            linkage="dynamic",
            family="bionic",
            needed=("libc.so", "libdl.so", "libm.so", "liblog.so", "libpython3.13.so"),
        )
        assert causes(report, policy, Bundle([report])) == [], arch
    assert target_from_tag("android_24_arm64_v8a").policy is not None
    problems = causes(
        FileReport(path="m.so", arch="aarch64", linkage="dynamic", needed=("libssl.so.3",)),
        policy_named("bionic", "aarch64", (24,)),  # type: ignore[arg-type]
        Bundle([]),
    )
    assert [p.need for p in problems] == ["libssl.so.3"]


def test_static_programs_need_only_the_architecture() -> None:
    static = [p for p in (FIXTURES / "built").rglob("*") if "static" in str(p) and p.is_file()]
    assert static
    for prog in static:
        items = list(iter_items([str(prog)], keep_elf=True))
        report = items[0].report
        assert report.linkage == "static"
        for tag in (f"manylinux_2_17_{report.arch}", f"musllinux_1_1_{report.arch}"):
            assert check_items(items, target_from_tag(tag)) == [], (prog, tag)
        other = "aarch64" if report.arch != "aarch64" else "x86_64"
        assert check_items(items, target_from_tag(f"manylinux_2_17_{other}"))


def _wheel(tmp_path: Path, name: str, members: dict[str, bytes]) -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as z:
        for member, data in members.items():
            z.writestr(member, data)
        z.writestr("p-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n")
    return path


def test_module_needing_only_a_bundled_library(tmp_path: Path) -> None:
    module = elfbuild.build(
        elfbuild.Spec(
            interp=None, needed=["libblas-ab12.so.3"], runpath="$ORIGIN/../p.libs", verneed=[]
        )
    ).data
    blas = elfbuild.build(
        elfbuild.Spec(
            interp=None,
            needed=["libc.so.6", "libm.so.6", "libgfortran-1234.so.5"],
            soname="libblas-ab12.so.3",
            runpath="$ORIGIN",
            verneed=[("libc.so.6", ["GLIBC_2.2.5", "GLIBC_2.17"]), ("libm.so.6", ["GLIBC_2.2.5"])],
        )
    ).data
    fortran = elfbuild.build(
        elfbuild.Spec(
            interp=None,
            needed=["libc.so.6"],
            soname="libgfortran-1234.so.5",
            verneed=[("libc.so.6", ["GLIBC_2.14"])],
        )
    ).data
    wheel = _wheel(
        tmp_path,
        "p-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
        {
            "p/_m.so": module,
            "p.libs/libblas-ab12.so.3": blas,
            "p.libs/libgfortran-1234.so.5": fortran,
        },
    )
    items = list(iter_items([str(wheel)]))
    module_report = next(i.report for i in items if i.report.path.endswith("_m.so"))
    assert module_report.family is None  # per file: honest
    summary = summarize_wheel(str(wheel), items)
    assert summary.family == "glibc" and summary.glibc_requires == "2.17"
    assert summary.policy == "manylinux_2_17_x86_64" and summary.external == ()
    assert summary.problems == ()
    # A need the wheel does not satisfy makes it linux_<arch> and is named.
    broken = _wheel(
        tmp_path,
        "q-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
        {"p/_m.so": module, "p.libs/libblas-ab12.so.3": blas},
    )
    summary = summarize_wheel(str(broken), list(iter_items([str(broken)])))
    assert summary.policy == "linux_x86_64" and summary.external == ("libgfortran-1234.so.5",)


def test_musl_32_bit_time64_needs_musllinux_1_2(tmp_path: Path) -> None:
    pytest.importorskip("elftools")
    report = FileReport(
        path="w.whl!m.so",
        arch="i686",
        elf_class=32,
        linkage="dynamic",
        family="musl",
        needed=("libc.musl-x86.so.1",),
        policy_symbols=("__clock_gettime64",),
    )
    one = policy_named("musl", "i686", (1, 1))
    two = policy_named("musl", "i686", (1, 2))
    assert one is not None and two is not None
    assert [c.kind for c in causes(report, one, Bundle([report]))] == ["symbol"]
    assert causes(report, two, Bundle([report])) == []


def test_wheel_requires_leaves_out_bundled_libraries() -> None:
    items = list(iter_items([str(GREENLET_MUSL)]))
    reports = [i.report for i in items]
    # The bundled, renamed libgcc_s/libstdc++ carry their own version nodes: not requirements.
    assert wheel_requires(reports, Bundle(reports)) == ()


def test_check_against_this_system_reads_real_version_definitions(tmp_path: Path) -> None:
    libstdcxx = next((p for p in Path("/usr/lib").rglob("libstdc++.so.6") if p.is_file()), None)
    if libstdcxx is None:
        pytest.skip("no libstdc++.so.6 on this system")
    path = _so(
        tmp_path,
        "cxx.so",
        needed=["libstdc++.so.6", "libc.so.6"],
        verneed=[
            ("libstdc++.so.6", ["GLIBCXX_3.4", "GLIBCXX_3.4.99"]),
            ("libc.so.6", ["GLIBC_2.2.5"]),
        ],
    )
    items = list(iter_items([str(path)], keep_elf=True))
    problems = check_items(items, target_from_info(detect()))
    assert [p.need for p in problems] == ["GLIBCXX_3.4.99 from libstdc++.so.6"]
    assert "defines up to GLIBCXX_3.4." in problems[0].have


def test_check_against_a_root_uses_the_roots_libraries(tmp_path: Path) -> None:
    root = tmp_path / "root"
    libdir = root / "lib" / "x86_64-linux-gnu"
    libdir.mkdir(parents=True)
    (root / "lib64").mkdir()
    debian = FIXTURES / "debian" / "bullseye" / "amd64" / "libc6"
    shutil.copy(debian / "libc-2.31.so", libdir / "libc.so.6")
    shutil.copy(debian / "ld-2.31.so", root / "lib64" / "ld-linux-x86-64.so.2")
    ok = _so(tmp_path, "ok.so", needed=["libc.so.6"], verneed=[("libc.so.6", ["GLIBC_2.30"])])
    new = _so(tmp_path, "new.so", needed=["libc.so.6"], verneed=[("libc.so.6", ["GLIBC_2.34"])])
    target = target_from_info(detect(root=str(root)))
    assert target.isa is None  # another system: this CPU says nothing about it
    assert check_items(list(iter_items([str(ok)], keep_elf=True)), target) == []
    problems = check_items(list(iter_items([str(new)], keep_elf=True)), target)
    # One problem: the root's glibc (2.31) is too old, whether said from its version or from
    # the version definitions of its libc.so.6.
    assert len(problems) == 1 and problems[0].need.startswith("GLIBC_2.34"), problems
    assert "2.31" in problems[0].have or "GLIBC_2.30" in problems[0].have


def test_check_reads_a_roots_library_through_its_links_inside_the_root(tmp_path: Path) -> None:
    """The root's libc.so.6 is an absolute link (to /opt/glibc/..., which means the root's
    /opt, not the host's) behind a '..' chain that would leave the root: check finds it, and
    reads its version definitions through the walk that found it."""
    root = tmp_path / "root"
    libdir = root / "lib" / "x86_64-linux-gnu"
    libdir.mkdir(parents=True)
    (root / "lib64").mkdir()
    (root / "opt" / "glibc").mkdir(parents=True)
    debian = FIXTURES / "debian" / "bullseye" / "amd64" / "libc6"
    shutil.copy(debian / "libc-2.31.so", root / "opt" / "glibc" / "libc.so.6")
    (root / "opt" / "hop").symlink_to("../../../../../../opt/glibc/libc.so.6")
    (libdir / "libc.so.6").symlink_to("/opt/hop")
    shutil.copy(debian / "ld-2.31.so", root / "lib64" / "ld-linux-x86-64.so.2")
    from libcprobe.audit._check import _Resolver

    resolver = _Resolver(target_from_info(detect(root=str(root))), set())
    assert resolver.system_path("libc.so.6") == str(root / "opt" / "glibc" / "libc.so.6")
    assert "GLIBC_2.30" in (resolver.definitions("libc.so.6") or ())
    assert resolver.system_path("libm.so.6") is None and resolver.definitions("libm.so.6") is None


def test_cpu_isa_level_from_cpuinfo(tmp_path: Path) -> None:
    v2 = "cx16 lahf_lm popcnt pni sse4_1 sse4_2 ssse3"
    v3 = v2 + " avx avx2 bmi1 bmi2 f16c fma abm movbe xsave"
    for flags, level in (("fpu sse2", "x86-64"), (v2, "x86-64-v2"), (v3, "x86-64-v3")):
        info = tmp_path / "cpuinfo"
        info.write_text(f"processor\t: 0\nflags\t\t: {flags}\n\n")
        assert cpu_isa_level(str(info)) == level
    assert cpu_isa_level(str(tmp_path / "missing")) is None


def test_inspect_json_wheel_row_has_the_policy_keys() -> None:
    status, text = run("inspect", "--json", str(GREENLET_MUSL))
    row = json.loads(text.splitlines()[-1])
    assert status == 0
    assert row["policy"] == row["justified"] == "musllinux_1_1_x86_64"
    assert row["requires"] == {} and row["external"] == []


def test_android_tag_takes_the_api_level_of_the_ident_note() -> None:
    from libcprobe.audit._audit import lowest_policy, policy_tag

    report = FileReport(
        path="w.whl!m.so",
        arch="aarch64",
        linkage="dynamic",
        family="bionic",
        needed=("libc.so", "libpython3.13.so"),
        android_api=24,
    )
    found, _ = lowest_policy([report], "bionic", "aarch64", Bundle([report]))
    assert found is not None and found.name == "android_21_arm64_v8a"
    assert policy_tag(found, [report]) == "android_24_arm64_v8a"
    needs_audio = report._replace(needed=("libc.so", "libaaudio.so"), android_api=None)
    found, _ = lowest_policy([needs_audio], "bionic", "aarch64", Bundle([needs_audio]))
    assert found is not None and policy_tag(found, [needs_audio]) == "android_26_arm64_v8a"


def test_a_namespace_the_policy_allows_no_version_of() -> None:
    # manylinux_2_12 lists LIBATOMIC with no version at all (found on pillow 11.0.0's wheel).
    policy = policy_named("glibc", "x86_64", (2, 12))
    assert policy is not None and policy.symbol_versions["LIBATOMIC"] == frozenset()
    report = FileReport(
        path="m.so",
        arch="x86_64",
        linkage="dynamic",
        needed=("libatomic.so.1",),
        symbol_versions=(("libatomic.so.1", ("LIBATOMIC_1.0",)),),
    )
    (cause,) = causes(report, policy, Bundle([report]))
    assert cause.need == "LIBATOMIC_1.0 from libatomic.so.1"
    assert cause.have == "manylinux_2_12_x86_64 allows LIBATOMIC no version"


def test_a_name_longer_than_the_readers_bound_is_no_name() -> None:
    """The time64 pattern is matched against names of at most MAX_STRING bytes (the reader's
    bound on any name): a hostile string table of one long run no longer makes every symbol's
    name that long."""
    import struct as _struct

    from libcprobe._elf import MAX_STRING
    from libcprobe.audit._policy import time64_pattern
    from libcprobe.audit._symbols import imports_in

    short = b"__clock_gettime64"
    long_ = b"__" + b"a" * MAX_STRING + b"64"
    strtab = b"\0" + short + b"\0" + long_ + b"\0"
    sym = _struct.Struct("<IIIBBH")  # Elf32_Sym: name, value, size, info, other, shndx
    entries = [sym.pack(0, 0, 0, 0, 0, 0)]  # STB_GLOBAL STT_FUNC, SHN_UNDEF: imported
    entries += [sym.pack(1, 0, 0, 0x12, 0, 0), sym.pack(2 + len(short), 0, 0, 0x12, 0, 0)]
    found = imports_in(b"".join(entries), strtab, 32, True, (), time64_pattern())
    assert found == {short.decode()}
