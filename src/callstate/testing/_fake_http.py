"""The fake provider's HTTP glue: the request handler, error bodies and faults.

``Handler`` reads a request, asks its ``Backend`` (the provider) for the
answer, and writes it; it knows nothing of calls.
"""

from __future__ import annotations

import base64
import json
import time
from http.server import BaseHTTPRequestHandler
from typing import ClassVar, Final, Literal, Protocol
from urllib.parse import parse_qsl, urlsplit

import attrs

from callstate.testing._fake_api import Problem

__all__ = ["Backend", "ErrorStyle", "Fault", "Handler", "render_error"]

ErrorStyle = Literal["text", "message", "twilio", "xml", "html"]

#: Twilio's code where the fake gave none: 20003 "Authenticate", 20500 its 500.
_CODES: Final = {401: 20003, 404: 20404, 405: 20004, 500: 20500}


@attrs.frozen(kw_only=True)
class Fault:
    """How to answer the next API request instead of answering it properly.

    ``action`` is ``answer`` (send ``status``, ``body``, ``content_type``
    after ``delay`` seconds), ``close`` (close the connection, no answer) or
    ``truncate`` (promise more body than is sent, then close). ``headers``
    are sent with the answer (a 429's ``Retry-After``, say).
    """

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    delay: float = 0.0
    action: Literal["answer", "close", "truncate"] = "answer"
    headers: tuple[tuple[str, str], ...] = ()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_error(
    style: str, status: int, message: str, code: int | None = None
) -> tuple[str, bytes]:
    """An error body in ``error_style``: (content type, body).

    ``twilio`` is Twilio's shape, ``{"code", "message", "more_info",
    "status"}``, its ``code`` the Twilio error code (never the HTTP status).
    """
    code = code if code is not None else _CODES.get(status, 20001)
    if style == "text":
        return "text/plain; charset=utf-8", message.encode()
    if style == "twilio":
        info = f"https://www.twilio.com/docs/errors/{code}"
        data = {"code": code, "message": message, "more_info": info, "status": status}
        return "application/json", json.dumps(data).encode()
    if style == "xml":
        text = (
            f"<?xml version='1.0' encoding='UTF-8'?><RestcommResponse><RestException>"
            f"<Code>{code}</Code><Message>{_escape(message)}</Message>"
            f"<Status>{status}</Status></RestException></RestcommResponse>"
        )
        return "application/xml", text.encode()
    if style == "html":
        text = (
            f"<!DOCTYPE html><html><head><title>{status} {_escape(message)}</title></head>"
            f"<body><h1>Error</h1><p>{_escape(message)}</p></body></html>"
        )
        return "text/html", text.encode()
    return "application/json", json.dumps({"message": message}).encode()


class Backend(Protocol):
    """What the handler asks of the provider it serves."""

    account_sid: str
    token: str
    #: None: each API's own (Twilio's JSON under Twilio's API, ``{"message"}`` elsewhere).
    error_style: ErrorStyle | None
    #: Seconds every GET waits before it is answered.
    fetch_latency: float

    def next_fault(self) -> Fault | None:
        """The fault to answer this request with, if one is injected (counts the request)."""
        ...

    def flavour(self, path: str) -> str:
        """Whose API the path is under: ``twilio``, ``restcomm`` or ``api19``."""
        ...

    def respond(
        self, method: str, path: str, query: dict[str, str], form: list[tuple[str, str]]
    ) -> tuple[int, object]:
        """The answer to an authenticated request: (status, JSON or ``Problem``)."""
        ...

    def record_fetch(self, path: str, started: float, ended: float) -> None:
        """A GET of ``path`` was read at ``started`` and answered at ``ended`` (monotonic)."""
        ...


class Handler(BaseHTTPRequestHandler):
    """Serves the provider's API; the subclass made per server sets ``provider``."""

    provider: ClassVar[Backend]
    protocol_version = "HTTP/1.1"
    server_version = "callstate-fake-provider"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests read ``FakeProvider.sent`` instead."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        started = time.monotonic()
        try:
            self._answer()
        finally:
            if self.command == "GET":
                self.provider.record_fetch(urlsplit(self.path).path, started, time.monotonic())

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        provider = self.provider
        if provider.fetch_latency and self.command == "GET":
            time.sleep(provider.fetch_latency)
        fault = provider.next_fault()
        if fault is not None:
            self._fault(fault)
            return
        parts = urlsplit(self.path)
        flavour = provider.flavour(parts.path)
        if not self._authorized():
            self._error(401, Problem("Authenticate", 20003), flavour)
            return
        query = dict(parse_qsl(parts.query))
        form = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        status, data = provider.respond(self.command, parts.path, query, form)
        if status >= 400:
            problem = data if isinstance(data, Problem) else Problem(str(data))
            self._error(status, problem, flavour)
        elif status == 204:
            self._send(204, "", b"")
        else:
            self._send(status, "application/json", json.dumps(data).encode())

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == self.provider.account_sid and password == self.provider.token

    def _error(self, status: int, problem: Problem, flavour: str) -> None:
        style = self.provider.error_style or ("twilio" if flavour == "twilio" else "message")
        content_type, body = render_error(style, status, problem.message, problem.code)
        self._send(status, content_type, body)

    def _send(
        self,
        status: int,
        content_type: str,
        body: bytes,
        length: int | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        try:
            if any(name.lower() == "date" for name, _ in headers):
                self.send_response_only(status)  # the fault's own Date, not the clock's
                self.send_header("Server", self.version_string())
            else:
                self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            if status != 204:
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body) if length is None else length))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def _fault(self, fault: Fault) -> None:
        if fault.delay:
            time.sleep(fault.delay)
        self.close_connection = True
        if fault.action == "close":
            return
        if fault.action == "truncate":
            self._send(fault.status, fault.content_type, fault.body, length=len(fault.body) + 1000)
            return
        self._send(fault.status, fault.content_type, fault.body, headers=fault.headers)
