"""The ``libcprobe`` command (also ``python -m libcprobe``)."""

from __future__ import annotations

import argparse
import io
import json
import sys
import textwrap
from collections.abc import Sequence
from typing import Any, Optional, TextIO

from . import __version__
from ._errors import LibcprobeError, OverrideError
from ._model import LibcInfo

EXAMPLES = """\
examples:
  libcprobe                          which libc this Python runs on, in a few lines
  libcprobe -v                       ... and why (the evidence for each fact)
  libcprobe --json                   the same as one JSON object
  libcprobe --executable /opt/py/bin/python3
  libcprobe --root ./alpine-rootfs   an unpacked image or sysroot, any architecture
  libcprobe tags                     compatible wheel platform tags, best first
  libcprobe inspect /usr/lib/x86_64-linux-musl/libc.so build/*.so
  libcprobe inspect --json _ext.so   one JSON object per file (JSON Lines)

Nothing is executed: libcprobe reads ELF files. LIBCPROBE_LIBC=musl-1.2 (or glibc-2.28,
none) overrides detection of the running interpreter where nothing can be read.

exit status, the same for every command:
  0  answered (for check: everything can load)
  1  a problem found (check), a file that is not ELF or cannot be read,
     or a --root that is not a directory
  2  a usage error, or a malformed LIBCPROBE_LIBC
"""

#: Exit statuses (one rule for every command; see EXAMPLES and docs/cli.md).
EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Wraps the paragraphs of descriptions and epilogs to the terminal width; a paragraph
    with an indented line (examples, a table) is kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for paragraph in text.strip("\n").split("\n\n"):
            lines = paragraph.splitlines()
            if any(line.startswith(" ") for line in lines):
                paragraphs.append("\n".join(indent + line for line in lines))
            else:
                paragraphs.append(
                    textwrap.fill(
                        " ".join(paragraph.split()),
                        width,
                        initial_indent=indent,
                        subsequent_indent=indent,
                    )
                )
        return "\n\n".join(paragraphs) + "\n"


def _jobs(text: str) -> int:
    """``-j N``: a positive number of processes."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _common(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="print JSON instead of text",
    )
    parser.add_argument(
        "--root",
        metavar="DIR",
        default=default,
        help="treat DIR as / (a container image, sysroot or chroot)",
    )
    parser.add_argument(
        "--executable",
        metavar="PATH",
        default=default,
        help="examine this program instead of the running interpreter (inside --root when given)",
    )
    parser.add_argument(
        "--allow-execute",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="allow running the musl loader to cross-check its version",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="say why: print the evidence for each fact",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to generate the CLI reference)."""
    parser = argparse.ArgumentParser(
        prog="libcprobe",
        description="Tell which C library (glibc, musl, bionic, uClibc) a Python interpreter, "
        "program or root filesystem runs on, its version and linkage, and the wheel platform "
        "tags it can load, by reading ELF files, never running them.",
        epilog=EXAMPLES,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"libcprobe {__version__}")
    _common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_detect(sub)
    _add_tags(sub)
    _add_inspect(sub)
    _add_check(sub)
    return parser


def _add_detect(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``libcprobe detect``: the libc of the running interpreter, a program or a root."""
    detect = sub.add_parser(
        "detect",
        help="detect the libc (the default command)",
        description="Detect the libc of the running interpreter, of --executable, or of --root.",
        epilog='exit status: 0 answered ("none found" included, for an ELF program without a '
        "libc); 1 --executable is not an ELF file or cannot be read, or --root is not a "
        "directory; 2 usage, or a malformed LIBCPROBE_LIBC.",
        formatter_class=_Formatter,
    )
    _common(detect, suppress=True)


def _add_tags(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``libcprobe tags``: the wheel platform tags, best first."""
    tags = sub.add_parser(
        "tags",
        help="print the compatible wheel platform tags, best first",
        description="Print the wheel platform tags the detected libc and "
        "architecture can load, most preferred first, one per line "
        "(--json: a list).",
        epilog="exit status: 0 answered (no tags included: the reason goes to stderr); 1 "
        "--executable is not an ELF file or cannot be read, or --root is not a directory; 2 "
        "usage, or a malformed LIBCPROBE_LIBC.",
        formatter_class=_Formatter,
    )
    _common(tags, suppress=True)
    tags.add_argument(
        "--linux-last",
        action="store_true",
        help="put linux_<arch> last, as packaging 26.2 and older (and pip's "
        "vendored copy) order it; the default is packaging 26.3's order",
    )


def _add_inspect(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``libcprobe inspect``: what ELF files, directories and wheels hold and need."""
    inspect = sub.add_parser(
        "inspect",
        help="report what ELF files, directories and wheels hold and need",
        description="For each ELF file: class, byte order, arch, type, interpreter, needed "
        "libraries, soname, rpath/runpath, linkage, libc family, highest GLIBC_ version "
        "needed, and the version of a file that is itself a libc. Directories are walked "
        "(no symlink out of the tree is followed; non-ELF files are skipped); wheels are read "
        "in place (members named wheel.whl!path/inside.so) and summarised: declared tags "
        "against what the binaries need.",
        epilog="--json prints one object per file per line (JSON Lines) with the keys path, "
        "elf_class, endian, arch, type, interpreter, needed, soname, rpath, runpath, linkage, "
        "family, glibc_requires, libc_version, symbol_versions, requires, isa, policy_symbols, "
        "android_api, error; and one object per wheel with the keys wheel, declared, "
        "metadata, binaries, family, arch, glibc_requires, justified, problems, policy, "
        "requires, external (docs/cli.md says what each means).\n\nexit status: 0 every "
        "file named was read (a directory's non-ELF files are skipped, not errors); 1 a file "
        "could not be read or is not ELF; 2 usage.",
        formatter_class=_Formatter,
    )
    inspect.add_argument("paths", nargs="+", metavar="PATH", help="ELF files, directories, wheels")
    inspect.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="JSON Lines: one object per file, one per wheel",
    )
    _tree_options(inspect)
    inspect.add_argument(
        "--all",
        action="store_true",
        help="also list non-ELF files and symlinks that were not followed",
    )


def _add_check(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``libcprobe check``: will these binaries load on the target?"""
    check = sub.add_parser(
        "check",
        help="will these wheels or installed trees load on this system?",
        description="For every ELF binary in the targets: the libc family, glibc version, "
        "architecture and class must match the target system, and every DT_NEEDED must "
        "resolve, inside the wheel or tree (RUNPATH/RPATH with $ORIGIN) or in the target's "
        "library directories, and every symbol version needed from a library found there must "
        "be one it defines; on this machine, an x86 binary's ISA level must be one the CPU "
        "has. Static programs need only the architecture. Nothing is run (no ldd). The target "
        "is the running system, --root DIR, or --platform TAG (then the tag's policy judges: "
        "symbol versions, libraries, blacklisted symbols, ISA level; one problem per cause).",
        epilog="examples:\n  libcprobe check dist/*.whl\n  libcprobe check --platform "
        "manylinux_2_17_x86_64 dist/foo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl\n  "
        "libcprobe check --root ./alpine-rootfs ./venv/lib/python3.12/site-packages\n\n"
        "exit status: 0 everything can load; 1 a problem (one line each: file, what it "
        "needs, what the target has), or a file that is not ELF or cannot be read; 2 usage, "
        "--root with --platform, or a malformed --platform.",
        formatter_class=_Formatter,
    )
    check.add_argument("paths", nargs="+", metavar="TARGET", help="wheels, directories, files")
    check.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print one JSON object: target and problems",
    )
    check.add_argument(
        "--root",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="the target system is the root filesystem DIR",
    )
    check.add_argument(
        "--platform",
        metavar="TAG",
        help="the target is a platform tag such as manylinux_2_28_x86_64",
    )
    # No -j: check keeps every parsed file for the comparison, which a process pool cannot
    # hand back, so a -j here could only be accepted and ignored.


def _tree_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-j",
        "--jobs",
        type=_jobs,
        default=1,
        metavar="N",
        help="read files in N processes, N >= 1 (output order does not change)",
    )


def main(argv: Optional[Sequence[str]] = None, out: TextIO = sys.stdout) -> int:
    """Run the CLI; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # Names in ELF files are bytes, decoded like file names (surrogateescape): print what
    # cannot be encoded as backslash escapes instead of dying with UnicodeEncodeError.
    for stream in (out, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    try:
        if args.command == "inspect":
            return _inspect(args, out)
        if args.command == "check":
            return _check(args, out)
        from ._detect import detect

        info = detect(args.executable, root=args.root, allow_execute=args.allow_execute)
        not_elf = _not_elf(info, args)
        if not_elf is not None:
            print(f"libcprobe: error: {not_elf}", file=sys.stderr)
            return EXIT_PROBLEM
        if args.command == "tags":
            return _tags(info, args, out)
        return _summary(info, args, out)
    except OverrideError as exc:
        print(f"libcprobe: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except LibcprobeError as exc:
        print(f"libcprobe: error: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
    except BrokenPipeError:  # pragma: no cover - e.g. `libcprobe tags | head -1`
        return 0


def _not_elf(info: LibcInfo, args: argparse.Namespace) -> Optional[str]:
    """Why ``--executable`` gave no answer at all: it (or its #! interpreter) is not ELF."""
    if args.executable is None or info.arch is not None or info.family is not None:
        return None
    reasons = [e.detail for e in info.evidence if e.source == "elf-header" and e.value == "none"]
    return f"{args.executable}: {reasons[-1] if reasons else 'not an ELF file'}"


def _tags(info: LibcInfo, args: argparse.Namespace, out: TextIO) -> int:
    tags = info.platform_tags(linux_first=not args.linux_last)
    if args.json:
        print(json.dumps(tags), file=out)
        return 0
    for tag in tags:
        print(tag, file=out)
    if not tags:
        print(f"libcprobe: no platform tags: {_no_tags_reason(info)}", file=sys.stderr)
    return 0


def _no_tags_reason(info: LibcInfo) -> str:
    if info.can_load_extensions is False and info.linkage == "dynamic":
        # its loader is missing: the evidence says which and where
        why = info.why("extensions")
        return why[-1].detail if why else "the program cannot start here"
    if info.can_load_extensions is False:
        return (
            "the program is statically linked, so it cannot load extension modules; "
            "binary wheels cannot work with it. Use a dynamically linked build."
        )
    if info.arch is None:
        return "its architecture is unknown"
    return "no libc was found"


#: How _detect marks a root's program that was passed over (a symlink loop, a link out).
_NOT_USED = "not used: "


def _summary(info: LibcInfo, args: argparse.Namespace, out: TextIO) -> int:
    tags = info.platform_tags()
    if args.json:
        data = info.to_dict()
        data["platform_tags"] = tags
        print(json.dumps(data, indent=2), file=out)
        return 0
    family = str(info.family) if info.family is not None else "none found"
    version = (
        f" {info.version}"
        if info.version is not None
        else (" (version unknown)" if info.family is not None else "")
    )
    linkage = f", linked {info.linkage}ally" if info.linkage else ""
    rows = [("libc", f"{family}{version}{linkage}")]
    rows.append(("arch", info.arch or "unknown"))
    if info.root:
        rows.append(("root", info.root))
    if info.executable:
        rows.append(("program", info.executable))
    if info.interpreter:
        rows.append(("loader", info.interpreter))
    if info.library and info.library != info.interpreter:
        rows.append(("read from", info.library))
    if info.can_load_extensions is False:
        rows.append(("extensions", "cannot load: " + _no_tags_reason(info)))
    elif info.can_load_extensions:
        rows.append(("extensions", "can load"))
    rows.extend(
        ("skipped", f"{ev.value}: {ev.detail[len(_NOT_USED) :]}")
        for ev in info.evidence
        if ev.fact == "interpreter" and ev.detail.startswith(_NOT_USED)
    )
    if tags:
        shown = ", ".join(tags[:4])
        more = f" ... ({len(tags)} in all: `libcprobe tags`)" if len(tags) > 4 else ""
        rows.append(("tags", shown + more))
    else:
        rows.append(("tags", "none"))
    width = max(len(k) for k, _ in rows) + 1
    for key, value in rows:
        print(f"{key + ':':<{width}} {value}", file=out)
    if args.verbose:
        print("why:", file=out)
        for ev in info.evidence:
            where = f" [{ev.path}]" if ev.path else ""
            print(f"  {ev.fact} = {ev.value}: {ev.detail} ({ev.source}){where}", file=out)
    return 0


def _progress() -> bool:
    return sys.stderr.isatty()


def _inspect(args: argparse.Namespace, out: TextIO) -> int:
    from .audit._tree import iter_items
    from .audit._wheel_summary import summarize_wheel

    as_json = getattr(args, "json", False)
    status = 0
    rows: list[tuple[str, ...]] = []
    pending_wheel: Optional[str] = None
    wheel_items: list[Any] = []

    def flush_wheel() -> None:
        nonlocal pending_wheel
        if pending_wheel is None:
            return
        summary = summarize_wheel(pending_wheel, wheel_items)
        if as_json:
            print(json.dumps(summary.to_dict()), file=out)
        else:
            rows.append((f"== {summary.wheel}",))
            rows.append(
                (
                    f"   declares {', '.join(summary.declared) or '-'}; "
                    f"{summary.binaries} binaries, {summary.family or 'no libc'}; "
                    f"policy {summary.policy or '-'}"
                    + "".join(f", needs {ns}_{v}" for ns, v in summary.requires)
                    + (f"; external {', '.join(summary.external)}" if summary.external else ""),
                )
            )
            rows.extend((f"   problem: {p}",) for p in summary.problems)
        pending_wheel = None
        wheel_items.clear()

    for item in iter_items(
        args.paths, all_files=args.all, jobs=max(args.jobs, 1), progress=_progress()
    ):
        report = item.report
        wheel = report.path.split("!", 1)[0] if "!" in report.path else None
        if wheel is None and report.path.endswith(".whl") and not report.ok:
            wheel = None  # an unreadable wheel is one error row
        if wheel != pending_wheel:
            flush_wheel()
            pending_wheel = wheel
        if wheel is not None:
            wheel_items.append(item)
        if item.is_elf and not report.ok:
            status = 1
        if as_json:
            print(json.dumps(report.to_dict()), file=out)
        else:
            rows.append(_row(report))
    flush_wheel()
    if not as_json:
        _print_table(rows, out)
    return status


_HEADER = ("PATH", "ARCH", "TYPE", "LINKAGE", "LIBC", "NEEDS/IS", "INTERPRETER / NEEDED")


def _row(r: Any) -> tuple[str, ...]:
    if not r.ok:
        return (r.path, "-", "-", "-", "-", "-", f"error: {r.error}")
    if r.libc_version:
        version = f"is {r.libc_version}"
    elif r.glibc_requires:
        version = f">= {r.glibc_requires}"
    else:
        version = "-"
    deps = ", ".join(([r.interpreter] if r.interpreter else []) + list(r.needed)) or "-"
    return (r.path, r.arch or "?", r.type or "?", r.linkage or "?", r.family or "-", version, deps)


def _print_table(rows: list[tuple[str, ...]], out: TextIO) -> None:
    table = [row for row in rows if len(row) == len(_HEADER)]
    widths = [max(len(row[i]) for row in [_HEADER, *table]) for i in range(len(_HEADER) - 1)]
    for row in [_HEADER, *rows]:
        if len(row) != len(_HEADER):
            print(row[0], file=out)
            continue
        cells = [cell.ljust(w) for cell, w in zip(row, widths)]
        print("  ".join([*cells, row[-1]]).rstrip(), file=out)


def _check(args: argparse.Namespace, out: TextIO) -> int:
    from ._detect import detect
    from .audit._check import check_items, target_from_info, target_from_tag
    from .audit._tree import iter_items

    if args.platform and getattr(args, "root", None):
        print(
            "libcprobe check: error: --root and --platform exclude each other: the target is "
            "either a root filesystem or a platform tag",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.platform:
        try:
            target = target_from_tag(args.platform)
        except ValueError as exc:
            print(f"libcprobe: error: --platform: {exc}", file=sys.stderr)
            return EXIT_USAGE
    else:
        target = target_from_info(detect(root=args.root))
    items = list(iter_items(args.paths, jobs=1, keep_elf=True, progress=_progress()))
    problems = check_items(items, target)
    binaries = sum(1 for item in items if item.is_elf)
    if getattr(args, "json", False):
        print(
            json.dumps(
                {
                    "target": target.description,
                    "binaries": binaries,
                    "problems": [p.to_dict() for p in problems],
                },
                indent=2,
            ),
            file=out,
        )
    else:
        for problem in problems:
            print(str(problem), file=out)
        verdict = "can load" if not problems else _count(len(problems), "problem")
        print(
            f"{_count(binaries, 'binary', 'binaries')} checked against {target.description}: "
            f"{verdict}",
            file=sys.stderr,  # always: standard output holds the problem lines alone
        )
    return EXIT_PROBLEM if problems else EXIT_OK


def _count(n: int, one: str, many: Optional[str] = None) -> str:
    """``1 binary``, ``3 binaries``, ``0 problems``."""
    return f"{n} {one if n == 1 else (many or one + 's')}"
