"""callstate's pytest plugin (loaded through the ``pytest11`` entry point).

Fixtures for testing your own code against callstate:

- ``callstate_book``: an empty in-memory ``CallBook``;
- ``callstate_store``: a fresh in-memory event store (``MemoryStore``);
- ``callstate_runner``: a ``Runner`` over ``callstate_store``;
- ``fake_provider``: a running ``FakeProvider`` on 127.0.0.1 (no chaos;
  make your own for chaos: ``FakeProvider(chaos=Chaos(seed=1, duplicate=0.3))``);
- ``signed_webhook``: builds a status-callback request signed the way a
  Twilio-style provider signs it (``callstate.testing.sign_webhook``, which
  needs no pytest).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from callstate._core._decider import CallBook
from callstate.stores import MemoryStore, Runner
from callstate.testing._signing import SignedWebhook, sign_webhook
from callstate.testing.fake_provider import FakeProvider

__all__ = [
    "SignedWebhook",
    "callstate_book",
    "callstate_runner",
    "callstate_store",
    "fake_provider",
    "sign_webhook",
    "signed_webhook",
]


@pytest.fixture
def callstate_book() -> CallBook:
    """An empty in-memory book of calls."""
    return CallBook()


@pytest.fixture
def callstate_store() -> Iterator[MemoryStore]:
    """A fresh in-memory event store."""
    store = MemoryStore()
    yield store
    store.close()


@pytest.fixture
def callstate_runner(callstate_store: MemoryStore) -> Runner:
    """A runner over the test's in-memory event store."""
    return Runner(callstate_store)


@pytest.fixture
def fake_provider() -> Iterator[FakeProvider]:
    """A fake Calls API provider, running on 127.0.0.1 for the test."""
    with FakeProvider(pace=0.001) as provider:
        yield provider


@pytest.fixture
def signed_webhook() -> type[SignedWebhook] | object:
    """``signed_webhook(url, params, token, method="POST")`` -> ``SignedWebhook``."""
    return sign_webhook
