"""Detection in odd environments, each in a subprocess of this interpreter (or in-process with
monkeypatching where that is enough): no /proc, an empty or relative ``sys.executable``, a
shell-script launcher, a deleted interpreter, an unreadable loader, no ``os.confstr``, no
``ctypes``. Each must give an honest answer or a clear error.

And the proof that nothing is executed unless ``allow_execute=True``: an audit hook records
every process start while libcprobe works through many files, roots and the CLI.
"""

from __future__ import annotations

import ast
import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Optional

import pytest

import elfbuild
import libcprobe
from libcprobe import Family, FileAccessError
from libcprobe._elf import read_elf
from shared import host_glibc_version, run_json

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src" / "libcprobe"
FIXTURES = REPO / "tests" / "fixtures"
HOST_MUSL_LOADER = Path("/lib/ld-musl-x86_64.so.1")


GLIBC = host_glibc_version()
needs_glibc = pytest.mark.skipif(GLIBC is None, reason="the test interpreter is not on glibc")


#: Code run first in the subprocess to hide /proc from libcprobe: /proc/self/exe does not
#: exist, cannot be read as a link, and /proc/self/maps cannot be opened.
NO_PROC = textwrap.dedent(
    """
    import builtins, os
    _exists, _readlink, _open, _os_open = os.path.exists, os.readlink, builtins.open, os.open
    def _hidden(path):
        return isinstance(path, str) and path.startswith("/proc/")
    def _enoent(path):
        return FileNotFoundError(2, "No such file or directory", path)
    def exists(path):
        return False if _hidden(path) else _exists(path)
    def readlink(path, *args, **kwargs):
        if _hidden(path):
            raise _enoent(path)
        return _readlink(path, *args, **kwargs)
    def open_(file, *args, **kwargs):
        if _hidden(file):
            raise _enoent(file)
        return _open(file, *args, **kwargs)
    def os_open(path, *args, **kwargs):
        if _hidden(path):
            raise _enoent(path)
        return _os_open(path, *args, **kwargs)
    os.path.exists, os.readlink, builtins.open, os.open = exists, readlink, open_, os_open
    """
)

#: Prints detect()'s result as JSON (the last line of stdout).
REPORT = textwrap.dedent(
    """
    import json, sys
    import libcprobe
    try:
        info = libcprobe.detect()
    except libcprobe.LibcprobeError as exc:
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
    else:
        data = info.to_dict()
        data["platform_tags"] = info.platform_tags()[:3]
        print(json.dumps(data))
    """
)


def run_python(
    code: str,
    *,
    executable: Optional[str] = None,
    env: Optional[dict[str, str]] = None,
    cwd: Optional[Path] = None,
    args: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; returns the JSON object its last line prints."""
    return run_json([executable or sys.executable, "-c", code, *args], env=env, cwd=cwd)


def sources(info: dict[str, Any]) -> set[str]:
    return {e["source"] for e in info["evidence"]}


# -- no /proc, odd sys.executable ------------------------------------------------------------------


@needs_glibc
def test_no_proc() -> None:
    info = run_python(NO_PROC + REPORT)
    assert info["family"] == "glibc" and info["version"] == GLIBC
    assert info["interpreter"] == read_elf(sys.executable).interpreter
    assert info["executable"] == sys.executable
    assert "proc-exe" not in sources(info) and "confstr" in sources(info)
    assert any("no /proc" in e["detail"] for e in info["evidence"])


@needs_glibc
def test_no_proc_and_no_confstr_reads_the_loader_and_libc_so_6() -> None:
    info = run_python(NO_PROC + "del os.confstr\n" + REPORT)
    assert info["family"] == "glibc" and info["version"] == GLIBC
    assert info["library"] is not None and info["library"].endswith("libc.so.6")
    assert "confstr" not in sources(info) and "proc-maps" not in sources(info)


@needs_glibc
def test_no_confstr_reads_the_loader_and_libc_so_6() -> None:
    info = run_python("import os\ndel os.confstr\n" + REPORT)
    assert info["family"] == "glibc" and info["version"] == GLIBC
    assert info["library"] is not None and info["library"].endswith("libc.so.6")
    assert "confstr" not in sources(info)


@needs_glibc
def test_empty_sys_executable() -> None:
    # With /proc, sys.executable is not needed at all.
    info = run_python("import sys\nsys.executable = ''\n" + REPORT)
    assert info["family"] == "glibc" and info["version"] == GLIBC
    # Without /proc nothing names the program: the running glibc still answers through
    # confstr; the arch stays unknown, so there are no tags, and the evidence says why.
    info = run_python(NO_PROC + "import sys\nsys.executable = ''\n" + REPORT)
    assert info["family"] == "glibc" and info["version"] == GLIBC
    assert info["arch"] is None and info["platform_tags"] == []
    details = [e["detail"] for e in info["evidence"]]
    assert any("names the running program" in d for d in details)


@needs_glibc
def test_relative_sys_executable(tmp_path: Path) -> None:
    real = Path(sys.executable)
    code = NO_PROC + f"import sys\nsys.executable = {os.path.relpath(real, real.parent)!r}\n"
    info = run_python(code + REPORT, cwd=real.parent)
    assert info["family"] == "glibc" and info["version"] == GLIBC
    assert info["linkage"] == "dynamic" and info["arch"] is not None
    # The same relative name from another directory names no file: confstr still answers,
    # and the evidence says the program could not be read.
    info = run_python(code + REPORT, cwd=tmp_path)
    assert info["family"] == "glibc" and info["version"] == GLIBC
    assert info["evidence"][-1]["detail"] == "no such file"


@needs_glibc
def test_shell_script_launcher(tmp_path: Path) -> None:
    """A pyenv-style shim: a script that execs the real interpreter."""
    shim = tmp_path / "python3"
    shim.write_text(f'#!/usr/bin/env sh\nexec "{sys.executable}" "$@"\n')
    shim.chmod(0o755)
    info = run_python(REPORT, executable=str(shim))
    assert info["family"] == "glibc" and info["version"] == GLIBC and info["running"]
    # The shim itself, examined as a program: its #! line is followed to a real program.
    examined = libcprobe.detect(shim)
    assert examined.family is Family.GLIBC
    assert any("is a script" in e.detail for e in examined.evidence)
    # Without /proc, a sys.executable that is the shim is followed the same way.
    info = run_python(NO_PROC + f"import sys\nsys.executable = {str(shim)!r}\n" + REPORT)
    assert info["family"] == "glibc" and info["version"] == GLIBC
    assert any("is a script" in e["detail"] for e in info["evidence"])


@needs_glibc
def test_deleted_interpreter(tmp_path: Path) -> None:
    """The running interpreter's file is deleted: /proc/self/exe still opens it."""
    real = os.path.realpath(sys.executable)
    copy = tmp_path / "python-copy"
    shutil.copy2(real, copy)
    env = {"PYTHONPATH": str(SRC.parent), "PYTHONHOME": sys.base_prefix}
    probe = subprocess.run(
        [str(copy), "-c", "import libcprobe"],
        capture_output=True,
        env=dict(os.environ, **env),
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"a copy of {real} cannot run here: {probe.stderr[-300:]!r}")
    code = "import os, sys\nos.unlink(os.path.realpath('/proc/self/exe'))\n" + REPORT
    info = run_python(code, executable=str(copy), env=env)
    assert not copy.exists()
    assert info["family"] == "glibc" and info["version"] == GLIBC
    assert info["linkage"] == "dynamic" and info["arch"] is not None
    assert any(e["value"].endswith("(deleted)") for e in info["evidence"])
    # A program deleted before detect(executable=...) is a clear error.
    with pytest.raises(FileAccessError, match="no such file"):
        libcprobe.detect(copy)


# -- unreadable loader ---------------------------------------------------------------------------


def _deny(monkeypatch: pytest.MonkeyPatch, denied: str) -> None:
    real_open = os.open

    def fake_open(path: Any, flags: int, mode: int = 0o777, **kwargs: Any) -> int:
        if os.fsdecode(path) == denied:
            raise PermissionError(errno.EACCES, "Permission denied", denied)
        return real_open(path, flags, mode, **kwargs)

    monkeypatch.setattr(os, "open", fake_open)


def test_unreadable_musl_loader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loader = tmp_path / "ld-musl-x86_64.so.1"
    loader.write_bytes(
        elfbuild.build(
            elfbuild.Spec(
                interp=None,
                needed=[],
                runpath=None,
                verneed=[],
                notes=[],
                extra_rodata=b"\0musl libc (x86_64)\0\x001.2.4\0",
            )
        ).data
    )
    program = tmp_path / "prog"
    program.write_bytes(elfbuild.build(elfbuild.Spec(interp=str(loader), verneed=[])).data)
    assert libcprobe.detect(program).version == (1, 2, 4)
    libcprobe.clear_cache()
    _deny(monkeypatch, str(loader))
    info = libcprobe.detect(program)
    assert info.family is Family.MUSL and info.version is None
    assert any("permission denied" in e.detail for e in info.why("version"))


@needs_glibc
def test_unreadable_glibc_loader_still_finds_libc_so_6(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    interp = read_elf(sys.executable).interpreter
    assert interp is not None
    _deny(monkeypatch, interp)
    info = libcprobe.detect(sys.executable)
    assert info.family is Family.GLIBC and info.version == libcprobe.LibcVersion.parse(GLIBC or "")
    assert info.library is not None and info.library.endswith("libc.so.6")
    assert any("permission denied" in e.detail for e in info.evidence)


# -- no ctypes ------------------------------------------------------------------------------------

EVERYTHING = textwrap.dedent(
    """
    import io, json, sys
    import libcprobe, libcprobe.compat
    from libcprobe._cli import main
    paths = json.loads(sys.argv[1])
    out = {}
    info = libcprobe.detect()
    out["family"] = info.family.value if info.family else None
    out["version"] = str(info.version) if info.version else None
    out["tags"] = len(info.platform_tags())
    out["exe"] = [str(libcprobe.detect(p).family) for p in paths["programs"]]
    out["root"] = str(libcprobe.detect(root=paths["root"]).family)
    out["inspect"] = [libcprobe.inspect(p).ok for p in paths["programs"]]
    out["compat_glibc"] = libcprobe.compat._glibc_version_string()
    out["compat_musl"] = [libcprobe.compat._get_musl_version(p) for p in paths["programs"]]
    out["cli"] = main(["inspect", *paths["programs"]], out=io.StringIO())
    out["ctypes"] = repr(sys.modules.get("ctypes", "never imported"))
    print(json.dumps(out))
    """
)


def _some_programs(tmp_path: Path) -> dict[str, Any]:
    musl_program = tmp_path / "musl-prog"
    musl_program.write_bytes(elfbuild.build(elfbuild.Spec(verneed=[])).data)
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    shutil.copy(musl_program, root / "usr/bin/python3")
    programs = [sys.executable, "/bin/sh", str(musl_program)]
    programs += [str(p) for p in sorted(FIXTURES.glob("built/*/hello"))]
    return {"programs": programs, "root": str(root)}


@needs_glibc
@pytest.mark.parametrize("blocked", [True, False])
def test_without_ctypes(tmp_path: Path, blocked: bool) -> None:
    """``import ctypes`` fails (as on a static musl CPython): everything still works, and
    libcprobe never imports ctypes when it is available either."""
    prelude = "import sys\nsys.modules['ctypes'] = None\n" if blocked else ""
    out = run_python(prelude + EVERYTHING, args=(json.dumps(_some_programs(tmp_path)),))
    assert out["family"] == "glibc" and out["version"] == GLIBC and out["tags"] > 0
    assert out["compat_glibc"] == GLIBC
    assert out["exe"][:3] == ["glibc", "glibc", "musl"]
    assert out["root"] == "musl" and all(out["inspect"]) and out["cli"] == 0
    assert out["ctypes"] == ("None" if blocked else "'never imported'")


def test_libcprobe_source_never_imports_ctypes_or_runs_programs() -> None:
    """Static check: no module imports ctypes; only _execute.py may start a process."""
    for path in sorted(SRC.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "os"
                and node.attr.startswith(
                    ("exec", "spawn", "posix_spawn", "system", "popen", "fork")
                )
            ):
                names.add(f"os.{node.attr}")
        assert "ctypes" not in names, path
        if path.name != "_execute.py":
            assert "subprocess" not in names and not any(n.startswith("os.") for n in names), (
                path,
                names,
            )


# -- nothing is executed -------------------------------------------------------------------------

AUDIT = textwrap.dedent(
    """
    import io, json, sys
    WATCH = (
        "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
        "os.forkpty", "os.startfile", "pty.spawn", "ctypes.dlopen",
    )
    events = []
    def hook(event, args):
        if event.startswith(WATCH):
            events.append([event, repr(args)[:300]])
    sys.addaudithook(hook)

    import libcprobe, libcprobe.compat
    from libcprobe._cli import main
    paths = json.loads(sys.argv[1])
    done = {}
    libcprobe.detect()
    libcprobe.detect().platform_tags()
    for p in paths["programs"]:
        try:
            libcprobe.detect(p)
        except libcprobe.LibcprobeError:
            pass
        libcprobe.compat._get_musl_version(p)
    for root in paths["roots"]:
        libcprobe.detect(root=root)
    reports = [libcprobe.inspect(p) for p in paths["inspect"]]
    done["inspected"] = sum(r.ok for r in reports)
    main(["inspect", *paths["inspect"][:50]], out=io.StringIO())
    main(["-v", "--root", paths["roots"][0]], out=io.StringIO())
    main(["tags"], out=io.StringIO())
    libcprobe.compat._glibc_version_string()
    done["before"] = list(events)
    if paths["execute"]:
        libcprobe.clear_cache()
        info = libcprobe.detect(paths["execute"], allow_execute=True)
        done["executed_evidence"] = [e.detail for e in info.evidence if e.source == "execute"]
    done["after"] = events[len(done["before"]):]
    print(json.dumps(done))
    """
)


def test_nothing_is_executed_unless_allowed(tmp_path: Path) -> None:
    musl_program = tmp_path / "musl-prog"
    musl_program.write_bytes(elfbuild.build(elfbuild.Spec(verneed=[])).data)
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\necho this must not run > /dev/null\n")
    script.chmod(0o755)
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "lib").mkdir()
    shutil.copy(musl_program, root / "usr/bin/python3")
    if HOST_MUSL_LOADER.exists():
        shutil.copy(HOST_MUSL_LOADER, root / "lib/ld-musl-x86_64.so.1")
    fixtures = sorted(str(p) for p in FIXTURES.rglob("*") if p.is_file() and not p.is_symlink())
    host = sorted(str(p) for p in Path("/usr/bin").iterdir() if p.is_file())[:150]
    programs = [sys.executable, "/bin/sh", str(musl_program), str(script)]
    programs += [p for p in fixtures if "/built/" in p or p.endswith(("libc.so", "ld.so.1"))]
    paths = {
        "programs": programs,
        "roots": [str(root), str(tmp_path / "empty")],
        "inspect": fixtures + host,
        "execute": str(musl_program) if HOST_MUSL_LOADER.exists() else None,
    }
    (tmp_path / "empty").mkdir()
    done = run_python(AUDIT, args=(json.dumps(paths),))
    assert done["before"] == [], done["before"]
    assert done["inspected"] > 20
    if paths["execute"] is None:
        pytest.skip("no musl loader on this host: allow_execute=True not exercised")
    # Opting in runs the musl loader once, and only then. subprocess raises its own event,
    # then (3.13 and later, where it spawns with posix_spawn) os.posix_spawn's for the same
    # program: one run, two events.
    events = [e for e, _ in done["after"]]
    assert events in (["subprocess.Popen"], ["subprocess.Popen", "os.posix_spawn"]), events
    assert all(str(HOST_MUSL_LOADER) in args for _, args in done["after"])
    assert done["executed_evidence"] and "agrees" in done["executed_evidence"][0]
