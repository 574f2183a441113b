"""The receiver under load over loopback, beside a bare Starlette endpoint, same run.

    python benchmarks/serve.py --json [--requests N] [--connections C]
                               [--store postgresql://...] [--workers N]

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

``--store postgresql://.../db`` runs the receiver on a database of its own,
made on that server for the run and dropped after. ``--workers N`` (N > 1,
PostgreSQL) runs ``callstate serve --workers N`` and, as a third side in the
same rounds, one worker on its own database: ``workers_ratio`` is the
median of the per-round ratios of N workers' rate to one worker's (issue 18's
target: >= 1.6 for two workers on a 2-core machine), with its spread;
``lost`` counts both.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

from _rounds import alternate, spread
from callstate import DeliveryAccepted
from callstate.stores import EventStore
from callstate.stores._open import is_postgres, open_store

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


@contextlib.contextmanager
def database(dsn: str) -> Iterator[str]:
    """A database of its own on ``dsn``'s server, dropped afterwards."""
    import psycopg

    name = f"callstate_bench_{os.getpid()}_{time.monotonic_ns() % 10**9}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(dsn)._replace(path="/" + name))
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def stored_calls(opened: EventStore) -> set[str]:
    stored: set[str] = set()
    after = 0
    while batch := opened.read_all(after, 10_000):
        stored |= {i.call_sid for i in batch if isinstance(i.event, DeliveryAccepted)}
        after = batch[-1].position
    return stored


def serve_command(store: str, workers: int) -> list[str]:
    # Unsigned callbacks, as the bare app takes them (on loopback).
    command = [sys.executable, "-m", "callstate", "serve", "--port", "0", "--store", store]
    return [*command, "--insecure-no-signatures", "--workers", str(workers)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3_000, help="per round and side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--store", help="postgresql://... (default: a SQLite file)")
    parser.add_argument("--workers", type=int, default=1, help="serve --workers (PostgreSQL)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.workers > 1 and not is_postgres(args.store or ""):
        parser.error("--workers needs --store postgresql://...")

    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="callstate-bench-")))
        stores = {"serve": str(root / "serve.sqlite")}
        if args.store:
            stores["serve"] = stack.enter_context(database(args.store))
        if args.workers > 1:
            stores["one"] = stack.enter_context(database(args.store))
        firsts = itertools.count(0, args.requests)  # every callback a new call

        def side_of(port: int, fresh: bool) -> Callable[[], Run]:
            def run() -> Run:
                first = next(firsts) if fresh else 0
                return asyncio.run(drive(port, args.requests, args.connections, first))

            return run

        with contextlib.ExitStack() as processes:  # stopped before the stores are read
            bare, bare_port = start([sys.executable, "-c", BARE_APP], root / "bare.log")
            processes.callback(stop, bare)
            ports = {"bare": bare_port}
            for side, store in stores.items():
                workers = args.workers if side == "serve" else 1
                process, ports[side] = start(serve_command(store, workers), root / f"{side}.log")
                processes.callback(stop, process)
            for side, port in ports.items():  # warm up
                asyncio.run(drive(port, 200, args.connections, 10**9 if side != "bare" else 0))
            rounds = alternate(
                {side: side_of(port, side != "bare") for side, port in ports.items()},
                args.rounds,
                warmup=0,
            )
        lost_by_side = {}
        for side, store in stores.items():
            opened = open_store(store)
            try:
                stored = stored_calls(opened)
            finally:
                opened.close()
            answered_side = {f"CA{n:032x}" for run in rounds[side] for n in run.answered}
            lost_by_side[side] = (len(answered_side & stored), len(answered_side - stored))
    bare_runs, runs = rounds["bare"], rounds["serve"]
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
        "stored": lost_by_side["serve"][0],
        "lost": sum(lost for _, lost in lost_by_side.values()),
        "store": "postgresql" if args.store else "sqlite",
        "workers": args.workers,
        "connections": args.connections,
        "rounds": args.rounds,
        "cpus": os.cpu_count(),
    }
    result["target_ge_75pct_of_bare"] = result["ratio"] >= 0.75  # type: ignore[operator]
    if args.workers > 1:
        per_round = [run.rps / one.rps for run, one in zip(runs, rounds["one"], strict=True)]
        result["one_worker_rps"] = median(run.rps for run in rounds["one"])
        result["workers_ratio"] = median(per_round)
        result["workers_ratio_spread"] = spread(per_round)
        result["target_workers_ge_1_6x_one"] = result["workers_ratio"] >= 1.6
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for key, value in result.items():
            print(f"{key:>26}: {value}")
    return 0 if result["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
