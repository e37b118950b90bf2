"""``python -m libcprobe``: the same CLI as the ``libcprobe`` command."""

from ._cli import main

raise SystemExit(main())
