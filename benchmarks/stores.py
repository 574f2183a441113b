"""How fast the stores append, beside the raw driver doing the least it can.

    python benchmarks/stores.py [--json] [--dsn DSN] [--runner]

Every figure comes from this one run: each store is measured beside its raw
driver on the same machine, in alternating rounds (``benchmarks/_rounds.py``:
every side once a round, the order rotating), so a busy machine weighs on
both alike. Each rate is the side's median round; ``sqlite_append_ratio``
and ``postgres_8w_append_ratio`` are the medians of the per-round ratios to
the raw insert, with their ``_ratio_spread`` (min, max). The targets: SQLite
>= 0.35 of its raw insert, PostgreSQL with 8 workers >= 0.6 of its own.

- ``*_append_eps``: deliveries per second, each appended alone in its own
  transaction with every guarantee (expected version, the delivery stored
  once, the projection row), the expected version tracked as the ``Runner``
  tracks it in its cache. With ``--runner`` the same keys are measured
  through ``Runner.handle`` (deciding and building each ``Outcome`` too).
- ``sqlite_raw_insert_eps`` / ``postgres_8w_raw_insert_eps``: the same JSON
  payload, one row per transaction into a table with no other index.
- ``sqlite_import_eps``: events per second through ``append_many``, 500
  calls (2,000 events) per transaction.
- ``postgres_8w_*``: 8 processes at once, each on calls of its own.

PostgreSQL figures need ``--dsn`` or ``CALLSTATE_TEST_POSTGRES_DSN``;
without either they are null.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from _rounds import alternate, rates, ratio
from callstate import CallStatus, DeliveryAccepted, RecordDelivery, parse_form
from callstate.stores import Append, EventStore, MemoryStore, Runner, SQLiteStore
from callstate.stores._codec import encode

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
STEPS = (("initiated", 0), ("ringing", 1), ("in-progress", 2), ("completed", 3))


def deliveries(calls: int, prefix: str = "CA") -> list[RecordDelivery]:
    """Four callbacks per call with the usual parameters, interleaved across calls.

    Each is parsed from a form body, as a receiver gets it.
    """
    out = []
    for step, (status, seq) in enumerate(STEPS):
        for call in range(calls):
            at = T0 + timedelta(seconds=call + 10 * step)
            params = [
                ("AccountSid", "AC" + "0" * 32),
                ("CallSid", f"{prefix}{call:030x}"),
                ("CallStatus", status),
                ("SequenceNumber", str(seq)),
                ("Timestamp", at.strftime("%a, %d %b %Y %H:%M:%S +0000")),
                ("From", "+14155550100"),
                ("To", "+14155550199"),
                ("Direction", "outbound-api"),
                ("CallbackSource", "call-progress-events"),
            ]
            if status == "completed":
                params.append(("CallDuration", "42"))
            # As a webhook brings it: a form body.
            delivery = parse_form(urlencode(params))
            out.append(RecordDelivery(delivery=delivery, received_at=T0))
    return out


def accepted(command: RecordDelivery) -> DeliveryAccepted:
    return DeliveryAccepted(delivery=command.delivery, received_at=command.received_at)


def append_all(store: EventStore, commands: list[RecordDelivery], runner: bool) -> None:
    """What a webhook worker does per delivery, one transaction each."""
    if runner:
        handle = Runner(store).handle
        for command in commands:
            handle(command)
        return
    versions: dict[str, int] = {}
    for command in commands:
        sid = command.delivery.call_sid
        version = versions.get(sid, 0)
        store.append(sid, version, [accepted(command)], status=CallStatus.RINGING)
        versions[sid] = version + 1


def timed(count: int, work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return count / (time.perf_counter() - start)


def sqlite_append(path: Path, commands: list[RecordDelivery], runner: bool) -> float:
    store = SQLiteStore(path)
    try:
        return timed(len(commands), lambda: append_all(store, commands, runner))
    finally:
        store.close()


def sqlite_raw_insert(path: Path, rows: list[tuple[str, str]]) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE raw (id INTEGER PRIMARY KEY, kind TEXT, data TEXT)")

    def work() -> None:
        for kind, data in rows:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO raw (kind, data) VALUES (?, ?)", (kind, data))
            conn.execute("COMMIT")

    try:
        return timed(len(rows), work)
    finally:
        conn.close()


def sqlite_import(path: Path, commands: list[RecordDelivery], per_batch: int = 500) -> float:
    by_call: dict[str, list[DeliveryAccepted]] = {}
    for command in commands:
        by_call.setdefault(command.delivery.call_sid, []).append(accepted(command))
    appends = [
        Append(call_sid=sid, expected_version=0, events=tuple(events), status=CallStatus.COMPLETED)
        for sid, events in by_call.items()
    ]
    store = SQLiteStore(path)

    def work() -> None:
        for first in range(0, len(appends), per_batch):
            store.append_many(appends[first : first + per_batch])

    try:
        return timed(len(commands), work)
    finally:
        store.close()


def _pg_worker(job: tuple[str, str, str, int, int, bool], barrier: Any) -> None:
    """Wait at ``barrier`` when ready to start, and again when done (before closing)."""
    try:
        _pg_work(job, barrier)
    except BaseException:
        barrier.abort()  # the parent stops waiting for this worker
        raise


def _pg_work(job: tuple[str, str, str, int, int, bool], barrier: Any) -> None:
    mode, dsn, schema, index, calls, runner = job
    commands = deliveries(calls, prefix=f"CA{index:02d}")
    if mode == "append":
        from callstate.stores.postgres import PostgresStore

        store = PostgresStore(dsn, schema=schema, min_size=1, max_size=1)
        store.load("warm-up")
        barrier.wait()
        append_all(store, commands, runner)
        barrier.wait()
        store.close()
        return
    import psycopg

    rows = [encode(accepted(command)) for command in commands]
    with psycopg.connect(dsn, autocommit=True) as conn:
        barrier.wait()
        for kind, data in rows:
            conn.execute(
                f'INSERT INTO "{schema}".raw (kind, data) VALUES (%s, %s)',
                (kind, data),
                prepare=True,
            )
        barrier.wait()


def postgres_8w(dsn: str, mode: str, calls: int, runner: bool, workers: int = 8) -> float:
    import psycopg

    from callstate.stores.postgres import PostgresStore

    schema = f"callstate_bench_{uuid.uuid4().hex[:10]}"
    if mode == "append":
        with PostgresStore(dsn, schema=schema) as store:
            store.migrate()
    else:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
            conn.execute(
                f'CREATE TABLE "{schema}".raw (id BIGSERIAL PRIMARY KEY, kind TEXT, data TEXT)'
            )
    try:
        ctx = multiprocessing.get_context("fork")
        barrier = ctx.Barrier(workers + 1)
        procs = [
            ctx.Process(target=_pg_worker, args=((mode, dsn, schema, i, calls, runner), barrier))
            for i in range(workers)
        ]
        for proc in procs:
            proc.start()
        barrier.wait()
        start = time.perf_counter()
        # Timed until the last worker is done writing: not its teardown (closing
        # a pool or a connection, leaving the process), which is not per delivery.
        try:
            barrier.wait(timeout=600)
        except threading.BrokenBarrierError:
            for proc in procs:
                proc.kill()
            raise SystemExit(f"a PostgreSQL {mode} worker failed") from None
        elapsed = time.perf_counter() - start
        for proc in procs:
            proc.join()
        if any(proc.exitcode for proc in procs):
            raise SystemExit(f"a PostgreSQL {mode} worker failed")
        return workers * calls * 4 / elapsed
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--dsn", default=os.environ.get("CALLSTATE_TEST_POSTGRES_DSN"))
    parser.add_argument("--runner", action="store_true", help="append through Runner.handle")
    parser.add_argument("--calls", type=int, default=2_000, help="calls per SQLite round")
    parser.add_argument("--pg-calls", type=int, default=100, help="calls per PostgreSQL worker")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of every side")
    args = parser.parse_args()
    commands = deliveries(args.calls)
    rows = [encode(accepted(c)) for c in commands]
    many = deliveries(args.calls * 2)
    fresh = itertools.count()
    out: dict[str, object] = {"rounds": args.rounds}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)

        def path(kind: str) -> Path:
            return folder / f"{kind}{next(fresh)}"

        local = alternate(
            {
                "sqlite_append": lambda: sqlite_append(path("append"), commands, args.runner),
                "sqlite_raw_insert": lambda: sqlite_raw_insert(path("raw"), rows),
                "sqlite_import": lambda: sqlite_import(path("import"), many),
                "memory_append": lambda: timed(
                    len(commands), lambda: append_all(MemoryStore(), commands, args.runner)
                ),
            },
            args.rounds,
        )
    out.update(rates(local))
    out.update(ratio("sqlite_append", local["sqlite_append"], local["sqlite_raw_insert"]))
    if args.dsn:
        dsn, calls = args.dsn, args.pg_calls
        remote = alternate(
            {
                "postgres_8w_append": lambda: postgres_8w(dsn, "append", calls, args.runner),
                "postgres_8w_raw_insert": lambda: postgres_8w(dsn, "raw", calls, False),
            },
            args.rounds,
            warmup=0,
        )
        out.update(rates(remote))
        out.update(
            ratio(
                "postgres_8w_append", remote["postgres_8w_append"], remote["postgres_8w_raw_insert"]
            )
        )
    else:
        out["postgres_8w_raw_insert_eps"] = out["postgres_8w_append_eps"] = None
        out["postgres_8w_append_ratio"] = out["postgres_8w_append_ratio_spread"] = None
    sqlite_ratio = out["sqlite_append_ratio"]
    postgres_ratio = out["postgres_8w_append_ratio"]
    out["targets"] = {
        "sqlite_append_ge_0_35x_raw": isinstance(sqlite_ratio, float) and sqlite_ratio >= 0.35,
        "postgres_8w_ge_0_6x_raw": (
            None
            if postgres_ratio is None
            else isinstance(postgres_ratio, float) and postgres_ratio >= 0.6
        ),
    }
    if args.json:
        print(json.dumps(out))
    else:
        for key, value in out.items():
            print(f"{key:30} {value}")


if __name__ == "__main__":
    main()
