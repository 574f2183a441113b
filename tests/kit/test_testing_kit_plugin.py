"""The user's example test suite in docs/ runs green through the pytest plugin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "docs" / "example_tests"


def test_the_example_suite_passes_with_the_plugins_fixtures(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLES)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


def test_the_plugin_is_registered_as_an_entry_point():
    from importlib.metadata import entry_points

    names = {ep.value for ep in entry_points(group="pytest11")}
    assert "callstate.testing.pytest_plugin" in names


# A script that cannot import pytest (as in an app's own non-pytest tests, or a
# REPL without it) signs a webhook and checks it with callstate's own verifier.
_WITHOUT_PYTEST = """
import sys


class NoPytest:
    def find_spec(self, name, path=None, target=None):
        if name == "pytest" or name.startswith(("pytest.", "_pytest")):
            raise ImportError(f"{name} is blocked for this test")
        return None


sys.meta_path.insert(0, NoPytest())
for name in [n for n in sys.modules if n == "pytest" or n.startswith(("pytest.", "_pytest"))]:
    del sys.modules[name]

from datetime import UTC, datetime

from callstate import CallBook
from callstate.testing import SignedWebhook, sign_webhook
from callstate.web import TwilioSignature, WebhookHandler

url = "https://app.example/callbacks"
params = [("CallSid", "CA1"), ("CallStatus", "ringing"), ("SequenceNumber", "1")]
handler = WebhookHandler(CallBook(), verifier=TwilioSignature(secrets=["token"]))
at = datetime(2026, 11, 24, tzinfo=UTC)
for method in ("POST", "GET"):
    signed = sign_webhook(url, params, "token", method=method)
    assert isinstance(signed, SignedWebhook)
    answer = handler(signed.method, signed.url, dict(signed.headers), signed.body, at)
    assert answer.status == 204, answer
forged = sign_webhook(url, params, "guess")
assert handler("POST", url, dict(forged.headers), forged.body, at).status == 403
assert "pytest" not in sys.modules and "_pytest" not in sys.modules
print("signed without pytest")
"""


def test_sign_webhook_is_importable_without_pytest():
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_PYTEST],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "signed without pytest"


def test_the_plugin_hands_out_the_same_signer():
    from callstate.testing import SignedWebhook, pytest_plugin, sign_webhook

    assert pytest_plugin.sign_webhook is sign_webhook
    assert pytest_plugin.SignedWebhook is SignedWebhook
