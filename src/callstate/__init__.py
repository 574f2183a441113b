"""callstate: a correct, replayable record of every call placed through a Calls API.

The core is pure: parse a status callback into a ``Delivery``, decide what it
means for the call with a ``Decider`` (or many calls with a ``CallBook``), and
read the ``CallState``. Time and ids are always inputs.
"""

from callstate._core._call import CallState
from callstate._core._decider import CallBook, Decider, Outcome
from callstate._core._parse import Limits, normalize_status, parse_callback, parse_form
from callstate._core._resource import (
    normalize_call_status,
    parse_call_resource,
    parse_call_resources,
)
from callstate._core._sink import AsyncSink, CallCommand, Sink
from callstate._core._state import CallStatus
from callstate._core._values import (
    Anomaly,
    CallbackStatus,
    CallRegistered,
    CallResource,
    Command,
    Delivery,
    DeliveryAccepted,
    Dialect,
    DuplicateIgnored,
    Event,
    Reconcile,
    ReconciliationRequested,
    RecordDelivery,
    RegisterCall,
    ResourceObserved,
    StatusChange,
    Tick,
    TimelineEntry,
)
from callstate._diagram import state_diagram
from callstate._errors import (
    CallstateError,
    InvalidCallback,
    InvalidInput,
    InvalidResource,
    StoreError,
    StoreUnavailable,
    UnknownCall,
    UsageError,
    VerificationFailed,
    VersionConflict,
)
from callstate._version import __version__

__all__ = [
    "Anomaly",
    "AsyncSink",
    "CallBook",
    "CallCommand",
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
    "Limits",
    "Outcome",
    "Reconcile",
    "ReconciliationRequested",
    "RecordDelivery",
    "RegisterCall",
    "ResourceObserved",
    "Sink",
    "StatusChange",
    "StoreError",
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
]
