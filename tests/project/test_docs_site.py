"""The built docs site as a reader sees it: headless Chromium opens it over HTTP.

The landing page and the state-machine page are captured as screenshots
(``build/screenshots/``, for a person to look at), and a probe page asks the
browser itself whether the state machine's drawing rendered as an image on
the page that shows it. The site must fetch nothing from the network when
read: no script, stylesheet, font or image from another host.
"""

from __future__ import annotations

import contextlib
import functools
import html.parser
import http.server
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.project.test_docs import ROOT, site  # noqa: F401 (the built-site fixture)

SCREENSHOTS = ROOT / "build" / "screenshots"


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CALLSTATE_REQUIRE_ALL_TESTS") == "1":
        pytest.fail("CALLSTATE_REQUIRE_ALL_TESTS=1 but no Chromium (.ci/run installs it)")
    pytest.skip("headless Chromium is not installed (apt install chromium)")


@contextlib.contextmanager
def served(folder: Path) -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def browse(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--virtual-time-budget=5000",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(("page", "name"), [("", "landing"), ("state-machine/", "state-machine")])
def test_the_pages_are_captured(site, tmp_path, page, name):  # noqa: F811
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"{name}.png"
    shot.unlink(missing_ok=True)
    with served(site) as base:
        result = browse(
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1280,1600",
            base + page,
        )
    assert shot.exists(), result.stderr[-2000:]
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 20_000  # a page, not a blank frame


PROBE = """<!doctype html><html><body data-result="pending">
<iframe id="page" src="{page}" width="1280" height="1600"></iframe>
<script>
document.getElementById("page").addEventListener("load", () => {{
  const doc = document.getElementById("page").contentDocument;
  const img = doc.querySelector('img[src$="assets/state-machine.svg"]');
  const check = () => {{
    if (!img) {{ document.body.dataset.result = "no image"; return; }}
    if (!img.complete) {{ setTimeout(check, 50); return; }}
    const text = doc.body.innerText;
    document.body.dataset.result = (img.naturalWidth > 0 ? "rendered " : "broken ")
      + img.naturalWidth + "x" + img.naturalHeight
      + (text.includes("stateDiagram") || text.includes("-->") ? " with source text" : "");
  }};
  check();
}});
</script></body></html>
"""


@pytest.mark.parametrize("page", ["state-machine/", "concepts/"])
def test_the_state_machine_renders_as_an_image(site, tmp_path, page):  # noqa: F811
    probe = site / f"probe-{page.strip('/')}.html"
    probe.write_text(PROBE.format(page=page), encoding="utf-8")
    with served(site) as base:
        result = browse(f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", base + probe.name)
    found = re.search(r'data-result="([^"]*)"', result.stdout)
    assert found, result.stderr[-2000:]
    verdict = found.group(1)
    assert re.fullmatch(r"rendered \d+x\d+", verdict), verdict
    width, height = map(int, verdict.split()[1].split("x"))
    assert width > 300 and height > 300


class _Assets(html.parser.HTMLParser):
    """Every address a page makes the browser fetch by itself."""

    def __init__(self) -> None:
        super().__init__()
        self.fetched: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("script", "img", "iframe", "source") and values.get("src"):
            self.fetched.append(str(values["src"]))
        if tag == "link" and values.get("href") and values.get("rel") != "canonical":
            self.fetched.append(str(values["href"]))


def test_the_site_fetches_nothing_from_the_network(site):  # noqa: F811
    outside = []
    for page in site.rglob("*.html"):
        if page.name.startswith("probe-"):
            continue
        parser = _Assets()
        parser.feed(page.read_text(encoding="utf-8"))
        outside += [
            f"{page.relative_to(site)}: {url}"
            for url in parser.fetched
            if re.match(r"(https?:)?//", url)
        ]
    assert outside == []
