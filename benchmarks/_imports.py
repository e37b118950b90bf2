"""Import cost: ``-X importtime`` of ``import libcprobe`` (and of the detect path), what
``import libcprobe``, ``detect()`` and ``.platform_tags()`` add to ``sys.modules``, and the
first calls in a fresh process next to ``packaging.tags`` and pyelftools."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any, Optional

from _common import Settings, fmt_ms, median, print_table, target

FORBIDDEN_AFTER_DETECT = (
    "libcprobe._cli",
    "libcprobe.audit._inspect",
    "argparse",
    "json",
    "subprocess",
    "ctypes",
    "zipfile",
    "enum",
    "re",
    "typing",
    "collections",
    "contextlib",
    "threading",
    "fnmatch",
)
TARGET_IMPORT_MS = 3.0

_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)\s*$")

MODULES_CODE = """
import sys
base = set(sys.modules)
import libcprobe
after_import = set(sys.modules)
libcprobe.detect()
after_detect = set(sys.modules)
libcprobe.detect().platform_tags()
after_tags = set(sys.modules)
import json
print(json.dumps({
    "import": sorted(after_import - base),
    "detect": sorted(after_detect - base),
    "platform_tags": sorted(after_tags - base),
}))
"""

FRESH_CODE = {
    "libcprobe": (
        "import time; t0 = time.perf_counter(); import libcprobe; t1 = time.perf_counter(); "
        "libcprobe.detect(); t2 = time.perf_counter(); libcprobe.detect().platform_tags(); "
        "t3 = time.perf_counter(); print(t1 - t0, t2 - t1, t3 - t2)"
    ),
    "packaging": (
        "import time; t0 = time.perf_counter(); import packaging.tags; "
        "t1 = time.perf_counter(); list(packaging.tags.platform_tags()); "
        "t2 = time.perf_counter(); print(t1 - t0, t2 - t1, 0)"
    ),
    "pyelftools": (
        "import time; t0 = time.perf_counter(); import elftools.elf.elffile; "
        "t1 = time.perf_counter(); print(t1 - t0, 0, 0)"
    ),
}


def parse_importtime(text: str) -> list[tuple[int, int, int, str]]:
    """(self us, cumulative us, depth, module) for each ``-X importtime`` line."""
    rows = []
    for line in text.splitlines():
        match = _IMPORTTIME.match(line)
        if match is not None:
            depth = (len(match.group(3)) - 1) // 2
            rows.append((int(match.group(1)), int(match.group(2)), depth, match.group(4)))
    return rows


def importtime(python: str, env: dict[str, str], code: str) -> list[tuple[int, int, int, str]]:
    proc = subprocess.run(
        [python, "-X", "importtime", "-c", code],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    return parse_importtime(proc.stderr)


def bench_imports(python: str, env: dict[str, str], settings: Settings) -> dict[str, Any]:
    bare_modules = {row[3] for row in importtime(python, env, "pass")}
    cumulative: list[float] = []
    own_self: list[float] = []
    with_detect: list[float] = []
    children: dict[str, list[float]] = {}
    with_tags: dict[str, list[float]] = {}
    for _ in range(settings.importtime_runs + 1):
        rows = importtime(python, env, "import libcprobe")
        top = [r for r in rows if r[3] == "libcprobe" and r[2] == 0]
        if not top:
            continue
        cumulative.append(top[-1][1] / 1e3)
        own_self.append(sum(r[0] for r in rows if r[3].split(".")[0] == "libcprobe") / 1e3)
        # The direct children of the libcprobe row: the depth-1 rows printed before it.
        index = rows.index(top[-1])
        for r in reversed(rows[:index]):
            if r[2] == 0:
                break
            if r[2] == 1:
                children.setdefault(r[3], []).append(r[1] / 1e3)
        rows = importtime(python, env, "import libcprobe; libcprobe.detect()")
        with_detect.append(sum(r[1] for r in rows if r[2] == 0 and r[3] not in bare_modules) / 1e3)
        rows = importtime(python, env, "import libcprobe; libcprobe.detect().platform_tags()")
        for r in rows:
            if r[2] == 0 and r[3] not in bare_modules:
                with_tags.setdefault(r[3], []).append(r[1] / 1e3)
    # Drop the first (warm-up) sample of each series.
    cumulative, own_self, with_detect = cumulative[1:], own_self[1:], with_detect[1:]
    proc = subprocess.run(
        [python, "-c", MODULES_CODE],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    modules: dict[str, list[str]] = json.loads(proc.stdout)
    forbidden = [m for m in FORBIDDEN_AFTER_DETECT if m in modules["detect"]]

    fresh: dict[str, dict[str, Optional[float]]] = {}
    for name, code in FRESH_CODE.items():
        samples: list[list[float]] = []
        for _ in range(settings.fresh_runs):
            timed = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True)
            if timed.returncode == 0:
                samples.append([float(x) * 1e3 for x in timed.stdout.split()])
        fresh[name] = {
            "import_ms": median([s[0] for s in samples]),
            "first_call_ms": median([s[1] for s in samples]),
            "first_tags_ms": median([s[2] for s in samples]) if name == "libcprobe" else None,
            "runs": len(samples),
        }
    return {
        "importtime_libcprobe_cumulative_ms": median(cumulative),
        "importtime_libcprobe_own_self_ms": median(own_self),
        "importtime_import_and_detect_ms": median(with_detect),
        "importtime_children_ms": {k: median(v[1:] or v) for k, v in children.items()},
        # Top-level imports of `import libcprobe; libcprobe.detect().platform_tags()`, in the
        # order they happen: libcprobe's modules that load lazily, and what they pull in.
        "importtime_detect_tags_top_ms": {k: median(v[1:] or v) for k, v in with_tags.items()},
        "importtime_runs": len(cumulative),
        "modules_after_import": modules["import"],
        "modules_after_detect": modules["detect"],
        "modules_after_platform_tags": modules["platform_tags"],
        "forbidden_after_detect": forbidden,
        "fresh_process": fresh,
    }


def report(results: dict[str, Any]) -> None:
    imports = results["imports"]
    print_table(
        "import cost",
        ["measure", "ms"],
        [
            [
                "-X importtime: cumulative of 'libcprobe' (target)",
                fmt_ms(imports["importtime_libcprobe_cumulative_ms"]),
            ],
            [
                "-X importtime: self time of libcprobe's own modules",
                fmt_ms(imports["importtime_libcprobe_own_self_ms"]),
            ],
            [
                "-X importtime: everything 'import libcprobe; detect()' imports",
                fmt_ms(imports["importtime_import_and_detect_ms"]),
            ],
            *[
                [f"  of which {name} (cumulative)", fmt_ms(value)]
                for name, value in imports["importtime_children_ms"].items()
            ],
            [
                "-X importtime: 'import libcprobe; detect().platform_tags()' (*)",
                fmt_ms(sum(imports["importtime_detect_tags_top_ms"].values())),
            ],
            *[
                [f"  of which {name} (cumulative)", fmt_ms(value)]
                for name, value in imports["importtime_detect_tags_top_ms"].items()
            ],
        ],
    )
    print(
        "\n(*) without libcprobe._detect's own time: libcprobe.__getattr__ loads it with"
        " importlib.import_module, which -X importtime does not report; see the wall-clock"
        " first call below"
    )
    fresh = imports["fresh_process"]
    print_table(
        "a fresh process: import, then the first call (wall clock, median)",
        ["library", "import ms", "first call ms", "first platform_tags() ms"],
        [
            [
                name,
                fmt_ms(v["import_ms"]),
                fmt_ms(v["first_call_ms"]),
                fmt_ms(v["first_tags_ms"]),
            ]
            for name, v in fresh.items()
        ],
    )
    print(f"\nmodules 'import libcprobe' adds to bare python: {imports['modules_after_import']}")
    extra = sorted(set(imports["modules_after_detect"]) - set(imports["modules_after_import"]))
    print(f"more modules after detect(): {extra}")
    extra = sorted(
        set(imports["modules_after_platform_tags"]) - set(imports["modules_after_detect"])
    )
    print(f"more modules after .platform_tags(): {extra}")
    print(f"forbidden modules loaded by detect(): {imports['forbidden_after_detect'] or 'none'}")


def targets(results: dict[str, Any]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    imports = results.get("imports", {})
    value = imports.get("importtime_libcprobe_cumulative_ms")
    if value is None:
        out.append(target("import libcprobe <= 3 ms", "SKIP", "-", "no -X importtime data"))
    else:
        own = imports.get("importtime_libcprobe_own_self_ms")
        out.append(
            target(
                f"import libcprobe <= {TARGET_IMPORT_MS:g} ms",
                "PASS" if value <= TARGET_IMPORT_MS else "FAIL",
                f"{value:.2f} ms",
                f"-X importtime cumulative of 'libcprobe'; its own modules' self time {own:.2f} ms",
            )
        )
    forbidden = imports.get("forbidden_after_detect")
    if forbidden is not None:
        out.append(
            target(
                f"detect() imports none of {', '.join(FORBIDDEN_AFTER_DETECT)}",
                "FAIL" if forbidden else "PASS",
                ", ".join(forbidden) or "none of them",
            )
        )
    return out
