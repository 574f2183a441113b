"""A real ``callstate serve`` process for tests: started on a port, stopped or killed."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

API_KEY = "serve-test-api-key-0123456789"


def free_port() -> int:
    """A port nothing listens on now (the receiver must know its public URL before it starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Receiver:
    """``callstate serve --store STORE`` with ``env``, on ``port`` (0: any)."""

    def __init__(
        self, store: str, log: Path, env: dict[str, str], *args: str, port: int = 0
    ) -> None:
        self.log = log
        start = log.stat().st_size if log.exists() else 0
        command = [sys.executable, "-m", "callstate", "serve", "--port", str(port)]
        with open(log, "ab") as sink:
            self.process = subprocess.Popen(
                [*command, "--store", store, *args],
                stderr=sink,
                stdout=subprocess.DEVNULL,
                env={**os.environ, "CALLSTATE_API_KEYS": API_KEY, **env},
            )
        self.base = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.process.poll() is None:
            text = self.log.read_bytes()[start:].decode(errors="replace")
            found = re.findall(r"running on (http://127\.0\.0\.1:\d+)", text)
            if found and (port == 0 or found[-1].endswith(f":{port}")):
                self.base = found[-1]
                return
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"callstate serve did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=60)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=30)

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def request(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        key: str | None = API_KEY,
    ) -> tuple[int, dict[str, str], Any]:
        """(status, headers in lower case, JSON body) of one request; errors are answers too."""
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        sent = {"Content-Type": "application/json", **(headers or {})}
        if key is not None:
            sent["Authorization"] = f"Bearer {key}"
        ask = urllib.request.Request(self.base + path, data=data, headers=sent, method=method)
        try:
            with urllib.request.urlopen(ask, timeout=30) as answer:
                return answer.status, _lower(answer.headers), json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, _lower(exc.headers), json.loads(exc.read() or b"null")


def _lower(headers: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}
