"""The provider contract tells a wrong dialect from a right one: bound to deliberately broken
dialects, its checks fail (each is run here by hand and must raise an AssertionError)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping

import attrs
import pytest
from hypothesis.errors import Flaky

from callstate import CallbackStatus, Delivery
from callstate.providers import PlivoDialect, Provider, TelnyxDialect, VonageDialect, get
from callstate.providers._vonage import STATUSES
from callstate.testing.provider_contract import ProviderContract

# The modules, not their classes: a Test* class imported here would be collected twice.
from tests.web.providers import test_json_providers as bound
from tests.web.providers import test_plivo as bound_plivo

S = CallbackStatus
FAILURES = {S.BUSY, S.FAILED, S.NO_ANSWER, S.CANCELED}


def _assertion_in(exc: BaseException) -> bool:
    # Hypothesis' Flaky: the check failed, then passed on replay (a dialect with a memory).
    if isinstance(exc, (AssertionError, Flaky)):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return any(_assertion_in(inner) for inner in exc.exceptions)
    return _assertion_in(exc.__cause__) if exc.__cause__ is not None else False


def fails(check: Callable[[], object]) -> None:
    """``check`` (one of the contract's tests) fails with an assertion, not a crash of its own."""
    with pytest.raises(BaseException) as raised:  # noqa: PT011 (an AssertionError, maybe grouped)
        check()
    assert _assertion_in(raised.value), raised.value


def _with(provider: Provider, dialect: object) -> Provider:
    return attrs.evolve(provider, name=provider.name + "-broken", dialect=dialect)


class FailuresAsRinging(VonageDialect):
    """The reviewer's wrong dialect: every failure (busy, cancelled, ...) read as ringing."""

    __slots__ = ()

    def read(self, document: Mapping[str, object]) -> Delivery:
        delivery = super().read(document)
        if delivery.call_status in FAILURES:
            return super().read({**document, "status": "ringing"})
        return delivery


class BrokenVonage(bound.TestVonage):
    provider = _with(get("vonage"), FailuresAsRinging())


@pytest.mark.parametrize(
    "check",
    [
        "test_streams_converge_under_reordering_and_duplication",
        "test_what_speak_says_reads_back_as_it_happened",
        "test_a_failed_call_never_reads_as_answered",
    ],
)
def test_a_dialect_reading_every_failure_as_ringing_fails_the_contract(check):
    fails(getattr(BrokenVonage(), check))


_COUNTER = itertools.count()


class Wavering(VonageDialect):
    """Reads one request two ways: every other reading of a ringing callback says answered."""

    __slots__ = ()

    def read(self, document: Mapping[str, object]) -> Delivery:
        if document.get("status") == "ringing" and next(_COUNTER) % 2:
            document = {**document, "status": "answered"}
        return super().read(document)


class WaveringVonage(bound.TestVonage):
    provider = _with(get("vonage"), Wavering())


def test_a_dialect_that_reads_one_request_two_ways_fails_convergence():
    """Each copy is parsed again from its request: a dialect with a memory is caught."""
    fails(WaveringVonage().test_streams_converge_under_reordering_and_duplication)


class CauseUnchecked(TelnyxDialect):
    """Trusts data.payload.hangup_cause to be a string (a crash, so a 503, if not)."""

    __slots__ = ()

    def read(self, document: Mapping[str, object]) -> Delivery:
        data = document.get("data")
        payload = data.get("payload") if isinstance(data, dict) else None
        if isinstance(payload, dict) and "hangup_cause" in payload:
            payload["hangup_cause"].lower()  # type: ignore[union-attr]
        return super().read(document)


class CrashingTelnyx(bound.TestTelnyx):
    provider = _with(get("telnyx"), CauseUnchecked())


def test_the_bad_values_reach_nested_keys():
    fails(CrashingTelnyx().test_every_field_of_the_samples_with_a_bad_value_is_parsed_or_refused)


class DurationUnchecked(PlivoDialect):
    """Trusts Duration to be digits (a crash, so a 503, if not)."""

    __slots__ = ()

    def read(self, fields: Mapping[str, str], params):  # type: ignore[no-untyped-def]
        if "Duration" in fields:
            int(fields["Duration"])
        return super().read(fields, params)


class CrashingPlivo(bound_plivo.TestPlivo):
    provider = _with(get("plivo"), DurationUnchecked())


def test_the_bad_values_reach_a_form_dialects_fields():
    """(The fuzzes draw such requests too, but whether a run draws this one is chance: in one
    full-suite run the form fuzz missed it. The sweep over the samples' fields never does.)"""
    fails(CrashingPlivo().test_every_field_of_the_samples_with_a_bad_value_is_parsed_or_refused)


class Unsigned(bound.TestVonage):
    def signed(self):
        return None


def test_a_provider_with_a_verifier_must_give_a_signed_request():
    fails(Unsigned().test_the_verifier_passes_the_signed_request_and_refuses_it_tampered)


def test_the_right_dialects_pass_the_same_checks():
    """The same checks, bound to the bundled dialects, pass (so the failures above are theirs)."""
    assert STATUSES["busy"] is S.BUSY
    for contract, check in (
        (bound.TestVonage(), "test_streams_converge_under_reordering_and_duplication"),
        (bound.TestVonage(), "test_a_failed_call_never_reads_as_answered"),
        (
            bound.TestTelnyx(),
            "test_every_field_of_the_samples_with_a_bad_value_is_parsed_or_refused",
        ),
        (
            bound_plivo.TestPlivo(),
            "test_every_field_of_the_samples_with_a_bad_value_is_parsed_or_refused",
        ),
    ):
        assert isinstance(contract, ProviderContract)
        getattr(contract, check)()
