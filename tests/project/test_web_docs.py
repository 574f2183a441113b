"""Every framework has its page (tests/project/test_docs.py runs their examples)."""

from __future__ import annotations

from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent.parent / "docs" / "web"
FRAMEWORKS = {"flask", "django", "starlette", "aiohttp", "wsgi", "asgi"}


def test_every_framework_has_a_page() -> None:
    pages = {page.stem for page in DOCS.glob("*.md")}
    assert pages >= FRAMEWORKS | {"index", "write-your-own"}
    for name in FRAMEWORKS:
        text = (DOCS / f"{name}.md").read_text(encoding="utf-8")
        assert f"callstate.web.{name}" in text, name
