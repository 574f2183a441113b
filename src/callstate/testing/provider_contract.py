"""The contract every provider passes: its callbacks parse, its refusals name the field,
its event streams converge, its verifier refuses a tampered request.

Bind it to a provider by subclassing ``ProviderContract`` in a test module::

    class TestMyProvider(ProviderContract):
        provider = MY_PROVIDER

        def samples(self):                 # real-shaped callbacks: each must parse
            return [ProviderRequest.form("CallId=c1&Status=ringing"), ...]

        def refusals(self):                # (request, the field it must be refused for)
            return [(ProviderRequest.form("Status=ringing"), "CallId")]

        def stories(self):                 # a strategy: one call's event stream
            return st.sampled_from([[ringing, answered, completed], [ringing, busy]])
                                           # (default: what provider.speak says of lives())

        def signed(self):                  # optional: (secrets, a request that verifies)
            return None

Every request goes through a real ``WebhookHandler`` with the provider's
dialect, as a receiver would handle it (``prepare``: read, verify, parse).
The convergence law is the one the Twilio family passes
(tests/core/test_core_laws.py): the same events in any order, any of them
repeated, give the same call state.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Final

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callstate import (
    CallBook,
    CallState,
    CallStatus,
    Decider,
    Delivery,
    Dialect,
    RecordDelivery,
    StatusChange,
)
from callstate import _redact as redact
from callstate.providers import Provider, ProviderEvent
from callstate.web import Unverified, Verifier, WebhookHandler, WebhookResponse

__all__ = [
    "URL",
    "lives",
    "spoken",
    "ProviderContract",
    "ProviderRequest",
    "comparable",
    "delivery_of",
    "prepared",
    "replay",
]

URL: Final = "https://receiver.example/callbacks"
"""Where the contract's requests are sent (what a signature covers, unless a request says)."""
_T0: Final = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
_FORM: Final = "application/x-www-form-urlencoded"
#: Each provider is its own subclass, so its own executor of the same properties.
_PER_PROVIDER: Final = settings(suppress_health_check=[HealthCheck.differing_executors])


@attrs.frozen(kw_only=True)
class ProviderRequest:
    """One callback as the provider sends it: method, full URL, headers, raw body."""

    body: bytes = attrs.field(repr=redact.urls)
    method: str = "POST"
    url: str = attrs.field(default=URL, repr=redact.urls)
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), repr=redact.headers)

    @classmethod
    def form(
        cls, body: str, *headers: tuple[str, str], url: str = URL, method: str = "POST"
    ) -> ProviderRequest:
        """A form POST of the urlencoded ``body`` (or, with ``method="GET"``, its query)."""
        if method == "GET":
            sep = "&" if "?" in url else "?"
            return cls(body=b"", method="GET", url=f"{url}{sep}{body}", headers=headers)
        return cls(
            body=body.encode(), method=method, url=url, headers=(("Content-Type", _FORM), *headers)
        )

    @classmethod
    def json(cls, document: object, *headers: tuple[str, str], url: str = URL) -> ProviderRequest:
        """A JSON POST of ``document`` (a str is sent as it is: its bytes may be signed)."""
        text = document if isinstance(document, str) else json.dumps(document)
        return cls(
            body=text.encode(), url=url, headers=(("Content-Type", "application/json"), *headers)
        )

    def with_body(self, body: bytes) -> ProviderRequest:
        return attrs.evolve(self, body=body)

    def without_header(self, name: str) -> ProviderRequest:
        return attrs.evolve(
            self, headers=tuple(h for h in self.headers if h[0].lower() != name.lower())
        )


_OUTCOMES: Final = ("completed", "busy", "failed", "no-answer", "canceled")


@st.composite
def lives(draw: st.DrawFn, call_sid: str = "call-0001") -> list[ProviderEvent]:
    """What happens to one call, in order: some of initiated and ringing, then its end.

    A completed call was answered first (``in-progress``) and lasted; a
    failed one lasted nothing.
    """
    outcome = draw(st.sampled_from(_OUTCOMES))
    statuses = [s for s in ("initiated", "ringing") if draw(st.booleans())]
    if outcome == "completed":
        statuses.append("in-progress")
    statuses.append(outcome)
    gaps = draw(st.lists(st.integers(0, 30), min_size=len(statuses), max_size=len(statuses)))
    out, at = [], _T0
    for position, (status, gap) in enumerate(zip(statuses, gaps, strict=True)):
        at += timedelta(seconds=gap, milliseconds=position)
        final = status in _OUTCOMES
        duration = (gap + 1 if status == "completed" else 0) if final else None
        out.append(
            ProviderEvent(
                call_sid=call_sid,
                status=status,
                at=at,
                position=position,
                duration=duration,
                account_sid="account-1",
            )
        )
    return out


def spoken(provider: Provider, events: Sequence[ProviderEvent]) -> list[ProviderRequest]:
    """The callbacks ``provider.speak`` sends for ``events``, in order."""
    assert provider.speak is not None, f"{provider.name} has no speak"
    return [
        ProviderRequest(body=body, headers=(("Content-Type", media),))
        for event in events
        for media, body in provider.speak(event)
    ]


def _handler(provider: Provider, verifier: Verifier | None = None) -> WebhookHandler:
    return WebhookHandler(
        CallBook(),
        verifier=Unverified() if verifier is None else verifier,
        dialect=provider.dialect,
    )


def prepared(
    provider: Provider,
    request: ProviderRequest,
    verifier: Verifier | None = None,
    received_at: datetime = _T0,
) -> RecordDelivery | WebhookResponse:
    """What the handler makes of ``request``: the command to store, or its answer."""
    return _handler(provider, verifier).prepare(
        request.method, request.url, request.headers, request.body, received_at
    )


def delivery_of(provider: Provider, request: ProviderRequest) -> Delivery:
    """The delivery ``request`` parses to (an ``AssertionError`` with the answer if none)."""
    command = prepared(provider, request)
    assert isinstance(command, RecordDelivery), (request, _shown(command))
    return command.delivery


def _shown(answer: object) -> object:
    if isinstance(answer, WebhookResponse):
        return (answer.status, answer.body)
    return answer


def replay(deliveries: Sequence[Delivery], vocabulary: Dialect | str = Dialect.AUTO) -> CallState:
    """The state of the (one) call these deliveries are about, folded in this order.

    ``vocabulary``: the ``callstate.Dialect`` they are decided in.
    """
    return _replayed(deliveries, vocabulary)[0]


def _replayed(
    deliveries: Sequence[Delivery], vocabulary: Dialect | str = Dialect.AUTO
) -> tuple[CallState, list[StatusChange]]:
    """The call's state, and every change reported on the way, folded in this order."""
    book = CallBook(Decider(dialect=vocabulary))
    changes: list[StatusChange] = []
    for i, item in enumerate(deliveries):
        command = RecordDelivery(delivery=item, received_at=_T0 + timedelta(seconds=i))
        changes += book.handle(command).changes
    return book.state(deliveries[0].call_sid), changes


def comparable(state: CallState) -> tuple[object, ...]:
    """Everything but the receive times and the duplicate count, which depend on arrival."""
    return (
        state.status,
        state.answered,
        state.deliveries,
        state.anomalies,
        tuple((e.status, e.at) for e in state.timeline),
        state.call_duration,
    )


class ProviderContract:
    """Subclass, set ``provider`` and write ``samples``, ``refusals``, ``stories``."""

    provider: ClassVar[Provider]

    def samples(self) -> Sequence[ProviderRequest]:
        """Real-shaped callbacks of the provider's: each must parse."""
        raise NotImplementedError

    def refusals(self) -> Sequence[tuple[ProviderRequest, str]]:
        """Callbacks to refuse (400), each with the field its refusal must name."""
        raise NotImplementedError

    def stories(self) -> st.SearchStrategy[list[ProviderRequest]]:
        """One call's event streams, as the provider sends them in order (no copies).

        By default, what the provider's ``speak`` says of ``lives()``.
        """
        if self.provider.speak is None:
            raise NotImplementedError("write stories(), or give the provider a speak")
        return lives().map(lambda events: spoken(self.provider, events)).filter(bool)

    def signed(self) -> tuple[Sequence[str], ProviderRequest] | None:
        """The secrets and a request that verifies with them; None if there is no verifier."""
        return None

    # The contract.

    def test_samples_parse(self) -> None:
        samples = self.samples()
        assert samples, "give at least one sample"
        for request in samples:
            delivery = delivery_of(self.provider, request)
            assert delivery.call_sid
            # Nothing the provider sent is lost.
            assert len(delivery.params) >= 1

    def test_a_sample_sent_twice_is_a_duplicate(self) -> None:
        for request in self.samples():
            delivery = delivery_of(self.provider, request)
            again = delivery_of(self.provider, request)
            book = CallBook()
            assert book.record(delivery) is not None
            assert book.record(again) is None

    def test_refusals_name_the_field(self) -> None:
        for request, field in self.refusals():
            answer = prepared(self.provider, request)
            assert isinstance(answer, WebhookResponse), (request, answer)
            assert answer.status == 400, (request, _shown(answer))
            assert answer.body.decode().startswith(f"{field}: "), (field, _shown(answer))

    @_PER_PROVIDER
    @given(body=st.binary(max_size=300), media=st.sampled_from([_FORM, "application/json"]))
    def test_any_body_is_parsed_or_refused_never_a_failure(self, body: bytes, media: str) -> None:
        answer = prepared(
            self.provider, ProviderRequest(body=body, headers=(("Content-Type", media),))
        )
        if isinstance(answer, WebhookResponse):
            assert 400 <= answer.status < 500, _shown(answer)

    @_PER_PROVIDER
    @given(data=st.data())
    def test_any_json_object_is_parsed_or_refused_never_a_failure(
        self, data: st.DataObject
    ) -> None:
        scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=12)
        values = st.recursive(
            scalars,
            lambda inner: (
                st.dictionaries(st.text(max_size=8), inner, max_size=3)
                | st.lists(inner, max_size=3)
            ),
            max_leaves=8,
        )
        # Keys the provider's own samples use, so the dialect gets past its first checks.
        keys = sorted({k for r in self.samples() for k in _json_keys(r)} | {"a"})
        document = data.draw(
            st.dictionaries(st.sampled_from(keys) | st.text(max_size=6), values, max_size=6)
        )
        answer = prepared(self.provider, ProviderRequest.json(document))
        if isinstance(answer, WebhookResponse):
            assert 400 <= answer.status < 500, _shown(answer)

    @_PER_PROVIDER
    @given(data=st.data())
    def test_streams_converge_under_reordering_and_duplication(self, data: st.DataObject) -> None:
        story = data.draw(self.stories())
        assert story, "a story has at least one callback"
        deliveries = [delivery_of(self.provider, request) for request in story]
        vocabulary = self.provider.vocabulary_or(Dialect.AUTO)
        reference = replay(deliveries, vocabulary)
        copies = data.draw(st.lists(st.sampled_from(deliveries), max_size=len(deliveries) + 2))
        chaos = data.draw(st.permutations([*deliveries, *copies]))
        state = replay(chaos, vocabulary)
        assert comparable(state) == comparable(reference)
        assert state.duplicates == len(chaos) - state.deliveries

    @_PER_PROVIDER
    @given(data=st.data())
    def test_final_statuses_are_absorbing(self, data: st.DataObject) -> None:
        story = data.draw(self.stories())
        deliveries = data.draw(st.permutations([delivery_of(self.provider, r) for r in story]))
        book = CallBook()
        final = None
        for item in deliveries:
            book.record(item)
            status = book.state(item.call_sid).status
            if final is not None:
                assert status.is_final, (final, status)
            if status.is_final:
                final = status

    @_PER_PROVIDER
    @given(data=st.data())
    def test_what_speak_says_reads_back_as_it_happened(self, data: st.DataObject) -> None:
        """The fake's callbacks (``speak``), in any order and any copies, tell the truth."""
        if self.provider.speak is None:
            return
        events = data.draw(lives())
        told = [delivery_of(self.provider, r) for r in spoken(self.provider, events)]
        assert told, "speak says nothing of a call's end"
        assert {d.call_sid for d in told} == {events[0].call_sid}
        copies = data.draw(st.lists(st.sampled_from(told), max_size=3))
        vocabulary = self.provider.vocabulary_or(Dialect.AUTO)
        state = replay(data.draw(st.permutations([*told, *copies])), vocabulary)
        assert state.status.value == events[-1].status

    @_PER_PROVIDER
    @given(data=st.data())
    def test_a_failed_call_never_reads_as_answered(self, data: st.DataObject) -> None:
        """A call that failed (busy, no-answer, ...) is not answered, in any order and any
        copies of what ``speak`` says of it, under every vocabulary the provider allows
        (its pinned ``vocabulary``, else each ``callstate.Dialect``): no change reported
        on the way passes through ``in-progress``."""
        if self.provider.speak is None:
            return
        events = data.draw(lives().filter(lambda life: life[-1].status != "completed"))
        told = [delivery_of(self.provider, r) for r in spoken(self.provider, events)]
        copies = data.draw(st.lists(st.sampled_from(told), max_size=3))
        chaos = data.draw(st.permutations([*told, *copies]))
        allowed = list(Dialect) if self.provider.vocabulary is None else [self.provider.vocabulary]
        for vocabulary in allowed:
            state, changes = _replayed(chaos, vocabulary)
            assert state.status.value == events[-1].status, (vocabulary, state.status)
            assert not state.answered, vocabulary
            passed = [c.status for c in changes]
            assert CallStatus.IN_PROGRESS not in passed, (vocabulary, passed)

    def test_the_verifier_passes_the_signed_request_and_refuses_it_tampered(self) -> None:
        signed = self.signed()
        if signed is None:
            return
        secrets, request = signed
        verifier = self.provider.verifier_for(secrets)
        command = prepared(self.provider, request, verifier)
        assert isinstance(command, RecordDelivery), _shown(command)
        tamperings = self.tamperings(request)
        assert tamperings, "give at least one tampered request"
        for bad in tamperings:
            answer = prepared(self.provider, bad, verifier)
            assert isinstance(answer, WebhookResponse), bad
            assert answer.status in (401, 403), (bad, _shown(answer))

    def tamperings(self, request: ProviderRequest) -> Sequence[ProviderRequest]:
        """``request`` changed as an attacker would: each must fail the verifier.

        By default: a space added to the body (a form's last value, or a JSON
        body's bytes, changes) and each header but ``Content-Type`` dropped.
        A verifier that does not cover the body (Basic auth) overrides this.
        """
        out = [request.with_body(request.body + b" ")]
        out += [
            request.without_header(name)
            for name, _ in request.headers
            if name.lower() != "content-type"
        ]
        return out


def _json_keys(request: ProviderRequest) -> set[str]:
    try:
        document = json.loads(request.body)
    except ValueError:
        return set()
    return set(document) if isinstance(document, dict) else set()
