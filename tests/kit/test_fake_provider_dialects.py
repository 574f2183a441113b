"""The fake provider speaks each provider's dialect (``FakeProvider(provider=...)``), and
``callstate demo --provider NAME`` converges for each."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from callstate import CallBook, CallStatus, providers
from callstate.testing.fake_provider import OUTCOMES, FakeProvider
from callstate.testing.servers import serve_wsgi
from callstate.web import Unverified, WebhookHandler
from callstate.web.wsgi import webhook_app
from tests.kit.test_fake_provider import params_to, urllib_calls

SPEAKING = [name for name in providers.names() if providers.get(name).speak is not None]


def test_every_bundled_provider_outside_the_twilio_family_speaks():
    assert set(SPEAKING) == {"signalwire", "telnyx-texml", "telnyx", "plivo", "vonage", "bandwidth"}


@pytest.mark.parametrize("outcome", OUTCOMES)
@pytest.mark.parametrize("name", SPEAKING)
def test_the_fake_s_callbacks_in_a_provider_s_dialect_tell_the_true_outcome(name, outcome):
    provider = providers.get(name)
    book = CallBook()
    handler = WebhookHandler(book, verifier=Unverified(), dialect=provider.dialect)
    fake = FakeProvider(outcome=outcome, pace=0.002, provider=name)
    with serve_wsgi(webhook_app(handler)) as base, fake:
        (placed,) = urllib_calls(fake).create(params_to(base + "/"))
        assert fake.wait_idle()
        sent = fake.sent()
    assert sent and all(s.answer == 204 for s in sent), [(s.answer, s.error) for s in sent]
    media = {dict(s.headers)["Content-Type"] for s in sent}
    kind, _ = provider.speak(  # type: ignore[misc]
        providers.ProviderEvent(call_sid="x", status="busy", at=placed.date_created)
    )[0]
    assert media == {kind}
    assert book.state(placed.sid).status is CallStatus(outcome)


@pytest.mark.parametrize("name", SPEAKING)
def test_the_demo_converges_for_each_provider(tmp_path, name):
    result = subprocess.run(
        [
            *(sys.executable, "-m", "callstate", "demo", "--calls", "30"),
            *("--provider", name, "--store", str(tmp_path / "demo.sqlite")),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "converged to the truth   30/30" in result.stdout
    # The callbacks were read (not refused and left to the reconciliation to fix):
    # copies were recognised, and few calls needed a GET.
    duplicates = int(re.search(r"duplicates absorbed\s+(\d+)", result.stdout).group(1))
    fetched = int(re.search(r"reconciliations \(GET\)\s+(\d+)", result.stdout).group(1))
    assert duplicates > 0
    assert fetched < 15, result.stdout


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--provider", "nope"], "no provider is named 'nope'"),
        (["--provider", "telnyx", "--serve"], "--serve runs the Twilio family's callbacks only"),
    ],
)
def test_the_demo_refuses(tmp_path, args, said):
    result = subprocess.run(
        [sys.executable, "-m", "callstate", "demo", "--calls", "2", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert said in result.stderr
