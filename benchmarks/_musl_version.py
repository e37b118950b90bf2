"""Section 2: the musl version of the host's musl loader read from its bytes against running
the loader and parsing its usage text, as packaging does (interleaved call by call), plus
packaging's own ``_get_musl_version`` on the musl CPython."""

from __future__ import annotations

import os
from typing import Any

from _common import (
    MUSL_LOADER,
    Settings,
    fmt_ms,
    get,
    musl_python,
    print_table,
    probe,
    ratio_target,
    ratio_text,
)

TARGET_MUSL_VERSION_RATIO = 10.0


def bench_musl_version(python: str, env: dict[str, str], settings: Settings) -> dict[str, Any]:
    if not os.path.exists(MUSL_LOADER):
        return {"skipped": f"{MUSL_LOADER} not found (apt-get install musl)"}
    args = ["muslver", MUSL_LOADER, str(settings.iterations), str(settings.budget)]
    musl = musl_python()
    if musl is not None:
        args.append(str(musl))
    return probe(python, env, *args)


def report(results: dict[str, Any]) -> None:
    mv = results["musl_version"]
    if "skipped" in mv or "error" in mv:
        print(f"\n## 2. musl version\n\nskipped: {mv.get('skipped') or mv.get('error')}")
    else:
        res = mv["results"]
        ref = get(res, "libcprobe: open_elf + classify (bytes)", "median_ms")
        print_table(
            f"2. musl version of {mv['loader']}",
            ["how", "median ms", "min ms", "time vs bytes", "result"],
            [
                [
                    name,
                    fmt_ms(r.get("median_ms")),
                    fmt_ms(r.get("min_ms")),
                    ratio_text(r.get("median_ms"), ref),
                    str(r.get("value", r.get("error")))[:40],
                ]
                for name, r in res.items()
            ],
        )


def targets(results: dict[str, Any]) -> list[dict[str, str]]:
    mv = get(results, "musl_version", "results")
    general = get(mv, "libcprobe: open_elf + classify (bytes)", "median_ms")
    short = get(mv, "libcprobe: the short way (running process)", "median_ms")
    # The faster of libcprobe's two readings: the short way is what detect() of a running musl
    # process does; open_elf + classify what detect(path), roots and inspect do.
    from_bytes = min(t for t in (general, short) if t) if general or short else None
    executed = get(mv, "run the loader, parse stderr (subprocess)", "median_ms")
    name = f"musl version from bytes >= {TARGET_MUSL_VERSION_RATIO:g}x faster than running it"
    detail = (
        f"bytes {from_bytes or 0:.3f} ms (short way {short or 0:.3f}, open_elf + classify "
        f"{general or 0:.3f}), running the loader {executed or 0:.3f} ms"
    )
    ratio = executed / from_bytes if from_bytes and executed else None
    skipped = str(get(results, "musl_version", "skipped"))
    return [ratio_target(name, ratio, TARGET_MUSL_VERSION_RATIO, "{:.2f}x", detail, skipped)]
