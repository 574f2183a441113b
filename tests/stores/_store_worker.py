"""A separate process for the concurrency and crash tests: a writer or a subscriber.

    python _store_worker.py write SPEC SEED K INDEX M
    python _store_worker.py batch SPEC SEED M
    python _store_worker.py subscribe SPEC LEDGER TOTAL

A subscriber on ``sqlite:`` also fails on a gap (that store has none).

SPEC is ``sqlite:PATH`` or ``postgres:SCHEMA@DSN``. Progress goes to stdout,
one line per step, flushed, so a test can kill the process mid-run.
"""

from __future__ import annotations

import random
import sqlite3
import sys
from datetime import UTC, datetime, timedelta

from callstate import Delivery, RecordDelivery, parse_callback
from callstate.stores import EventStore, Runner, SQLiteStore

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
STEPS = (("initiated", 0), ("ringing", 1), ("in-progress", 2), ("completed", 3))


def open_store(spec: str) -> EventStore:
    kind, _, rest = spec.partition(":")
    if kind == "sqlite":
        return SQLiteStore(rest)
    from callstate.stores.postgres import PostgresStore

    schema, _, dsn = rest.partition("@")
    return PostgresStore(dsn, schema=schema, max_size=2)


def lifecycle(call: int) -> list[Delivery]:
    sid = f"CA{call:032x}"
    out = []
    for status, seq in STEPS:
        params = [
            ("CallSid", sid),
            ("CallStatus", status),
            ("SequenceNumber", str(seq)),
            ("Timestamp", (T0 + timedelta(seconds=10 * seq)).strftime("%a, %d %b %Y %H:%M:%S %z")),
            ("CallbackSource", "call-progress-events"),
        ]
        if status == "completed":
            params.append(("CallDuration", "17"))
        out.append(parse_callback(params))
    return out


def copies(seed: int, m: int) -> list[tuple[int, RecordDelivery]]:
    """Every copy sent, with the process it goes to (before that process shuffles)."""
    rng = random.Random(seed)
    out = []
    for call in range(m):
        for delivery in lifecycle(call):
            for _ in range(rng.choice((1, 2, 2, 3))):
                out.append((rng.random(), RecordDelivery(delivery=delivery, received_at=None)))
    return [(int(draw * 1_000_000), command) for draw, command in out]


def share(seed: int, k: int, index: int, m: int) -> list[RecordDelivery]:
    mine = [command for draw, command in copies(seed, m) if draw % k == index]
    random.Random(seed * 100 + index).shuffle(mine)
    return mine


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def write(spec: str, seed: int, k: int, index: int, m: int) -> None:
    store = open_store(spec)
    runner = Runner(store)
    for n, command in enumerate(share(seed, k, index, m)):
        runner.handle(command)
        say(f"handled {n}")
    store.close()
    say("done")


def batch(spec: str, seed: int, m: int) -> None:
    """Whole calls two at a time, each pair in one transaction."""
    store = open_store(spec)
    runner = Runner(store)
    for first in range(0, m, 2):
        commands = [
            RecordDelivery(delivery=d)
            for call in range(first, min(first + 2, m))
            for d in lifecycle(call)
        ]
        runner.handle_many(commands)
        say(f"batch {first}")
    store.close()
    say("done")


def subscribe(spec: str, ledger: str, total: int) -> None:
    """Process every event once: the position is stored with the work, atomically."""
    store = open_store(spec)
    db = sqlite3.connect(ledger, isolation_level=None)
    db.execute("CREATE TABLE IF NOT EXISTS seen (position INTEGER PRIMARY KEY, call_sid TEXT)")
    db.execute("CREATE TABLE IF NOT EXISTS checkpoint (id INTEGER PRIMARY KEY, position INT)")
    row = db.execute("SELECT position FROM checkpoint WHERE id = 1").fetchone()
    position = 0 if row is None else row[0]
    gap_free = spec.startswith("sqlite:")
    while db.execute("SELECT count(*) FROM seen").fetchone()[0] < total:
        batch = store.read_all(after=position, limit=7)
        if not batch:
            continue
        db.execute("BEGIN")
        for stored in batch:
            if stored.position <= position or (gap_free and stored.position != position + 1):
                say(f"out of order after {position}: {stored.position}")
                sys.exit(3)
            # The primary key fails the run if an event comes twice.
            db.execute("INSERT INTO seen VALUES (?, ?)", (stored.position, stored.call_sid))
            position = stored.position
        db.execute("INSERT OR REPLACE INTO checkpoint VALUES (1, ?)", (position,))
        db.execute("COMMIT")
        say(f"at {position}")
    store.close()
    say("done")


def main(argv: list[str]) -> None:
    mode, spec, *rest = argv
    if mode == "write":
        write(spec, *map(int, rest))
    elif mode == "batch":
        batch(spec, *map(int, rest))
    elif mode == "subscribe":
        subscribe(spec, rest[0], int(rest[1]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
