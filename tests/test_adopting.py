"""docs/adopting.md: the ``supported_tags`` recipe equals ``packaging.tags.sys_tags()`` exactly,
tag for tag and in order, for the running interpreter (the recipe is taken from the page, so
the page cannot drift from what is tested)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import packaging
import pytest
from packaging import tags

import libcprobe

PAGE = Path(__file__).resolve().parent.parent / "docs" / "adopting.md"


def _recipe() -> Callable[..., list[tags.Tag]]:
    text = PAGE.read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    source = next(b for b in blocks if "def supported_tags(" in b)
    namespace: dict[str, Any] = {}
    exec(compile(source, str(PAGE), "exec"), namespace)
    function: Callable[..., list[tags.Tag]] = namespace["supported_tags"]
    return function


def _linux_first() -> bool:
    """packaging 26.3 put linux_<arch> first; older releases list it last."""
    release = tuple(int(p) for p in packaging.__version__.split(".")[:2] if p.isdigit())
    return release >= (26, 3)


def test_recipe_equals_sys_tags() -> None:
    info = libcprobe.detect()
    if not info.platform_tags():
        pytest.skip("the running interpreter has no binary platform tags")
    ours = _recipe()(info, linux_first=_linux_first())
    theirs = list(tags.sys_tags())
    assert len(ours) == len(theirs)
    assert ours == theirs
    interpreter = f"{tags.interpreter_name()}{tags.interpreter_version()}"
    assert tags.Tag(interpreter, "none", "any") in ours  # the tag an earlier recipe dropped


def test_recipe_for_a_static_interpreter_is_pure_python_in_sys_tags_order() -> None:
    static = Path(__file__).resolve().parent / "fixtures" / "built" / "musl-gcc-static" / "hello"
    ours = _recipe()(libcprobe.detect(static))
    assert {t.platform for t in ours} == {"any"} and len(ours) == len(set(ours))
    # the same "any" tags, in the same order, as sys_tags() gives this interpreter
    assert ours == [t for t in tags.sys_tags() if t.platform == "any"]
