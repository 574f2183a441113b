"""Every Python example in the docs and the README runs, in order, per page."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
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
    # The framework pages read the auth token from the environment, as an app should.
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "a-token-from-the-environment")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for number, block in enumerate(examples(page), start=1):
        code = compile(block, f"{page.name} example {number}", "exec")
        exec(code, namespace)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The docs site, built once with ``mkdocs build --strict``."""
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_the_site_builds_strictly(site):
    assert (site / "reference" / "index.html").exists()
    assert (site / "web" / "flask" / "index.html").exists()


PUBLIC_MODULES = [
    "callstate",
    "callstate.web",
    "callstate.web.flask",
    "callstate.web.django",
    "callstate.web.starlette",
    "callstate.web.aiohttp",
    "callstate.web.wsgi",
    "callstate.web.asgi",
    "callstate.providers",
    "callstate.client",
    "callstate.client.urllib",
    "callstate.client.requests",
    "callstate.client.httpx",
    "callstate.client.aiohttp",
    "callstate.stores",
    "callstate.stores.postgres",
    "callstate.serve",
    "callstate.testing",
    "callstate.testing.strategies",
    "callstate.testing.fake_provider",
    "callstate.testing.store_contract",
    "callstate.testing.web_contract",
    "callstate.testing.provider_contract",
    "callstate.testing.servers",
    "callstate.testing.pytest_plugin",
]


def inventory(site: Path) -> set[str]:
    raw = (site / "objects.inv").read_bytes()
    body = zlib.decompress(raw.split(b"\n", 4)[4]).decode()
    return {line.split()[0] for line in body.splitlines() if line.strip()}


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_public_names_are_exactly_the_documented_ones(site, name):
    module = importlib.import_module(name)
    documented = {
        entry.rsplit(".", 1)[1]
        for entry in inventory(site)
        if entry.startswith(name + ".") and entry.count(".") == name.count(".") + 1
    }
    public = set(module.__all__)
    # Every public name is in the reference...
    assert public - documented == set()
    # ...and the reference shows no public member that __all__ does not name
    # (submodules, and names a module merely imports, are documented elsewhere).
    for extra in documented - public:
        value = getattr(module, extra, None)
        if value is None:  # a submodule not imported by its package
            assert importlib.util.find_spec(f"{name}.{extra}") is not None, extra
            continue
        assert inspect.ismodule(value) or getattr(value, "__module__", name) != name, extra


def test_every_public_module_is_in_the_reference():
    """Each module is documented whole (``::: module``) or name by name, each name once."""
    text = "".join(
        page.read_text(encoding="utf-8") for page in (ROOT / "docs" / "reference").glob("*.md")
    )
    directives = re.findall(r"^::: (\S+)", text, re.M)
    assert len(directives) == len(set(directives))
    for name in PUBLIC_MODULES:
        if name in directives:
            continue
        module = importlib.import_module(name)
        assert {d.removeprefix(name + ".") for d in directives if d.startswith(name + ".")} >= set(
            module.__all__
        ), name
    assert {d for d in directives if d not in PUBLIC_MODULES} <= {
        f"{name}.{member}"
        for name in PUBLIC_MODULES
        for member in importlib.import_module(name).__all__
    }
