"""Which C library one ELF file is built for, or is: the per-file half of detection.

The rules, strongest first:

1. The file *is* a libc: glibc's ``libc.so.6`` or ``ld.so`` (soname and ``GLIBC_2.x`` version
   definitions), musl's ``libc.so`` (which is also its loader: no soname or ``libc.so``, no
   needed libraries, and the ``musl libc`` usage text), bionic's ``libc.so`` (``LIBC`` version
   definitions), uClibc's ``libc.so.0``. Its own version is read from its bytes.
2. ``PT_INTERP`` names a known loader (``ld-musl-<arch>.so.1``, ``ld-linux-*.so.*``,
   ``ld.so.1``, ``ld64.so.{1,2}``, ``ld-uClibc.so.0``, ``/system/bin/linker64``).
3. ``DT_NEEDED`` names a libc (``libc.so.6``, ``libc.musl-<arch>.so.1``, ``libc.so.0``,
   plain ``libc.so``) or the file needs ``GLIBC_x.y`` symbol versions.
4. Notes: glibc's ``NT_GNU_ABI_TAG`` (``.note.ABI-tag``, from glibc's ``crt1.o``), Android's
   ``.note.android.ident``, Go's build ID.
5. Static files only: marker strings in read-only data (see :mod:`._libc_strings`).
"""

from __future__ import annotations

import struct

from ._elf import ET_DYN, MAX_BYTES_PER_FILE, ELFFile, readonly_section
from ._libc_strings import (
    MUSL_MARKER,
    MUSL_NEAR,
    Found,
    PartialRead,
    Span,
    find_glibc_banner,
    find_musl_version,
    find_static_libc,
    glibc_version_from_name,
    last_musl_marker,
    nearest_musl_version,
)
from ._model import Evidence, EvidenceLog, Family

TYPE_CHECKING = False  # typing and collections.abc only for type checkers: see _records.py
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterator
    from typing import Callable, NamedTuple, Optional
else:
    from ._records import NamedTuple

__all__ = [
    "Classification",
    "classify",
    "family_of_loader_name",
    "loader_evidence",
    "musl_libc_evidence",
    "musl_version_near_marker",
]

# Notes (gABI note format; values from glibc's elf.h, Android's bionic and Go's linker).
NT_GNU_ABI_TAG = 1  # owner "GNU"
NT_ANDROID_TYPE_IDENT = 1  # owner "Android", desc starts with the API level (int32)
NT_GO_BUILDID = 4  # owner "Go"

# File-name shapes, checked with str methods (not re, which costs more to import than all of
# detect() otherwise does). Each is the regular expression in its comment, fully matched; \w is
# a Unicode word character (str.isalnum() or "_"), \d a Unicode decimal digit, as in re.


def _word(text: str, extra: str) -> bool:
    return all(c.isalnum() or c == "_" or c in extra for c in text)


def _dotted_numbers(text: str) -> bool:  # (\.\d+)*
    return not text or (text[0] == "." and all(p.isdecimal() for p in text[1:].split(".")))


def _split_at(text: str, sep: str) -> Iterator[tuple[str, str]]:
    # Every (before, after) split of text around an occurrence of sep.
    at = text.find(sep)
    while at >= 0:
        yield text[:at], text[at + len(sep) :]
        at = text.find(sep, at + 1)


def _is_musl_loader(name: str) -> bool:  # ld-musl-[\w.-]+\.so\.1
    return (
        name.startswith("ld-musl-")
        and name.endswith(".so.1")
        and _word(name[8:-5], ".-")
        and len(name) > 13
    )


def _is_uclibc_loader(name: str) -> bool:  # ld(64)?-uClibc(-[\w.]+)?\.so(\.\d+)*
    for prefix in ("ld-uClibc", "ld64-uClibc"):
        if name.startswith(prefix):
            return any(
                (not tag or (tag[0] == "-" and len(tag) > 1 and _word(tag[1:], ".")))
                and _dotted_numbers(rest)
                for tag, rest in _split_at(name[len(prefix) :], ".so")
            )
    return False


def _is_glibc_loader(name: str) -> bool:  # ld-linux[\w.-]*\.so\.\d+|ld(64)?\.so\.\d+|ld-2\.\d+\.so
    if name.startswith("ld-linux"):
        return any(
            _word(middle, ".-") and number.isdecimal()
            for middle, number in _split_at(name[8:], ".so.")
        )
    for prefix in ("ld.so.", "ld64.so."):
        if name.startswith(prefix):
            return name[len(prefix) :].isdecimal()
    return name.startswith("ld-2.") and name.endswith(".so") and name[5:-3].isdecimal()


def _is_bionic_linker(name: str) -> bool:  # linker(64)?
    return name in ("linker", "linker64")


def _is_musl_soname(name: str) -> bool:  # libc\.musl-[\w.-]+\.so\.1 (Alpine's musl soname)
    return (
        name.startswith("libc.musl-")
        and name.endswith(".so.1")
        and _word(name[10:-5], ".-")
        and len(name) > 15
    )


_LOADER_PATTERNS: tuple[tuple[Callable[[str], bool], Family], ...] = (
    (_is_musl_loader, Family.MUSL),
    (_is_uclibc_loader, Family.UCLIBC),
    (_is_glibc_loader, Family.GLIBC),
    (_is_bionic_linker, Family.BIONIC),
)
_NEEDED_PATTERNS: tuple[tuple[Callable[[str], bool], Family], ...] = (
    (("libc.so.6", "libc.so.6.1").__contains__, Family.GLIBC),  # .6.1 on alpha and ia64
    (_is_musl_soname, Family.MUSL),
    (("libc.so.0", "libc.so.1").__contains__, Family.UCLIBC),
    ("libc.so".__eq__, Family.MUSL),  # musl-gcc links "libc.so"; bionic too (below)
)

# What every name above starts with: the quick test before the shapes.
_LOADER_STARTS = ("ld", "linker")
_NEEDED_START = "libc."


class Classification(NamedTuple):
    """The libc one file is built for (or is), and how that was concluded."""

    family: Optional[Family]
    is_libc: bool
    libc_version: Optional[Found]
    api_level: Optional[int]
    evidence: tuple[Evidence, ...]


def family_of_loader_name(path: str) -> Optional[Family]:
    """The libc family a ``PT_INTERP`` path belongs to, from its file name."""
    name = path.rsplit("/", 1)[-1]
    if not name.startswith(_LOADER_STARTS):
        return None
    for matches, family in _LOADER_PATTERNS:
        if matches(name):
            if family is Family.BIONIC and not path.startswith(("/system/", "/apex/")):
                return None
            return family
    return None


def family_of_needed_name(name: str) -> Optional[Family]:
    """The libc family a ``DT_NEEDED`` name belongs to, or None when it names no libc."""
    if not name.startswith(_NEEDED_START):
        return None
    for matches, family in _NEEDED_PATTERNS:
        if matches(name):
            return family
    return None


def android_api_level(elf: ELFFile) -> Optional[int]:
    """The API level in Android's ident note, or None."""
    if not elf.may_have_note("Android"):
        return None
    for note in elf.notes:
        if note.name == "Android" and note.type == NT_ANDROID_TYPE_IDENT and len(note.desc) >= 4:
            fmt = "<i" if elf.little_endian else ">i"
            level = int(struct.unpack_from(fmt, note.desc)[0])
            return level if level > 0 else None
    return None


def classify(elf: ELFFile, *, scan: bool = True) -> Classification:
    """Classify an ELF file. With ``scan`` (the file must still be open, see
    :func:`~libcprobe._elf.open_elf`), read-only data is read where names cannot decide:
    for a candidate libc's version and for static files' marker strings."""
    path = elf.path
    ev = EvidenceLog()
    api = android_api_level(elf)

    libc = _classify_as_libc(elf, scan, api)
    if libc is not None:
        return libc

    family: Optional[Family] = None
    if elf.interpreter is not None:
        family = family_of_loader_name(elf.interpreter)
        if family is not None:
            loader_evidence(ev, family, elf.interpreter, path)
    if family is None:
        for name in elf.needed:
            found = family_of_needed_name(name)
            if found is Family.MUSL and name == "libc.so" and api is not None:
                found = Family.BIONIC
            if found is not None:
                family = found
                ev.family(found.value, "elf-needed", path, f"DT_NEEDED {name} is {found}'s libc")
                break
    if family is None and elf.glibc_requires is not None:
        family = Family.GLIBC
        ev.family("glibc", "elf-verneed", path, "needs GLIBC_ symbol versions")
    if family is None and api is not None:
        family = Family.BIONIC
        ev.family("bionic", "elf-note", path, f"Android ident note, API level {api}")
    if family is None and elf.linkage == "static":
        family = _classify_static(elf, scan, ev)
    return Classification(family, False, None, api, tuple(ev.items))


def loader_evidence(ev: EvidenceLog, family: Family, interp: str, path: str) -> None:
    """The evidence that a program's ``PT_INTERP`` names ``family``'s loader."""
    ev.family(family.value, "elf-interp", path, f"PT_INTERP {interp} is the {family.value} loader")


def musl_libc_evidence(ev: EvidenceLog, path: str, found: Optional[Found]) -> None:
    """The evidence that the file at ``path`` is musl's libc.so, and of its version."""
    what = "the file is musl's libc.so and loader ('musl libc' usage text)"
    ev.family("musl", "string", path, what)
    if found is not None:
        what = f"version string {found.text!r} at {found.offset:#x}"
        ev.version(found.version, "string", path, what)


def _classify_static(elf: ELFFile, scan: bool, ev: EvidenceLog) -> Optional[Family]:
    path = elf.path
    for note in elf.notes:
        if note.name == "GNU" and note.type == NT_GNU_ABI_TAG:
            what = "static, with glibc's NT_GNU_ABI_TAG note (.note.ABI-tag)"
            ev.family("glibc", "elf-note", path, what)
            return Family.GLIBC
    start = musl_start_of(elf) if scan else None
    if start is not None:
        what = f"static, and e_entry {elf.entry:#x} is musl's _start (as in {start})"
        ev.family("musl", "elf-entry", path, what)
        return Family.MUSL
    if any(note.name == "Go" and note.type == NT_GO_BUILDID for note in elf.notes):
        what = "static Go program (Go build ID note): it uses no C library"
        ev.family("none", "elf-note", path, what)
        return None
    if not scan:
        ev.family("none", "elf-header", path, "static; read-only data not scanned")
        return None
    found = find_static_libc(elf.readonly_data())
    if found is None:
        ev.family("none", "string", path, "static, and no libc's marker was found")
        return None
    family, marker, offset = found
    what = f"static, carries {family.value}'s string {marker!r} at {offset:#x}"
    ev.family(family.value, "string", path, what)
    return family


# musl's _start fingerprints (see _musl_start), compiled on first use: per (e_machine, class,
# little-endian), a list of (source, items); an item is (values, masks) to compare, or
# (min, max) of a gap the linker may have shortened.
_Item = tuple[object, object]
_START: dict[tuple[int, int, bool], list[tuple[str, list[_Item]]]] = {}
_START_READ = 128  # bytes read at e_entry: more than the longest pattern with its gaps


def _compile_start(pattern: str) -> list[_Item]:
    items: list[_Item] = []
    values, masks = bytearray(), bytearray()
    for token in pattern.split():
        if token.startswith("{"):
            items.append((bytes(values), bytes(masks)))
            low, high = token[1:-1].split(",")
            items.append((int(low), int(high)))
            values, masks = bytearray(), bytearray()
        elif token == "??":
            values.append(0)
            masks.append(0)
        elif token[0] == "?":
            values.append(int(token[1], 16))
            masks.append(0x0F)
        else:
            values.append(int(token, 16))
            masks.append(0xFF)
    items.append((bytes(values), bytes(masks)))
    return items


def _start_table() -> dict[tuple[int, int, bool], list[tuple[str, list[_Item]]]]:
    if not _START:
        from ._musl_start import START_PATTERNS

        for machine, cls, little, pattern, source in START_PATTERNS:
            key = (machine, cls, little)
            _START.setdefault(key, []).append((source, _compile_start(pattern)))
    return _START


def _matches(code: bytes, items: list[_Item], pos: int = 0) -> bool:
    for i, (first, second) in enumerate(items):
        if isinstance(first, int) and isinstance(second, int):  # a gap
            return any(
                _matches(code, items[i + 1 :], pos + gap) for gap in range(first, second + 1)
            )
        assert isinstance(first, bytes) and isinstance(second, bytes)
        if pos + len(first) > len(code):
            return False
        for k, mask in enumerate(second):
            if code[pos + k] & mask != first[k]:
                return False
        pos += len(first)
    return True


def musl_start_of(elf: ELFFile) -> Optional[str]:
    """Where the musl ``_start`` that ``e_entry`` points at was derived from (e.g.
    ``"musl-dev 1.2.5-3.1~deb13u1 amd64 crt1.o"``), or None when the code there is not musl's.
    Reads at most 128 bytes; the file must be open (or bytes)."""
    candidates = _start_table().get((elf.machine, elf.elf_class, elf.little_endian))
    if not candidates:
        return None
    code = elf.entry_code(_START_READ)
    for source, items in candidates:
        if _matches(code, items):
            return source
    return None


_STEP = 64 * 1024
#: Most read-only bytes read to decide whether a file is musl's libc.so (musl's is 0.6-1.2 MB
#: in all; its .rodata a few hundred KB), so a large library is not scanned twice.
MUSL_LOADER_SCAN = 4 * 1024 * 1024
#: How far from the end of its one read-only segment the usage text is looked for first when
#: .rodata shares it with the code (0.5-205 KiB on Debian's musl, 9 architectures).
_MUSL_TAIL = 256 * 1024


def _musl_version_of(elf: ELFFile) -> tuple[Optional[Found], bool]:
    """(version, whether the 'musl libc' usage text is there) for a candidate musl loader.

    The usage text lies near the end of .rodata: look for it in the non-code read-only
    segments from the end (at most :data:`MUSL_LOADER_SCAN` bytes, counted in 64 KiB steps),
    then for the version around it (:func:`nearest_musl_version`, which reads only as far
    from the text as the nearest version-shaped string lies), first within
    :data:`MUSL_NEAR` bytes and the segment. Failing that, the same in all read-only data,
    code segments included: .rodata shares a segment with the code on most architectures,
    the text near its end; only when the text is not there is all of it read at once. Those
    searches need whole reads: a byte source holding only parts of the file (a wheel member
    read sparsely) gets the one scan of all read-only data instead."""
    try:
        found = _musl_version_near_marker(elf)
    except PartialRead:
        found = None
    if found is not None:
        return found
    if sum(size for _, size in elf.readonly_ranges()) > MUSL_LOADER_SCAN:
        return None, False  # far larger than any musl libc.so: not one
    chunks = elf.readonly_data()
    version = find_musl_version(chunks)
    return version, version is not None or any(MUSL_MARKER in data for _, data in chunks)


def _musl_version_near_marker(elf: ELFFile) -> Optional[tuple[Optional[Found], bool]]:
    # _musl_version_of's searches from the usage text, in this file.
    return musl_version_near_marker(lambda code: elf.readonly_ranges(code=code), elf.read_range)


def musl_version_near_marker(
    ranges: Callable[[bool], list[tuple[int, int]]], read: Callable[[int, int], bytes]
) -> Optional[tuple[Optional[Found], bool]]:
    """:func:`_musl_version_of`'s searches from the usage text in a file whose read-only
    segments are ``ranges(code)`` (see :meth:`ELFFile.readonly_ranges`) and whose bytes in
    [a, b) are ``read(a, b)``: (version, True), or None when they find no text (or the file is
    too large to be musl's). PartialRead from a byte source holding only parts."""
    hit = _musl_marker_in_rodata(ranges(False), read)
    if hit is not None:
        marker_at, start, stop, piece, piece_at = hit
        lo, hi = marker_at - MUSL_NEAR, marker_at + MUSL_NEAR + 128
        lo, hi = lo if lo > start else start, hi if hi < stop else stop
        window = Span(lo, hi, read, piece, piece_at)
        found = nearest_musl_version([window], marker_at)
        if found is not None:
            return found, True
    readonly = ranges(True)
    if sum(size for _, size in readonly) > MUSL_LOADER_SCAN:
        return None
    # As elf.readonly_data() would read them: its limit is far above MUSL_LOADER_SCAN.
    offset, size = readonly[-1] if readonly else (0, 0)
    tail = last_musl_marker(read, max(offset, offset + size - _MUSL_TAIL), offset + size)
    if tail is None:
        return None
    spans = [Span(o, o + s, read) for o, s in readonly]
    spans[-1] = Span(offset, offset + size, read, tail[2], tail[1])
    return nearest_musl_version(spans, tail[0]), True


def _musl_marker_in_rodata(
    rodata: list[tuple[int, int]], read: Callable[[int, int], bytes]
) -> Optional[tuple[int, int, int, bytes, int]]:
    """The last 'musl libc' in the last non-code read-only segment (of ``rodata``) that has
    one, within MUSL_LOADER_SCAN bytes (in 64 KiB steps) from the end: (offset, the segment's
    start and end, the piece read around it and its offset)."""
    steps = MUSL_LOADER_SCAN // _STEP
    for offset, size in reversed(rodata):
        if steps <= 0:
            break
        taken = min(-(-size // _STEP), steps)
        steps -= taken
        end = offset + size
        hit = last_musl_marker(read, max(offset, end - taken * _STEP), end)
        if hit is not None:
            return hit[0], offset, end, hit[2], hit[1]
    return None


def _classify_as_libc(elf: ELFFile, scan: bool, api: Optional[int]) -> Optional[Classification]:
    path = elf.path
    soname = elf.soname or ""
    # The names first: the version definitions are read only for a soname they can confirm.
    if soname.startswith("libc.so.6") or (
        family_of_loader_name("/" + soname) is Family.GLIBC
        and any(d.startswith("GLIBC_2.") for d in elf.version_definitions)
    ):
        return _glibc_itself(elf, scan, api)
    ev = EvidenceLog()
    if soname == "libc.so" and any(
        d == "LIBC" or d.startswith("LIBC_") for d in elf.version_definitions
    ):
        what = "the file is bionic's libc.so (LIBC version definitions)"
        ev.family("bionic", "elf-verdef", path, what)
        return Classification(Family.BIONIC, True, None, api, tuple(ev.items))
    if soname.startswith("libc.so.0") or soname.startswith("ld-uClibc"):
        ev.family("uclibc", "elf-soname", path, f"the file is uClibc (DT_SONAME {soname})")
        return Classification(Family.UCLIBC, True, None, api, tuple(ev.items))
    # musl's libc.so has no DT_SONAME (Alpine's is libc.musl-<arch>.so.1), no PT_INTERP and
    # needs nothing; its "musl libc" usage text decides.
    musl_like = soname in ("", "libc.so") or soname.startswith("libc.musl-")
    if musl_like and not elf.needed and elf.interpreter is None and elf.type == ET_DYN and scan:
        found, marked = _musl_version_of(elf)
        if found is not None or marked:
            musl_libc_evidence(ev, path, found)
            return Classification(Family.MUSL, True, found, api, tuple(ev.items))
    return None


def _glibc_itself(elf: ELFFile, scan: bool, api: Optional[int]) -> Classification:
    """glibc's libc.so.6 or loader: its version from the release banner (with ``scan``), else
    from a versioned file name (glibc 2.33 and older)."""
    path = elf.path
    soname = elf.soname or ""
    what = "libc.so.6" if soname.startswith("libc.so.6") else "loader"
    ev = EvidenceLog()
    ev.family("glibc", "elf-soname", path, f"the file is glibc's {what} (DT_SONAME {soname})")
    banner = _glibc_banner(elf) if scan else None
    if banner is not None:
        what = f"banner 'release version {banner.text}' at {banner.offset:#x}"
        ev.version(banner.version, "string", path, what)
        return Classification(Family.GLIBC, True, banner, api, tuple(ev.items))
    banner = glibc_version_from_name(path)
    if banner is not None:
        name = path.rsplit("/", 1)[-1]
        what = f"no banner in the file; glibc <= 2.33 names it after its version ({name})"
        ev.version(banner.version, "file", path, what)
    return Classification(Family.GLIBC, True, banner, api, tuple(ev.items))


def _glibc_banner(elf: ELFFile) -> Optional[Found]:
    # The first banner in the read-only segments, the non-code ones first (.rodata has a
    # segment of its own in current links), the code too only when it is not in them. It is
    # a string constant of csu/version.c (elf/dl-usage.c in ld.so), in .rodata, 3-42 KiB
    # before its end in every libc.so.6 and ld.so in tests/fixtures. When the code is to be
    # searched, the section headers name a .rodata inside a read-only segment and more than
    # BANNER_BEFORE_RODATA bytes come before it in that search, .rodata's first banner answers.
    found = find_glibc_banner(elf.readonly_data(code=False))
    if found is not None:
        return found
    rodata = readonly_section(elf, b".rodata")
    if rodata is not None and rodata[1] - rodata[0] <= _RODATA_MAX:
        start, end = rodata
        if _scanned_before(elf, start) > BANNER_BEFORE_RODATA:
            data = elf.read_range(start, end)
            found = find_glibc_banner([(start, data)]) if len(data) == end - start else None
            if found is not None:
                return found
    return find_glibc_banner(elf.readonly_data())


#: A .rodata larger than this (glibc's is 115-165 KiB) is left to the segment scan.
_RODATA_MAX = 1024 * 1024
#: The most bytes the search of all read-only segments may go through before .rodata for it
#: to run as it is (every ld.so: 0.1-0.3 MiB); past it (the 1-2 MiB of .text sharing
#: .rodata's segment in libc.so.6 on all but x86) .rodata's first banner answers.
BANNER_BEFORE_RODATA = 512 * 1024


def _scanned_before(elf: ELFFile, rodata: int) -> int:
    # How many bytes the search of all read-only segments (readonly_data(): their order and
    # limit) goes through before the chunk holding ``rodata`` reaches it; reads nothing.
    total, limit = 0, MAX_BYTES_PER_FILE // 2
    for offset, size in elf.readonly_ranges():
        size = min(size, limit)
        if size <= 0:
            break
        limit -= size
        if offset <= rodata < offset + size:
            return total + rodata - offset
        total += size
    return total
