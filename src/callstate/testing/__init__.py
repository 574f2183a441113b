"""The testing kit: what users need to test their own code against callstate.

``sign_webhook(url, params, token, method="POST")`` builds a status callback
signed as a Twilio-style provider signs it (a ``SignedWebhook``); importing
it needs no pytest.

Public modules: ``callstate.testing.strategies`` (hypothesis strategies),
``callstate.testing.fake_provider`` (a fake Calls API on 127.0.0.1),
``callstate.testing.web_contract`` (the contract every web adapter passes),
``callstate.testing.servers`` (run an app on a real socket for a test) and
``callstate.testing.pytest_plugin`` (the fixtures).
"""

from callstate.testing._signing import SignedWebhook, sign_webhook

__all__ = ["SignedWebhook", "sign_webhook"]
