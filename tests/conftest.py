"""Session-wide hooks and the fixtures every test module shares.

- With LIBCPROBE_E2E=1, the e2e cache is built before any test module is imported
  (tests/e2e/cache.py), so the tests that need its interpreters run in the same session.
- Every test starts with ``LIBCPROBE_LIBC`` unset and libcprobe's detection cache empty
  (:func:`_fresh_cache`): no answer leaks from one test into the next.

Helpers that are not fixtures (``hang_guard``, ``INSPECT_KEYS``) are in tests/shared.py.
"""

from __future__ import annotations

import pytest

import libcprobe
from e2e.cache import build_if_wanted


def pytest_sessionstart(session: pytest.Session) -> None:
    build_if_wanted(session.config)


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees ``LIBCPROBE_LIBC`` unset and a detection cache cleared."""
    monkeypatch.delenv("LIBCPROBE_LIBC", raising=False)
    libcprobe.clear_cache()
