"""The receiver under load over loopback, beside a bare Starlette endpoint, same run.

    python benchmarks/serve.py --json [--requests N] [--connections C]

Starts ``callstate serve`` (SQLite store, in a temporary folder) and a bare
Starlette app that answers 204, each on its own uvicorn with the same logging,
and drives each with the same keep-alive HTTP/1.1 load from this process, in
alternating rounds (``benchmarks/_rounds.py``: each side once a round, which
goes first alternating) so that a busy machine weighs on both alike. Each
side's figure is its median round; ``ratio`` is the median of the per-round
ratios, with ``ratio_spread`` (min, max); ``p99_ms`` stands beside
``bare_p99_ms``. Every status callback is distinct (its
own CallSid). Afterwards the store is read back: ``stored`` counts the
deliveries in it, ``lost`` those answered 2xx but missing.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from _rounds import alternate, spread
from callstate import DeliveryAccepted
from callstate.stores import SQLiteStore

BARE_APP = """
import sys
import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
from callstate.serve._logging import log_config

async def bare(request):
    await request.body()
    return Response(status_code=204)

app = Starlette(routes=[Route("/callbacks", bare, methods=["GET", "POST"])])
uvicorn.run(app, host="127.0.0.1", port=0, log_config=log_config("info"))
"""


def start(command: list[str], log: Path) -> tuple[subprocess.Popen[bytes], int]:
    with open(log, "wb") as sink:
        process = subprocess.Popen(command, stderr=sink, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.search(r"running on http://127\.0\.0\.1:(\d+)", log.read_text())
        if found:
            return process, int(found.group(1))
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"{command[2:4]} did not start:\n{log.read_text()}")


def body(n: int) -> bytes:
    return urlencode(
        {
            "AccountSid": "AC0f3c5b7e9d1a2b4c6d8e0f1a3b5c7d9e",
            "CallSid": f"CA{n:032x}",
            "CallStatus": "ringing",
            "SequenceNumber": "1",
            "Timestamp": "Tue, 24 Nov 2026 10:15:32 +0000",
            "From": "+14155550100",
            "To": "+14155550199",
            "Direction": "outbound-api",
            "CallbackSource": "call-progress-events",
            "ApiVersion": "2010-04-01",
        }
    ).encode()


@dataclasses.dataclass
class Run:
    """One round of load against one server."""

    rps: float
    latencies: list[float]  # seconds, sorted
    answered: list[int]  # the callbacks answered 2xx
    failures: int

    @property
    def p50_ms(self) -> float:
        return 1000 * statistics.median(self.latencies)

    @property
    def p99_ms(self) -> float:
        return 1000 * self.latencies[int(0.99 * (len(self.latencies) - 1))]


async def drive(port: int, total: int, connections: int, first: int = 0) -> Run:
    """Send ``total`` callbacks (CallSids from ``first`` on) over ``connections`` connections."""
    queue = iter(range(first, first + total))
    latencies: list[float] = []
    answered: list[int] = []
    failures = 0

    async def worker() -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for n in queue:
                payload = body(n)
                head = (
                    f"POST /callbacks HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                    "Content-Type: application/x-www-form-urlencoded\r\n"
                    f"Content-Length: {len(payload)}\r\n\r\n"
                ).encode()
                started = time.perf_counter()
                writer.write(head + payload)
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                if length:
                    await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                status = int(status_line.split()[1])
                if 200 <= status < 300:
                    answered.append(n)
                else:
                    failures += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return Run(len(latencies) / elapsed, latencies, answered, failures)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3_000, help="per round and side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="callstate-bench-") as folder:
        root = Path(folder)
        store = root / "serve.sqlite"
        bare, bare_port = start([sys.executable, "-c", BARE_APP], root / "bare.log")
        try:
            serve, port = start(
                # Unsigned callbacks, as the bare app takes them (on loopback).
                [
                    sys.executable,
                    "-m",
                    "callstate",
                    "serve",
                    "--port",
                    "0",
                    "--store",
                    str(store),
                    "--insecure-no-signatures",
                ],
                root / "serve.log",
            )
            try:
                asyncio.run(drive(bare_port, 200, args.connections))  # warm up
                asyncio.run(drive(port, 200, args.connections, first=10**9))  # warm up
                firsts = itertools.count(0, args.requests)  # every callback a new call
                rounds = alternate(
                    {
                        "bare": lambda: asyncio.run(
                            drive(bare_port, args.requests, args.connections)
                        ),
                        "serve": lambda: asyncio.run(
                            drive(port, args.requests, args.connections, next(firsts))
                        ),
                    },
                    args.rounds,
                    warmup=0,
                )
                bare_runs, runs = rounds["bare"], rounds["serve"]
            finally:
                stop(serve)
        finally:
            stop(bare)
        stored = set()
        with SQLiteStore(store) as opened:
            after = 0
            while batch := opened.read_all(after, 10_000):
                stored |= {i.call_sid for i in batch if isinstance(i.event, DeliveryAccepted)}
                after = batch[-1].position
    answered = {f"CA{n:032x}" for run in runs for n in run.answered}
    median = statistics.median
    latencies = sorted(x for run in runs for x in run.latencies)
    ratios = [run.rps / bare_run.rps for run, bare_run in zip(runs, bare_runs, strict=True)]
    result: dict[str, object] = {
        "serve_rps": median(run.rps for run in runs),
        "bare_rps": median(run.rps for run in bare_runs),
        "ratio": median(ratios),
        "ratio_spread": spread(ratios),
        "ratios": [round(r, 3) for r in ratios],
        "p50_ms": 1000 * median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "bare_p50_ms": median(run.p50_ms for run in bare_runs),
        "bare_p99_ms": median(run.p99_ms for run in bare_runs),
        "sent": len(latencies),
        "failures": sum(run.failures for run in runs),
        "answered_2xx": len(answered),
        "stored": len(answered & stored),
        "lost": len(answered - stored),
        "connections": args.connections,
        "rounds": args.rounds,
        "cpus": os.cpu_count(),
    }
    result["target_ge_75pct_of_bare"] = result["ratio"] >= 0.75  # type: ignore[operator]
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for key, value in result.items():
            print(f"{key:>26}: {value}")
    return 0 if result["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
