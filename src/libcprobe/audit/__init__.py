"""The audit side: what ELF files, directory trees and wheels need, judged like auditwheel.

Internal: the public names (``libcprobe.inspect``, ``libcprobe.FileReport``) and the
``inspect``/``check`` commands are the interface. The modules, each with one job:

- ``_inspect``: ``inspect()`` and :class:`~libcprobe.FileReport`, the per-file report;
- ``_symbols``: symbol versions and the ISA level beyond what the reader parses;
- ``_policy``: wheel policies as data (``_policy_data.json``, auditwheel's policy files);
- ``_audit``: judging binaries against a policy;
- ``_zip``, ``_wheel``: the strict zip reader, and wheels read in place;
- ``_tree``: ``inspect``/``check`` targets (files, directory walks, wheels) in a stable order;
- ``_wheel_summary``: a wheel's declared tags against what its binaries need;
- ``_check``: will these binaries load on the target?

Nothing here is imported by ``detect()``. The ELF reader is reached only through its public
functions (``libcprobe._elf``: ``open_elf``, ``read_elf``, the ``ByteSource`` protocol,
``read_program_headers``, ``open_regular_file``); ``tests/test_layout.py`` checks both.
"""
