"""The public surface is exactly what is documented, and all of it is typed."""

from __future__ import annotations

import importlib
from pathlib import Path

import callstate

DOCUMENTED = {
    "CredentialsRequired",
    "ApiConnectionError",
    "ApiError",
    "ApiResponseError",
    "ApiTimeout",
    "ApiTransportError",
    "AuthenticationFailed",
    "BadResponse",
    "CallGone",
    "CallNotFound",
    "InvalidParameter",
    "ModificationRefused",
    "NotAStatusEvent",
    "NothingToModify",
    "RateLimited",
    "RequestRejected",
    "ServerError",
    "Anomaly",
    "AsyncSink",
    "CallCommand",
    "Sink",
    "CallBook",
    "CallRegistered",
    "CallResource",
    "CallState",
    "CallStatus",
    "CallbackStatus",
    "CallstateError",
    "Command",
    "Decider",
    "Delivery",
    "DeliveryAccepted",
    "Dialect",
    "DuplicateIgnored",
    "Event",
    "InvalidCallback",
    "InvalidInput",
    "InvalidResource",
    "InvalidValue",
    "Limits",
    "Outcome",
    "Reconcile",
    "ReconciliationRequested",
    "RecordDelivery",
    "RegisterCall",
    "ResourceObserved",
    "StatusChange",
    "StoreError",
    "StoreTimeout",
    "StoreUnavailable",
    "Tick",
    "TimelineEntry",
    "UnknownCall",
    "UsageError",
    "VerificationFailed",
    "VersionConflict",
    "__version__",
    "normalize_call_status",
    "normalize_status",
    "parse_call_resource",
    "parse_call_resources",
    "parse_callback",
    "parse_form",
    "state_diagram",
}


def test_all_is_exactly_the_documented_names():
    assert set(callstate.__all__) == DOCUMENTED
    for name in callstate.__all__:
        assert hasattr(callstate, name), name


def test_every_error_descends_from_the_root():
    for name in callstate.__all__:
        obj = getattr(callstate, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, callstate.CallstateError), name


def test_errors_subclass_the_builtin_that_fits():
    assert issubclass(callstate.InvalidInput, ValueError)
    assert issubclass(callstate.UnknownCall, KeyError)
    assert issubclass(callstate.UsageError, TypeError)


def test_the_package_is_typed():
    assert (Path(callstate.__file__).parent / "py.typed").exists()


def test_private_modules_declare_all():
    root = Path(callstate.__file__).parent
    for path in sorted(root.rglob("_*.py")):
        if path.name in ("__init__.py", "__main__.py", "_version.py"):
            continue
        module = ".".join(path.relative_to(root.parent).with_suffix("").parts)
        assert hasattr(importlib.import_module(module), "__all__"), module


WEB_DOCUMENTED = {
    "RESULT_HEADER",
    "AllOf",
    "AnomalyHook",
    "AnyOf",
    "AsyncSink",
    "AsyncWebhookHandler",
    "BasicAuth",
    "ChangeHook",
    "Clock",
    "CredentialsRequired",
    "Hooks",
    "PlivoSignature",
    "Secrets",
    "SignalWireSignature",
    "Sink",
    "StateHook",
    "TelnyxSignature",
    "TrustedProxy",
    "TwilioSignature",
    "Unverified",
    "Verifier",
    "VonageSignature",
    "WebhookHandler",
    "WebhookRequest",
    "WebhookResponse",
    "utc_now",
}


def test_callstate_web_all_is_exactly_the_documented_names():
    import callstate.web

    assert set(callstate.web.__all__) == WEB_DOCUMENTED
    for name in callstate.web.__all__:
        assert hasattr(callstate.web, name), name


PROVIDERS_DOCUMENTED = {
    "ENTRY_POINTS",
    "BandwidthDialect",
    "CallbackReader",
    "FormDialect",
    "JsonDialect",
    "NotAStatusEvent",
    "PlivoDialect",
    "Provider",
    "ProviderEvent",
    "SignalWireDialect",
    "Speaker",
    "TelnyxDialect",
    "TelnyxTexmlDialect",
    "TwilioDialect",
    "VonageDialect",
    "duration_of",
    "get",
    "names",
    "ranked_delivery",
    "ranked_sequence",
    "register",
    "sid_of",
    "text_of",
    "timestamp_of",
}


def test_callstate_providers_all_is_exactly_the_documented_names():
    """One public ``Dialect`` only: callstate's (the vocabulary); the parser is a CallbackReader."""
    import callstate.providers

    assert set(callstate.providers.__all__) == PROVIDERS_DOCUMENTED
    for name in callstate.providers.__all__:
        assert hasattr(callstate.providers, name), name
    assert "Dialect" not in callstate.providers.__all__
