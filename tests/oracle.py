"""The outside oracles: the same facts as libcprobe's ELF reader, read with pyelftools
(:func:`facts`), and the sha256-pinned wheels auditwheel's answers are compared on
(:func:`oracle_wheels`, fetched by ``scripts/fetch-oracle-wheels``).

pyelftools is only imported here, by tests (and benchmarks/wheel_audit.py); the library never
imports it.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Optional

from elftools.elf.dynamic import DynamicSegment
from elftools.elf.elffile import ELFFile
from elftools.elf.segments import InterpSegment, NoteSegment

from shared import REPO, load_script


def oracle_wheels() -> tuple[list[tuple[dict[str, Any], Path]], list[str]]:
    """The oracle wheels (tests/oracle-wheels.json) as (entry, path in the wheel cache), and
    the problems of fetching them (empty: every wheel is there and its sha256 matches)."""
    script = load_script(REPO / "scripts" / "fetch-oracle-wheels")
    cache: Path = script.cache_dir()
    problems: list[str] = script.fetch(cache)
    return [(entry, cache / entry["wheel"]) for entry in script.entries()], problems


def facts(data: bytes) -> dict[str, Any]:
    """Every fact the libcprobe reader extracts, by pyelftools, from the program headers only
    (like libcprobe; section headers are not consulted)."""
    elf = ELFFile(io.BytesIO(data))
    header = elf.header
    out: dict[str, Any] = {
        "elf_class": elf.elfclass,
        "little_endian": elf.little_endian,
        "osabi": data[7],
        "type": _enum_value(elf, "e_type", header["e_type"]),
        "machine": _enum_value(elf, "e_machine", header["e_machine"]),
        "flags": header["e_flags"],
        "entry": header["e_entry"],
    }
    phdrs = []
    interpreter: Optional[str] = None
    dynamic: list[tuple[int, int]] = []
    needed: list[str] = []
    soname: Optional[str] = None
    rpath: tuple[str, ...] = ()
    runpath: tuple[str, ...] = ()
    notes: list[tuple[str, int, bytes]] = []
    for seg in elf.iter_segments():
        h = seg.header
        phdrs.append(
            (
                _enum_value(elf, "p_type", h["p_type"]),
                h["p_flags"],
                h["p_offset"],
                h["p_vaddr"],
                h["p_filesz"],
                h["p_memsz"],
                h["p_align"],
            )
        )
        if isinstance(seg, InterpSegment) and interpreter is None:
            interpreter = seg.get_interp_name()
        elif isinstance(seg, DynamicSegment) and not dynamic:
            for tag in seg.iter_tags():
                if tag.entry.d_tag == "DT_NULL":  # gABI: DT_NULL ends the array
                    break
                dynamic.append((_enum_value(elf, "d_tag", tag.entry.d_tag), tag.entry.d_val))
                kind = tag.entry.d_tag
                untyped: Any = tag  # pyelftools adds these attributes per tag kind
                if kind == "DT_NEEDED":
                    needed.append(untyped.needed)
                elif kind == "DT_SONAME" and soname is None:
                    soname = untyped.soname
                elif kind == "DT_RPATH" and not rpath:
                    rpath = tuple(untyped.rpath.split(":"))
                elif kind == "DT_RUNPATH" and not runpath:
                    runpath = tuple(untyped.runpath.split(":"))
        elif isinstance(seg, NoteSegment):
            for note in seg.iter_notes():
                desc = note["n_descdata"]
                if isinstance(desc, str):  # pyelftools decodes some descriptors to text
                    desc = desc.encode("latin-1")
                notes.append((note["n_name"], _enum_value(elf, "n_type", note["n_type"]), desc))
    out.update(
        program_headers=phdrs,
        interpreter=interpreter,
        dynamic=dynamic,
        needed=needed,
        soname=soname,
        rpath=rpath,
        runpath=runpath,
        notes=notes,
    )
    out["version_needs"], out["version_definitions"] = _versions(elf)
    return out


_PREFIXES = {
    "e_type": ("ENUM_E_TYPE",),
    "e_machine": ("ENUM_E_MACHINE",),
    "p_type": ("ENUM_P_TYPE",),
    "d_tag": ("ENUM_D_TAG",),
    "n_type": ("ENUM_NOTE_N_TYPE", "ENUM_CORE_NOTE_N_TYPE"),
}


def _enum_value(elf: ELFFile, field: str, value: Any) -> int:
    """pyelftools turns known numbers into names; map them back to the numbers."""
    del elf
    if isinstance(value, int):
        return value
    from elftools.elf import enums

    for attr in dir(enums):
        if attr.startswith(_PREFIXES[field]):
            table = getattr(enums, attr)
            if isinstance(table, dict) and value in table:
                return int(table[value])
    raise KeyError(f"{field} {value!r}")


def versions(section: Any) -> Any:
    """The (entry, aux entries) pairs of a GNU version section (pyelftools is untyped here)."""
    return section.iter_versions()


def _versions(elf: ELFFile) -> tuple[list[tuple[str, tuple[str, ...]]], list[str]]:
    needs: list[tuple[str, tuple[str, ...]]] = []
    defs: list[str] = []
    for section in elf.iter_sections():
        kind = section["sh_type"]
        if kind == "SHT_GNU_verneed":
            for verneed, auxes in versions(section):
                needs.append((verneed.name, tuple(aux.name for aux in auxes)))
        elif kind == "SHT_GNU_verdef":
            for _verdef, auxes in versions(section):
                first = next(iter(auxes), None)
                if first is not None:
                    defs.append(first.name)
    return needs, defs
