"""The ``libcprobe`` command (also ``python -m libcprobe``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, Optional, TextIO

from . import __version__
from ._errors import LibcprobeError
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

exit status: 0 success; 1 a file could not be read as ELF, or detection failed; 2 usage.
"""


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
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"libcprobe {__version__}")
    _common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    detect = sub.add_parser(
        "detect",
        help="detect the libc (the default command)",
        description="Detect the libc of the running interpreter, of --executable, or of --root.",
    )
    _common(detect, suppress=True)
    tags = sub.add_parser(
        "tags",
        help="print the compatible wheel platform tags, best first",
        description="Print the wheel platform tags the detected libc and "
        "architecture can load, most preferred first, one per line "
        "(--json: a list).",
    )
    _common(tags, suppress=True)
    tags.add_argument(
        "--linux-last",
        action="store_true",
        help="put linux_<arch> last, as packaging 26.2 and older (and pip's "
        "vendored copy) order it; the default is packaging 26.3's order",
    )
    inspect = sub.add_parser(
        "inspect",
        help="report what ELF files are and need",
        description="For each ELF file: class, byte order, arch, type, interpreter, needed "
        "libraries, soname, rpath/runpath, linkage, libc family, highest GLIBC_ version "
        "needed, and the version of a file that is itself a libc.",
        epilog="exit status: 0 all files read; 1 some file could not be read as ELF; 2 usage.",
    )
    inspect.add_argument("paths", nargs="+", metavar="PATH", help="ELF files")
    inspect.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print one JSON object per file per line (JSON Lines)",
    )
    return parser


def main(argv: Optional[Sequence[str]] = None, out: TextIO = sys.stdout) -> int:
    """Run the CLI; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "inspect":
            return _inspect(args, out)
        from ._detect import detect

        info = detect(args.executable, root=args.root, allow_execute=args.allow_execute)
        if args.command == "tags":
            return _tags(info, args, out)
        return _summary(info, args, out)
    except LibcprobeError as exc:
        print(f"libcprobe: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # pragma: no cover - e.g. `libcprobe tags | head -1`
        return 0


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
    if info.can_load_extensions is False:
        return (
            "the program is statically linked, so it cannot load extension modules; "
            "binary wheels cannot work with it. Use a dynamically linked build."
        )
    if info.arch is None:
        return "its architecture is unknown"
    return "no libc was found"


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


def _inspect(args: argparse.Namespace, out: TextIO) -> int:
    from ._inspect import inspect

    reports = [inspect(p) for p in args.paths]
    status = 0 if all(r.ok for r in reports) else 1
    if getattr(args, "json", False):
        for report in reports:
            print(json.dumps(report.to_dict()), file=out)
        return status
    header = ("PATH", "ARCH", "TYPE", "LINKAGE", "LIBC", "NEEDS/IS", "INTERPRETER / NEEDED")
    rows: list[tuple[str, ...]] = []
    for r in reports:
        if not r.ok:
            rows.append((r.path, "-", "-", "-", "-", "-", f"error: {r.error}"))
            continue
        if r.libc_version:
            version = f"is {r.libc_version}"
        elif r.glibc_requires:
            version = f">= {r.glibc_requires}"
        else:
            version = "-"
        deps = ", ".join(([r.interpreter] if r.interpreter else []) + list(r.needed)) or "-"
        rows.append(
            (r.path, r.arch or "?", r.type or "?", r.linkage or "?", r.family or "-", version, deps)
        )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [cell.ljust(w) for cell, w in zip(row, widths)]
        print("  ".join([*cells, row[-1]]).rstrip(), file=out)
    return status
