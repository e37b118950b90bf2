"""Session-wide hooks: with LIBCPROBE_E2E=1, the e2e cache is built before any test module is
imported (tests/e2e/cache.py), so the tests that need its interpreters run in the same session."""

from __future__ import annotations

import pytest

from e2e.cache import build_if_wanted


def pytest_sessionstart(session: pytest.Session) -> None:
    build_if_wanted(session.config)
