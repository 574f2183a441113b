"""Every Python example in docs/clients runs, as written, against the fake provider."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs" / "clients"
EXAMPLES = [
    pytest.param(block, id=f"{page.stem}-{n}")
    for page in sorted(DOCS.glob("*.md"))
    for n, block in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(), re.DOTALL))
]


def test_every_adapter_has_a_page():
    assert {p.stem for p in DOCS.glob("*.md")} >= {"urllib", "requests", "httpx", "aiohttp"}


@pytest.mark.parametrize("code", EXAMPLES)
def test_the_example_runs(code, capsys):
    exec(compile(code, "<docs>", "exec"), {"__name__": "docs_example"})
    assert capsys.readouterr().out
