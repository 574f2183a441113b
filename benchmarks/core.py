"""Core throughput and memory, beside the baselines, measured in the same run.

    python benchmarks/core.py --json [--calls N] [--seed S]

Workload: N calls of four status callbacks each (initiated, ringing,
in-progress, completed; Twilio style), calls started over one hour, so the
stream interleaves calls the way a busy receiver sees them.

- ``apply_in_order_eps``: ``CallBook.record`` over pre-parsed deliveries in time order;
- ``apply_shuffled_eps``: the same plus 10% duplicates, shuffled;
- ``parse_apply_eps``: raw form bodies through ``parse_form`` then ``record``;
- ``bytes_per_call``: memory held per tracked call after the in-order run (tracemalloc);
- ``dict_fsm_in_order_eps``: a hand-written dict-table FSM with (CallSid, SequenceNumber)
  dedupe over the same deliveries: the practical limit for pure Python;
- ``dict_fsm_shuffled_eps``: the same FSM over the shuffled stream with duplicates (the
  limit for ``apply_shuffled_eps``: random order across 100k calls defeats the CPU caches);
- ``transitions_per_call_eps``: a new ``transitions.Machine`` per call (the naive way);
- ``stdlib_parse_apply_eps``: ``parse_qsl`` + ``email.utils`` + the dict FSM on raw bodies.

The sides run in alternating rounds (``benchmarks/_rounds.py``): every side
once a round, the order rotating; each rate is the side's median round, and
each ``<name>_ratio`` the median of the per-round ratios to its baseline, with
``<name>_ratio_spread`` (min, max). The targets are judged on those medians:
``apply_in_order_ratio`` (to the dict FSM) >= 0.75, ``apply_shuffled_ratio``
>= 0.6, ``parse_apply_ratio`` (to the stdlib path) >= 2.5, and
``bytes_per_call`` <= 1 KB. The input corpus is built first and
frozen out of the cyclic GC (``gc.freeze``), for callstate and the baselines
alike: what is measured is the work per event, not the GC re-scanning a
benchmark's pre-built inputs. A run's result (the book, the dict) is freed
after its clock stops. The cyclic GC stays on during the runs: the records a
run creates are scanned as they would be in a receiver.
"""

from __future__ import annotations

import argparse
import email.utils
import gc
import json
import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode

from transitions import Machine

from _rounds import alternate, rates, ratio
from callstate import CallBook, Decider, Delivery, parse_form

EPOCH = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
STEPS = (("initiated", 0), ("ringing", 1), ("in-progress", 12), ("completed", 72))
RANK = {"queued": 0, "initiated": 1, "ringing": 2, "in-progress": 3}


def make_bodies(calls: int, rng: random.Random) -> list[bytes]:
    events: list[tuple[float, bytes]] = []
    for n in range(calls):
        sid = f"CA{n:032x}"
        start = EPOCH + timedelta(seconds=rng.uniform(0, 3600))
        for seq, (status, offset) in enumerate(STEPS):
            at = (start + timedelta(seconds=offset)).replace(microsecond=0)
            params = {
                "AccountSid": "AC0f3c5b7e9d1a2b4c6d8e0f1a3b5c7d9e",
                "CallSid": sid,
                "CallStatus": status,
                "SequenceNumber": str(seq),
                "Timestamp": at.strftime("%a, %d %b %Y %H:%M:%S +0000"),
                "From": "+14155550100",
                "To": f"+1415555{n % 10000:04d}",
                "Direction": "outbound-api",
                "CallbackSource": "call-progress-events",
                "ApiVersion": "2010-04-01",
            }
            if status == "completed":
                params["CallDuration"] = "60"
            events.append((at.timestamp() + seq * 1e-3, urlencode(params).encode()))
    events.sort(key=lambda e: e[0])
    return [body for _, body in events]


def rate(count: int, run: Callable[[], object]) -> Callable[[], float]:
    """A side: one run of ``run`` over ``count`` events, as events per second."""

    def side() -> float:
        gc.collect()
        start = time.perf_counter()
        result = run()
        took = time.perf_counter() - start
        # Freed after the clock stops: tearing down the book (100k records) is
        # not work per event, and a receiver never does it.
        del result
        return count / took

    return side


def apply_all(deliveries: list[Delivery]) -> CallBook:
    book = CallBook(Decider())
    record = book.record
    for delivery in deliveries:
        record(delivery, None)
    return book


# The baselines.

_FINAL = {"completed", "busy", "failed", "no-answer", "canceled"}


def dict_fsm(items: list[tuple[str, int, str]]) -> dict[str, str]:
    """A dict-table FSM: dedupe on (CallSid, SequenceNumber), move up by rank."""
    state: dict[str, str] = {}
    seen: set[tuple[str, int]] = set()
    rank = RANK
    for sid, seq, status in items:
        key = (sid, seq)
        if key in seen:
            continue
        seen.add(key)
        current = state.get(sid, "queued")
        if current in _FINAL:
            continue
        if status in _FINAL or rank[status] > rank[current]:
            state[sid] = status
    return state


def dict_fsm_of_deliveries(deliveries: list[Delivery]) -> dict[str, str]:
    return dict_fsm([(d.call_sid, d.sequence_number, d.call_status.value) for d in deliveries])


def stdlib_parse_apply(bodies: list[bytes]) -> dict[str, str]:
    """parse_qsl + email.utils, each body folded as it comes (a receiver's loop)."""
    state: dict[str, str] = {}
    seen: set[tuple[str, int]] = set()
    rank = RANK
    for body in bodies:
        params = dict(parse_qsl(body.decode("utf-8"), strict_parsing=True))
        email.utils.parsedate_to_datetime(params["Timestamp"])
        sid, status = params["CallSid"], params["CallStatus"]
        key = (sid, int(params["SequenceNumber"]))
        if key in seen:
            continue
        seen.add(key)
        current = state.get(sid, "queued")
        if current in _FINAL:
            continue
        if status in _FINAL or rank[status] > rank[current]:
            state[sid] = status
    return state


def parse_apply(bodies: list[bytes]) -> CallBook:
    """parse_form then record, each body as it comes (a receiver's loop)."""
    book = CallBook(Decider())
    record = book.record
    for body in bodies:
        record(parse_form(body), None)
    return book


class _Model:
    pass


def transitions_per_call(deliveries: list[Delivery]) -> int:
    states = ["queued", "initiated", "ringing", "in-progress", "completed"]
    machines: dict[str, _Model] = {}
    for d in deliveries:
        model = machines.get(d.call_sid)
        if model is None:
            model = machines[d.call_sid] = _Model()
            Machine(model=model, states=states, initial="queued", ignore_invalid_triggers=True)
        model.trigger(f"to_{d.call_status.value}")  # type: ignore[attr-defined]
    return len(machines)


def bytes_per_call(deliveries: list[Delivery], calls: int) -> float:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    book = apply_all(deliveries)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(book) == calls
    return (after - before) / calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of every side")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    bodies = make_bodies(args.calls, rng)
    deliveries = [parse_form(body) for body in bodies]
    noisy = deliveries + rng.sample(deliveries, len(deliveries) // 10)
    rng.shuffle(noisy)
    events = len(deliveries)
    naive_calls = min(args.calls, 2_000)
    naive = [d for d in deliveries if int(d.call_sid[2:], 16) < naive_calls]
    stdlib_bodies = bodies[: min(len(bodies), 100_000)]
    # The input corpus is scaffolding, not the system under test: keep the
    # cyclic GC from re-scanning its million objects during every measurement.
    gc.collect()
    gc.freeze()

    # The same answer first: callstate and the dict FSM agree on every call.
    book = apply_all(deliveries)
    truth = dict_fsm_of_deliveries(deliveries)
    assert all(book.state(sid).status.value == status for sid, status in truth.items())
    del book, truth  # scaffolding too: not left for the GC to scan during the runs

    rounds = alternate(
        {
            "apply_in_order": rate(events, lambda: apply_all(deliveries)),
            "apply_shuffled": rate(len(noisy), lambda: apply_all(noisy)),
            "parse_apply": rate(events, lambda: parse_apply(bodies)),
            "dict_fsm_in_order": rate(events, lambda: dict_fsm_of_deliveries(deliveries)),
            "dict_fsm_shuffled": rate(len(noisy), lambda: dict_fsm_of_deliveries(noisy)),
            "transitions_per_call": rate(len(naive), lambda: transitions_per_call(naive)),
            "stdlib_parse_apply": rate(
                len(stdlib_bodies), lambda: stdlib_parse_apply(stdlib_bodies)
            ),
        },
        args.rounds,
    )
    ratios = {
        **ratio("apply_in_order", rounds["apply_in_order"], rounds["dict_fsm_in_order"]),
        **ratio("apply_shuffled", rounds["apply_shuffled"], rounds["dict_fsm_shuffled"]),
        **ratio("parse_apply", rounds["parse_apply"], rounds["stdlib_parse_apply"]),
        **ratio("over_machine", rounds["apply_in_order"], rounds["transitions_per_call"]),
    }
    memory = bytes_per_call(deliveries, args.calls)
    result: dict[str, object] = {
        "calls": args.calls,
        "events": events,
        "rounds": args.rounds,
        **rates(rounds),
        "bytes_per_call": memory,
        **ratios,
        "targets": {
            "apply_in_order_ge_0_75x_dict_fsm": ratios["apply_in_order_ratio"] >= 0.75,
            "apply_shuffled_ge_0_6x_dict_fsm": ratios["apply_shuffled_ratio"] >= 0.6,
            "parse_apply_ge_2_5x_stdlib": ratios["parse_apply_ratio"] >= 2.5,
            "apply_ge_100x_machine_per_call": ratios["over_machine_ratio"] >= 100,
            "bytes_per_call_le_1KB": memory <= 1024,
        },
    }
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for key, value in result.items():
            print(f"{key:>28}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
