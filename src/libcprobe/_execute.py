"""The one place libcprobe may run a program: a musl loader, to cross-check the version read
from its bytes, and only when the caller passed ``allow_execute=True``.

Run with no arguments, musl's loader prints its usage to stderr, including "Version 1.2.3"
(ldso/dynlink.c); this is what ``packaging`` does on every call.
"""

from __future__ import annotations

import re
import subprocess
from typing import Optional

from ._model import EvidenceLog, LibcVersion

_VERSION_LINE = re.compile(rb"^Version (\S+)$", re.MULTILINE)


def cross_check_musl(
    loader: str, version: Optional[LibcVersion], ev: EvidenceLog
) -> Optional[LibcVersion]:
    """Run ``loader`` and compare its "Version" line with ``version`` (read from its bytes).
    Returns ``version`` unchanged when the bytes answered; the executed answer only when they
    did not."""
    try:
        proc = subprocess.run(
            [loader],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        ev.version("none", "execute", loader, f"could not run it: {exc}")
        return version
    match = _VERSION_LINE.search(proc.stderr[:65536])
    if match is None:
        ev.version("none", "execute", loader, "printed no 'Version' line")
        return version
    text = match.group(1).decode("ascii", "replace")
    try:
        executed = LibcVersion.parse(text)
    except ValueError:
        ev.version("none", "execute", loader, f"printed Version {text!r}")
        return version
    if version is None:
        what = f"the loader printed 'Version {text}' (bytes gave no version)"
        ev.version(executed, "execute", loader, what)
        return executed
    agree = "agrees" if executed == version else "DISAGREES"
    what = f"the loader printed 'Version {text}': {agree} with its bytes"
    ev.version(executed, "execute", loader, what)
    return version
