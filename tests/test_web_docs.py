"""Every Python example in docs/web runs (blocks marked ``python notest`` excepted)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs" / "web"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
EXAMPLES = [
    pytest.param(block, id=f"{page.name}-{i}")
    for page in sorted(DOCS.glob("*.md"))
    for i, block in enumerate(BLOCK.findall(page.read_text()))
]
FRAMEWORKS = {"flask", "django", "starlette", "aiohttp", "wsgi", "asgi"}


def test_every_framework_has_a_page() -> None:
    pages = {page.stem for page in DOCS.glob("*.md")}
    assert pages >= FRAMEWORKS | {"write-your-own"}


@pytest.mark.parametrize("source", EXAMPLES)
def test_example_runs(source: str) -> None:
    exec(compile(source, "<docs>", "exec"), {"__name__": "docs_example"})
