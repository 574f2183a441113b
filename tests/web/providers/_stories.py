"""The bundled providers' fixtures as requests, and their calls' event streams as strategies."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import attrs
from hypothesis import strategies as st

from callstate.testing.provider_contract import ProviderRequest, Story

FIXTURES = Path(__file__).resolve().parent / "fixtures"
T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
OUTCOMES = ("completed", "busy", "no-answer", "failed", "canceled")


def fixture(name: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads((FIXTURES / f"{name}.json").read_text())
    return entries


def request_of(entry: dict[str, Any]) -> ProviderRequest:
    """A fixture entry as the request the provider sends (its headers as recorded)."""
    body = entry["body"]
    text = body if isinstance(body, str) else json.dumps(body)
    headers = tuple(
        (name, value)
        for name, value in entry.get("headers", {}).items()
        if value != "<unsigned sample>"
    )
    url = entry.get("url", "https://receiver.example/callbacks")
    return ProviderRequest(
        body=text.encode(),
        method=entry.get("method", "POST"),
        url=url,
        headers=(("Content-Type", entry["content_type"]), *headers),
    )


def fixture_requests(name: str) -> list[ProviderRequest]:
    return [request_of(entry) for entry in fixture(name)]


#: One event of a call's life: (status in callstate's words, seconds after T0, its position).
Event = tuple[str, int, int]


@st.composite
def lifecycles(draw: st.DrawFn, *, outcomes: tuple[str, ...] = OUTCOMES) -> list[Event]:
    """A call's events in the order they happened: some of initiated, ringing, answered; an end."""
    outcome = draw(st.sampled_from(outcomes))
    live = [s for s in ("initiated", "ringing") if draw(st.booleans())]
    if outcome == "completed" and draw(st.booleans()):
        live.append("in-progress")
    events = [*live, outcome]
    times = sorted(draw(st.lists(st.integers(0, 120), min_size=len(events), max_size=len(events))))
    return [(status, t, i) for i, (status, t) in enumerate(zip(events, times, strict=True))]


def expected(events: list[Event], completed_alone: str) -> tuple[str, bool]:
    """The final status and ``answered`` a call's events give: its outcome; a ``completed``
    with no ``in-progress`` before it reads as ``completed_alone`` (``completed`` where the
    provider's completed carries a duration the vocabulary reads as an answer, else
    ``ended``)."""
    end = events[-1][0]
    if end == "completed" and not any(status == "in-progress" for status, _, _ in events):
        end = completed_alone
    return end, end == "completed"


def stories(
    render: Callable[[str, Event], ProviderRequest],
    sids: st.SearchStrategy[str],
    *,
    completed_alone: str = "completed",
):
    """Streams of one call (a sid drawn from ``sids``) rendered event by event, as Stories."""

    @st.composite
    def story(draw: st.DrawFn) -> Story:
        sid = draw(sids)
        events = draw(lifecycles())
        status, answered = expected(events, completed_alone)
        return Story(
            requests=[render(sid, event) for event in events], status=status, answered=answered
        )

    return story()


def rfc2822(seconds: int) -> str:
    return format_datetime(T0 + timedelta(seconds=seconds), usegmt=False)


def iso(seconds: int, micro: bool = False) -> str:
    at = T0 + timedelta(seconds=seconds, microseconds=123456 if micro else 0)
    text = at.strftime("%Y-%m-%dT%H:%M:%S.%f" if micro else "%Y-%m-%dT%H:%M:%S.000")
    return text + "Z"


def form(**fields: object) -> str:
    return urlencode({k: str(v) for k, v in fields.items() if v is not None})


# Signing as the providers sign (test-only: cryptography and PyJWT are in the test extra).

#: RFC 8032 section 7.1 TEST 1: the Ed25519 key the research's Telnyx vectors are signed with.
ED25519_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
ED25519_PUBLIC = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
#: The contract's requests are received at this instant (``provider_contract.prepared``).
RECEIVED = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def telnyx_signed(request: ProviderRequest, at: datetime = RECEIVED) -> ProviderRequest:
    """``request`` signed as Telnyx signs: Ed25519 over ``{telnyx-timestamp}|{raw body}``."""
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    stamp = str(int(at.timestamp()))
    key = Ed25519PrivateKey.from_private_bytes(ED25519_SECRET)
    signature = base64.b64encode(key.sign(f"{stamp}|".encode() + request.body)).decode()
    kept = tuple(h for h in request.headers if not h[0].lower().startswith("telnyx-"))
    headers = (*kept, ("telnyx-timestamp", stamp), ("telnyx-signature-ed25519", signature))
    return ProviderRequest(
        body=request.body, method=request.method, url=request.url, headers=headers
    )


def vonage_signed(
    request: ProviderRequest, secret: str, at: datetime = RECEIVED
) -> ProviderRequest:
    """``request`` signed as Vonage signs: an HS256 JWT with ``payload_hash`` of the body."""
    import hashlib

    import jwt

    claims = {
        "iat": int(at.timestamp()),
        "jti": "b6f8b7b0-0c6a-4e0b-9d0e-000000000001",
        "iss": "Vonage",
        "payload_hash": hashlib.sha256(request.body).hexdigest(),
        "api_key": "abcd1234",
    }
    token = jwt.encode(claims, secret, algorithm="HS256")
    kept = tuple(h for h in request.headers if h[0].lower() != "authorization")
    return attrs.evolve(request, headers=(*kept, ("Authorization", f"Bearer {token}")))
