"""The contract every provider passes: its callbacks parse, its refusals name the field,
its event streams converge, its verifier refuses a tampered request.

Bind it to a provider by subclassing ``ProviderContract`` in a test module::

    class TestMyProvider(ProviderContract):
        provider = MY_PROVIDER

        def samples(self):                 # real-shaped callbacks: each must parse
            return [ProviderRequest.form("CallId=c1&Status=ringing"), ...]

        def refusals(self):                # (request, the field it must be refused for)
            return [(ProviderRequest.form("Status=ringing"), "CallId")]

        def stories(self):                 # a strategy: one call's event stream, and its end
            return st.sampled_from([
                Story(requests=(ringing, answered, completed), status="completed", answered=True),
                Story(requests=(ringing, busy), status="busy", answered=False),
            ])                             # (default: what provider.speak says of lives())

        def signed(self):                  # (secrets, a request that verifies); None only
            return None                    # for a provider with no verifier

Every request goes through a real ``WebhookHandler`` with the provider's
dialect, as a receiver would handle it (``prepare``: read, verify, parse).
The convergence law is the one the Twilio family passes
(tests/core/test_core_laws.py): the same events in any order, any of them
repeated (each copy parsed again from its request), give the same call
state, and the one the story says (its final status, whether it was
answered), decided in the provider's vocabulary (``Provider.vocabulary``,
else ``AUTO``). A dialect that reads a failure as another status, or reads
one request two ways, fails it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Final
from urllib.parse import parse_qsl, urlencode

import attrs
import pytest
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
from callstate import web as _web
from callstate.providers import Provider, ProviderEvent
from callstate.web import Unverified, Verifier, WebhookHandler, WebhookResponse

__all__ = [
    "URL",
    "lives",
    "spoken",
    "ProviderContract",
    "ProviderRequest",
    "Story",
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


def _requests(requests: Iterable[ProviderRequest]) -> tuple[ProviderRequest, ...]:
    return tuple(requests)


@attrs.frozen(kw_only=True)
class Story:
    """One call's callbacks as the provider sends them, in order (no copies), and its end:
    the final ``status`` they must give (a ``CallStatus`` value: ``busy``, ``ended``, ...)
    and whether the call was ``answered``."""

    requests: tuple[ProviderRequest, ...] = attrs.field(converter=_requests)
    status: str
    answered: bool


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


#: Values a field of a sample is replaced with, one at a time (forms; JSON documents).
_BAD_TEXT: Final = ("", "x", "-1", "1.5", "9" * 40, "\x00", "%", "\u00e9\U0001f600", " 1 ")
_BAD_JSON: Final[tuple[object, ...]] = (
    None,
    "",
    "x",
    0,
    -1,
    1.5,
    10**30,
    True,
    [],
    {},
    ["x"],
    {"a": 1},
    "\x00",
)


def _parsed_ignored_or_refused(answer: RecordDelivery | WebhookResponse, *what: object) -> None:
    """A delivery to store, a 204 that says ``ignored`` (not a status event), or a 4xx."""
    if isinstance(answer, WebhookResponse):
        ignored = answer.status == 204 and answer.headers == ((_web.RESULT_HEADER, "ignored"),)
        assert ignored or 400 <= answer.status < 500, (*what, _shown(answer))


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

    def stories(self) -> st.SearchStrategy[Story]:
        """One call's event streams, as the provider sends them in order (no copies), each
        with the final status and ``answered`` they must give.

        By default, what the provider's ``speak`` says of ``lives()``: the life's
        outcome, answered when it is ``completed`` (a life's completed call was answered).
        """
        if self.provider.speak is None:
            raise NotImplementedError("write stories(), or give the provider a speak")
        return lives().map(self._spoken_story).filter(lambda story: bool(story.requests))

    def _spoken_story(self, events: list[ProviderEvent]) -> Story:
        end = events[-1].status
        return Story(
            requests=spoken(self.provider, events), status=end, answered=end == "completed"
        )

    def signed(self) -> tuple[Sequence[str], ProviderRequest] | None:
        """The secrets and a request that verifies with them; None only when the provider
        has no verifier (its test is then skipped, saying so)."""
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
        _parsed_ignored_or_refused(answer)

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
        # Keys the provider's own samples use, at every depth, so the dialect gets past
        # its first checks: free documents of those keys, and the samples themselves
        # with values replaced or removed at any of their paths (data.payload.x too).
        keys = sorted({k for r in self.samples() for k in _json_keys(r)} | {"a"})
        named = st.sampled_from(keys) | st.text(max_size=6)
        free = st.recursive(
            scalars,
            lambda inner: st.dictionaries(named, inner, max_size=4) | st.lists(inner, max_size=2),
            max_leaves=10,
        )
        documents = [d for d in map(_json_document, self.samples()) if isinstance(d, dict)]
        mutated: bool = data.draw(st.booleans()) if documents else False
        document: object
        if mutated:
            document = data.draw(st.sampled_from(documents))
            for _ in range(data.draw(st.integers(1, 4))):
                paths = _json_paths(document)
                if not paths:
                    break
                path = data.draw(st.sampled_from(paths))
                document = _replaced(document, path, data.draw(st.none() | values | free))
        else:
            document = data.draw(st.dictionaries(named, free, max_size=6))
        answer = prepared(self.provider, ProviderRequest.json(document))
        _parsed_ignored_or_refused(answer)

    def test_every_field_of_the_samples_with_a_bad_value_is_parsed_or_refused(self) -> None:
        """Each sample with one field's value (at any depth of a JSON one) replaced by each of
        a few bad ones: parsed, ignored or refused, never a failure. Exhaustive where the
        fuzzes below draw: every field the dialect may read is reached."""
        for request in self.samples():
            document = _json_document(request)
            media = {k.lower(): v for k, v in request.headers}.get("content-type", "")
            if isinstance(document, dict) and not media.startswith(_FORM):
                for path in _json_paths(document):
                    for value in _BAD_JSON:
                        bad = _replaced(document, path, value)
                        answer = prepared(self.provider, ProviderRequest.json(bad))
                        _parsed_ignored_or_refused(answer, path)
                continue
            pairs = _form_pairs(request)
            for at, (name, _) in enumerate(pairs):
                for value in _BAD_TEXT:
                    sent = urlencode([*pairs[:at], (name, value), *pairs[at + 1 :]])
                    answer = prepared(
                        self.provider, ProviderRequest.form(sent, method=request.method)
                    )
                    _parsed_ignored_or_refused(answer, (name, value))

    @_PER_PROVIDER
    @given(data=st.data())
    def test_any_form_of_its_fields_is_parsed_or_refused_never_a_failure(
        self, data: st.DataObject
    ) -> None:
        """Forms (and GET query strings) of the names the samples use, any values."""
        forms = [pairs for pairs in map(_form_pairs, self.samples()) if pairs]
        names = sorted({name for pairs in forms for name, _ in pairs} | {"a"})
        mutated: bool = data.draw(st.booleans()) if forms else False
        if mutated:
            # A sample with some of its values replaced: the dialect reads every field.
            pairs = list(data.draw(st.sampled_from(forms)))
            for _ in range(data.draw(st.integers(1, 3))):
                at = data.draw(st.integers(0, len(pairs) - 1))
                pairs[at] = (pairs[at][0], data.draw(st.text(max_size=20)))
        else:
            pairs = data.draw(
                st.lists(
                    st.tuples(st.sampled_from(names) | st.text(max_size=6), st.text(max_size=20)),
                    max_size=8,
                )
            )
        method = data.draw(st.sampled_from(["POST", "GET"]))
        answer = prepared(self.provider, ProviderRequest.form(urlencode(pairs), method=method))
        _parsed_ignored_or_refused(answer)

    @_PER_PROVIDER
    @given(data=st.data())
    def test_streams_converge_under_reordering_and_duplication(self, data: st.DataObject) -> None:
        """Any order, any copies, each copy parsed again from its request: the same state,
        and the one the story says."""
        story = data.draw(self.stories())
        assert isinstance(story, Story), f"stories() must draw Story values, not {story!r}"
        assert story.requests, "a story has at least one callback"
        vocabulary = self.provider.vocabulary_or(Dialect.AUTO)
        reference = replay([delivery_of(self.provider, r) for r in story.requests], vocabulary)
        assert (reference.status.value, reference.answered) == (story.status, story.answered), (
            "in the order sent",
            reference.status,
            reference.answered,
        )
        copies = data.draw(
            st.lists(st.sampled_from(story.requests), max_size=len(story.requests) + 2)
        )
        chaos = data.draw(st.permutations([*story.requests, *copies]))
        state = replay([delivery_of(self.provider, r) for r in chaos], vocabulary)
        assert comparable(state) == comparable(reference)
        assert state.duplicates == len(chaos) - state.deliveries

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
            assert self.provider.verifier is None, (
                f"{self.provider.name} has a verifier: give signed() a request it signed"
            )
            pytest.skip(f"{self.provider.name} has no verifier (Basic auth, or nothing)")
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


def _json_document(request: ProviderRequest) -> object:
    try:
        return json.loads(request.body)
    except ValueError:
        return None


def _json_paths(value: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key's path in a JSON document, at every depth."""
    if not isinstance(value, dict):
        return []
    out = []
    for name, item in value.items():
        out.append((*path, name))
        out += _json_paths(item, (*path, name))
    return out


def _json_keys(request: ProviderRequest) -> set[str]:
    return {path[-1] for path in _json_paths(_json_document(request))}


def _replaced(document: object, path: tuple[str, ...], value: object) -> object:
    """``document`` with the value at ``path`` replaced (None: the key removed)."""
    assert isinstance(document, dict)
    head, *rest = path
    out = dict(document)
    if rest:
        out[head] = _replaced(out[head], tuple(rest), value)
    elif value is None:
        out.pop(head, None)
    else:
        out[head] = value
    return out


def _form_pairs(request: ProviderRequest) -> list[tuple[str, str]]:
    media = {k.lower(): v for k, v in request.headers}.get("content-type", "")
    if request.method == "GET":
        return parse_qsl(request.url.partition("?")[2], keep_blank_values=True)
    if media.startswith(_FORM):
        return parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
    document = _json_document(request)
    return [(k, str(v)) for k, v in document.items()] if isinstance(document, dict) else []
