"""The Calls API client: sans-I/O operations, and transports that carry them.

``CallsApi`` builds plain ``Request`` values and reads plain ``Response``
values; it never touches a socket. ``Calls`` (sync) and ``AsyncCalls`` run
its operations through a transport, one small class per HTTP library, each
in its own module behind an optional extra::

    callstate.client.urllib    UrllibTransport            (standard library, the default)
    callstate.client.requests  RequestsTransport          (extra: requests)
    callstate.client.httpx     HttpxTransport, HttpxAsyncTransport  (extra: httpx)
    callstate.client.aiohttp   AiohttpTransport           (extra: aiohttp)

``record_placed_call`` feeds the create POST's answer into the same record
as the status callbacks, in whichever order they come.
"""

from callstate._errors import (
    ApiConnectionError,
    ApiError,
    ApiResponseError,
    ApiTimeout,
    ApiTransportError,
    AuthenticationFailed,
    BadResponse,
    CallGone,
    CallNotFound,
    InvalidParameter,
    ModificationRefused,
    NothingToModify,
    RateLimited,
    RequestRejected,
    ServerError,
)
from callstate.client._answers import CallPage
from callstate.client._api import CallsApi, Operation
from callstate.client._calls import AsyncCalls, Calls
from callstate.client._http import AsyncTransport, Request, Response, Retry, Transport
from callstate.client._params import EVENTS, CallFilter, CallParams
from callstate.client._profile import Profile
from callstate.client._record import (
    AsyncSink,
    Sink,
    record_placed_call,
    record_placed_call_async,
)

__all__ = [
    "EVENTS",
    "ApiConnectionError",
    "ApiError",
    "ApiResponseError",
    "ApiTimeout",
    "ApiTransportError",
    "AsyncCalls",
    "AsyncSink",
    "AsyncTransport",
    "AuthenticationFailed",
    "BadResponse",
    "CallFilter",
    "CallGone",
    "CallNotFound",
    "CallPage",
    "CallParams",
    "Calls",
    "CallsApi",
    "InvalidParameter",
    "ModificationRefused",
    "NothingToModify",
    "Operation",
    "Profile",
    "RateLimited",
    "Request",
    "RequestRejected",
    "Response",
    "Retry",
    "ServerError",
    "Sink",
    "Transport",
    "record_placed_call",
    "record_placed_call_async",
]
