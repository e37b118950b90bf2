"""tests/e2e/cache.py without building anything: a stand-in recipe shows that the build's
progress lines reach the terminal as they come and stay in ``$E2E_DIR/logs/build.log``, that a
failure is reported with the log's tail, and when a session builds at all."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from . import cache

FAKE_RECIPE = """#!/bin/sh
echo "e2e/build [0:00] fetch: running" >&2
echo "summary on stdout"
echo "e2e/build [0:01] fetch: done in 1 s" >&2
exit ${FAKE_EXIT:-0}
"""


def _fake_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, complete: bool) -> Path:
    recipe = tmp_path / "recipe"
    recipe.mkdir()
    script = recipe / "build"
    text = FAKE_RECIPE
    if complete:  # make what the tests need, as the real recipe does
        text = text.replace(
            "exit", 'for p in $NEEDED; do mkdir -p "$(dirname "$p")"; touch "$p"; done\nexit'
        )
    script.write_text(text)
    script.chmod(0o755)
    monkeypatch.setattr(cache, "RECIPE", recipe)
    directory = tmp_path / "cache"
    monkeypatch.setenv("NEEDED", " ".join(map(str, cache.missing(directory))))
    return directory


def test_progress_goes_to_the_terminal_and_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = _fake_recipe(tmp_path, monkeypatch, complete=True)
    terminal = io.StringIO()
    assert cache.build(directory, terminal) is None
    shown = terminal.getvalue()
    assert "e2e/build [0:00] fetch: running\n" in shown
    assert "e2e/build [0:01] fetch: done in 1 s\n" in shown
    assert "summary on stdout" not in shown  # stdout goes to the log only
    log = (directory / "logs" / "build.log").read_text()
    assert "summary on stdout" in log and "fetch: done in 1 s" in log
    assert str(directory / "logs" / "build.log") in shown  # the user is told where it is
    assert cache.missing(directory) == []


def test_a_failed_build_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = _fake_recipe(tmp_path, monkeypatch, complete=False)
    monkeypatch.setenv("FAKE_EXIT", "3")
    failure = cache.build(directory, io.StringIO())
    assert failure is not None and "failed (exit 3)" in failure and "build.log" in failure
    monkeypatch.setenv("FAKE_EXIT", "0")
    failure = cache.build(directory, io.StringIO())
    assert failure is not None and "left out" in failure


def test_only_an_opted_in_session_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pytestconfig: pytest.Config
) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(cache, "build", lambda d, t: calls.append(d))
    monkeypatch.setattr(cache, "unsupported", lambda: None)
    monkeypatch.setenv("E2E_DIR", str(tmp_path / "empty"))
    monkeypatch.delenv(cache.ENABLE, raising=False)
    cache.build_if_wanted(pytestconfig)
    assert calls == []
    monkeypatch.setenv(cache.ENABLE, "1")
    cache.build_if_wanted(pytestconfig)
    assert calls == [tmp_path / "empty"]
    assert os.environ["E2E_DIR"] == str(tmp_path / "empty")
