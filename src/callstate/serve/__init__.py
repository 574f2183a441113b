"""The reference receiver: status callbacks into a store, calls out as JSON.

``build_app(runner, verifier=...)`` is an ASGI application (Starlette):

- ``POST|GET /callbacks``: the status-callback route (verify, parse, store, answer);
- ``GET /calls?status=&after=&limit=``: calls by current status, a page from a cursor;
- ``GET /calls/{CallSid}``: state, timeline, anomalies;
- ``GET /calls/{CallSid}/events``: the call's stored events;
- ``GET /healthz``: whether a delivery can be stored now (the store reads and writes).

Every route but ``/callbacks``, ``/healthz`` and ``/metrics`` needs an API key
(``Authorization: Bearer <key>``, ``build_app(..., api_keys=[...])``).

``callstate serve`` runs it on uvicorn with the SQLite store by default.
"""

from callstate.serve._app import build_app, state_json
from callstate.serve._config import ServeConfig, open_store

__all__ = ["ServeConfig", "build_app", "open_store", "state_json"]
