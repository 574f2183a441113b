"""Every Python example in the docs and the README runs, in order, per page."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def examples(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text(encoding="utf-8"))


def test_the_docs_have_examples():
    assert sum(len(examples(page)) for page in PAGES) >= 2


@pytest.mark.parametrize(
    "page", [p for p in PAGES if examples(p)], ids=lambda p: str(p.relative_to(ROOT))
)
def test_page_examples_run(page, tmp_path, monkeypatch):
    if "PostgresStore" in page.read_text(encoding="utf-8"):
        dsn = os.environ.get("CALLSTATE_TEST_POSTGRES_DSN")
        if not dsn:
            if os.environ.get("CALLSTATE_REQUIRE_ALL_TESTS"):
                pytest.fail("CALLSTATE_TEST_POSTGRES_DSN is unset, and every test must run")
            pytest.skip("this page's examples need PostgreSQL: set CALLSTATE_TEST_POSTGRES_DSN")
        monkeypatch.setenv("DATABASE_URL", dsn)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for number, block in enumerate(examples(page), start=1):
        code = compile(block, f"{page.name} example {number}", "exec")
        exec(code, namespace)


def test_the_site_builds_strictly(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "reference" / "index.html").exists()
