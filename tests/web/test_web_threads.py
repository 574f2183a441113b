"""A WebhookHandler over a CallBook, called from many threads at once, loses nothing.

Threaded servers (gunicorn's gthread, Flask's and Django's development
servers) call one handler from several threads; a CallBook is not
thread-safe, so the handler hands it one command at a time.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from callstate import CallBook
from callstate.web import Unverified, WebhookHandler

THREADS = 8
EACH = 150
AT = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


@pytest.fixture
def switch_often() -> Iterator[None]:
    """Make the interpreter switch threads as often as it can, so races show."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def test_concurrent_deliveries_of_one_call_are_all_recorded(switch_often: None) -> None:
    book = CallBook()
    handler = WebhookHandler(book, verifier=Unverified())
    start = threading.Barrier(THREADS)
    answers: list[int] = []

    def deliver(first: int) -> None:
        start.wait()
        for seq in range(first, first + EACH):
            body = urlencode(
                {"CallSid": "CA1", "CallStatus": "ringing", "SequenceNumber": str(seq)}
            ).encode()
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            answer = handler("POST", "http://127.0.0.1/hook", headers, body, AT)
            answers.append(answer.status)

    threads = [threading.Thread(target=deliver, args=(n * EACH,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [204] * (THREADS * EACH)
    assert book.state("CA1").deliveries == THREADS * EACH
