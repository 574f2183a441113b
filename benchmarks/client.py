"""Requests per second through callstate's client beside the same library's raw request.

Both sides fetch the same Call resource from the fake provider (127.0.0.1, in
its own process so its threads do not share the client's interpreter lock),
reuse one client/session per side, and decode the JSON (callstate also parses
it into a ``CallResource``). Each round times a block of each side back to
back, alternating which goes first, so both see the same machine load. A
side's rate is its median block; ``ratio`` is the median over rounds of
callstate's rate / raw rate in the same round (1.0 = no cost), with
``ratio_spread`` (min, max); the same two stand at the top level as
``<adapter>_ratio`` and ``<adapter>_ratio_spread`` (``benchmarks/_rounds.py``). 60 rounds by
default (about 20 s): with 25, one run's ratio swung by +-4% on a 2-core box.
``client_cpu_us`` is the client process's CPU time per request on each side:
what callstate itself adds, with the server and other processes left out.
Run: ``python benchmarks/client.py --json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx
import requests

from _rounds import ratio
from callstate.client import AsyncCalls, Calls, CallsApi, Profile
from callstate.client.aiohttp import AiohttpTransport
from callstate.client.httpx import HttpxAsyncTransport, HttpxTransport
from callstate.client.requests import RequestsTransport
from callstate.client.urllib import UrllibTransport

SERVER = """
import sys
from callstate.client import Calls, CallsApi, CallParams
from callstate.client.urllib import UrllibTransport
from callstate.testing.fake_provider import FakeProvider

with FakeProvider(pace=None) as provider:
    profile = provider.profile()
    api = CallsApi(account_sid=provider.account_sid, token=provider.token, profile=profile)
    with Calls(api, UrllibTransport()) as calls:
        (placed,) = calls.create(CallParams(to="+1555", from_="+1556", url="https://a.example/"))
    print(profile.base_url, provider.account_sid, provider.token, placed.sid, flush=True)
    sys.stdin.read()
"""

# Every side sets the timeout callstate's transports set (10 s by default).
# httpx and aiohttp would set their own when given none (5 s; 300 s in all,
# 30 s to connect), and aiohttp's timers cost more or less with the value.
TIMEOUT = 10.0

SyncSide = Callable[[], object]
AsyncSide = Callable[[], Awaitable[object]]


CPU: dict[str, float] = {}


def timed(side: SyncSide, count: int, label: str = "") -> float:
    cpu, start = time.process_time(), time.perf_counter()
    for _ in range(count):
        side()
    CPU[label] = CPU.get(label, 0.0) + time.process_time() - cpu
    return time.perf_counter() - start


async def atimed(side: AsyncSide, count: int, label: str = "") -> float:
    cpu, start = time.process_time(), time.perf_counter()
    for _ in range(count):
        await side()
    CPU[label] = CPU.get(label, 0.0) + time.process_time() - cpu
    return time.perf_counter() - start


def sync_sides(name: str, api: CallsApi, sid: str) -> tuple[SyncSide, SyncSide, Callable[[], None]]:
    request = api.fetch_call(sid).request
    headers = dict(request.headers)
    if name == "urllib":
        calls = Calls(api, UrllibTransport())

        def raw() -> object:
            outgoing = urllib.request.Request(request.url, headers=headers)
            with urllib.request.urlopen(outgoing, timeout=TIMEOUT) as r:
                return json.loads(r.read())

        return (lambda: calls.fetch(sid)), raw, calls.close
    if name == "requests":
        calls = Calls(api, RequestsTransport())
        session = requests.Session()

        def close() -> None:
            calls.close()
            session.close()

        def raw_requests() -> object:
            return session.get(request.url, headers=headers, timeout=TIMEOUT).json()

        return (lambda: calls.fetch(sid)), raw_requests, close
    calls = Calls(api, HttpxTransport())
    client = httpx.Client(timeout=TIMEOUT)

    def close_httpx() -> None:
        calls.close()
        client.close()

    def raw_httpx() -> object:
        return client.get(request.url, headers=headers).json()

    return (lambda: calls.fetch(sid)), raw_httpx, close_httpx


async def async_sides(name: str, api: CallsApi, sid: str) -> tuple[AsyncSide, AsyncSide, Any]:
    request = api.fetch_call(sid).request
    headers = dict(request.headers)
    if name == "httpx-async":
        acalls = AsyncCalls(api, HttpxAsyncTransport())
        client = httpx.AsyncClient(timeout=TIMEOUT)

        async def raw_httpx() -> object:
            return (await client.get(request.url, headers=headers)).json()

        async def close_httpx() -> None:
            await acalls.aclose()
            await client.aclose()

        return (lambda: acalls.fetch(sid)), raw_httpx, close_httpx
    acalls = AsyncCalls(api, AiohttpTransport())
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT))

    async def raw_aiohttp() -> object:
        async with session.get(request.url, headers=headers) as answer:
            return json.loads(await answer.read())

    async def close_aiohttp() -> None:
        await acalls.aclose()
        await session.close()

    return (lambda: acalls.fetch(sid)), raw_aiohttp, close_aiohttp


async def measure_async(
    name: str, api: CallsApi, sid: str, rounds: int, count: int
) -> list[list[float]]:
    ours, raw, close = await async_sides(name, api, sid)
    blocks: list[list[float]] = [[], []]
    await atimed(ours, 20)
    await atimed(raw, 20)
    for n in range(rounds):
        order = (0, 1) if n % 2 == 0 else (1, 0)
        for side in order:
            blocks[side].append(await atimed((ours, raw)[side], count, ("ours", "raw")[side]))
    await close()
    return blocks


def measure(name: str, api: CallsApi, sid: str, rounds: int, count: int) -> list[list[float]]:
    if name in ("httpx-async", "aiohttp"):
        return asyncio.run(measure_async(name, api, sid, rounds, count))
    ours, raw, close = sync_sides(name, api, sid)
    blocks: list[list[float]] = [[], []]
    timed(ours, 20)
    timed(raw, 20)
    for n in range(rounds):
        order = (0, 1) if n % 2 == 0 else (1, 0)
        for side in order:
            blocks[side].append(timed((ours, raw)[side], count, ("ours", "raw")[side]))
    close()
    return blocks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--requests", type=int, default=40, help="per side and round")
    args = parser.parse_args()
    started = time.perf_counter()
    result: dict[str, Any] = {"adapters": {}}
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        base_url, account_sid, token, sid = server.stdout.readline().split()
        api = CallsApi(account_sid=account_sid, token=token, profile=Profile.api19(base_url))
        for name in ("urllib", "requests", "httpx", "httpx-async", "aiohttp"):
            CPU.clear()
            ours, raw = measure(name, api, sid, args.rounds, args.requests)
            total = args.rounds * args.requests
            figures = ratio(
                name, [args.requests / t for t in ours], [args.requests / t for t in raw]
            )
            result.update(figures)
            result["adapters"][name] = {
                "callstate_rps": round(args.requests / statistics.median(ours), 1),
                "raw_rps": round(args.requests / statistics.median(raw), 1),
                "ratio": figures[f"{name}_ratio"],
                "ratio_spread": figures[f"{name}_ratio_spread"],
                "client_cpu_us": {
                    "callstate": round(CPU["ours"] / total * 1e6, 1),
                    "raw": round(CPU["raw"] / total * 1e6, 1),
                },
            }
    finally:
        server.communicate("")
    result["requests_per_side"] = args.rounds * args.requests
    result["seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(result))
    else:
        for name, row in result["adapters"].items():
            print(
                f"{name:12} callstate {row['callstate_rps']:>9} rps   raw {row['raw_rps']:>9} rps"
                f"   ratio {row['ratio']}"
            )


if __name__ == "__main__":
    main()
