"""The client docs: a page per adapter, each with an example (tests/project/test_docs.py runs
them)."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent.parent / "docs" / "clients"


def test_every_adapter_has_a_page():
    assert {p.stem for p in DOCS.glob("*.md")} >= {"urllib", "requests", "httpx", "aiohttp"}


def test_every_page_has_an_example_that_prints_its_result():
    # tests/project/test_docs.py runs every example; here each page must have one.
    for page in sorted(DOCS.glob("*.md")):
        examples = re.findall(r"```python\n(.*?)```", page.read_text(), re.DOTALL)
        assert examples, page.name
        assert any("print(" in example for example in examples), page.name
