"""How fast the stores append, beside the raw driver doing the least it can.

    python benchmarks/stores.py [--json] [--dsn DSN]

Every figure comes from this one run, so each store is compared against its
raw driver measured on the same machine at the same moment. PostgreSQL
figures need ``--dsn`` or ``CALLSTATE_TEST_POSTGRES_DSN``; without either
they are reported as null.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sqlite3
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from callstate import RecordDelivery, parse_callback
from callstate.stores import MemoryStore, Runner, SQLiteStore
from callstate.stores._codec import encode

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
STEPS = (("initiated", 0), ("ringing", 1), ("in-progress", 2), ("completed", 3))


def deliveries(calls: int, prefix: str = "CA") -> list[RecordDelivery]:
    """Four callbacks per call with every usual parameter, interleaved across calls."""
    out = []
    for step, (status, seq) in enumerate(STEPS):
        for call in range(calls):
            sid = f"{prefix}{call:030x}"
            params = [
                ("AccountSid", "AC" + "0" * 32),
                ("CallSid", sid),
                ("CallStatus", status),
                ("SequenceNumber", str(seq)),
                ("Timestamp", (T0 + timedelta(seconds=call + 10 * step)).strftime(
                    "%a, %d %b %Y %H:%M:%S +0000")),
                ("From", "+14155550100"),
                ("To", "+14155550199"),
                ("Direction", "outbound-api"),
                ("CallbackSource", "call-progress-events"),
            ]
            if status == "completed":
                params.append(("CallDuration", "42"))
            out.append(RecordDelivery(delivery=parse_callback(params), received_at=T0))
    return out


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1)


def memory_append(commands: list[RecordDelivery]) -> float:
    runner = Runner(MemoryStore())
    start = time.perf_counter()
    for command in commands:
        runner.handle(command)
    return rate(len(commands), time.perf_counter() - start)


def sqlite_append(path: Path, commands: list[RecordDelivery]) -> float:
    store = SQLiteStore(path)
    runner = Runner(store)
    start = time.perf_counter()
    for command in commands:
        runner.handle(command)
    elapsed = time.perf_counter() - start
    store.close()
    return rate(len(commands), elapsed)


def sqlite_raw_insert(path: Path, rows: list[tuple[str, str]]) -> float:
    """One row per transaction, same pragmas and payload: the driver's floor."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE raw (id INTEGER PRIMARY KEY, kind TEXT, data TEXT)")
    start = time.perf_counter()
    for kind, data in rows:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO raw (kind, data) VALUES (?, ?)", (kind, data))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return rate(len(rows), elapsed)


def sqlite_import(path: Path, commands: list[RecordDelivery], batch: int = 2_000) -> float:
    store = SQLiteStore(path)
    runner = Runner(store)
    start = time.perf_counter()
    for first in range(0, len(commands), batch):
        runner.handle_many(commands[first : first + batch])
    elapsed = time.perf_counter() - start
    store.close()
    return rate(len(commands), elapsed)


def _pg_worker(args: tuple[str, str, str, int, int, object]) -> None:
    mode, dsn, schema, index, calls, barrier = args
    commands = deliveries(calls, prefix=f"CA{index:02d}")
    if mode == "append":
        from callstate.stores.postgres import PostgresStore

        store = PostgresStore(dsn, schema=schema, min_size=1, max_size=1)
        runner = Runner(store)
        barrier.wait()  # type: ignore[attr-defined]
        for command in commands:
            runner.handle(command)
        store.close()
        return
    import psycopg

    rows = [encode(command.delivery and _accepted(command)) for command in commands]
    with psycopg.connect(dsn, autocommit=True) as conn:
        barrier.wait()  # type: ignore[attr-defined]
        for kind, data in rows:
            conn.execute(
                f'INSERT INTO "{schema}".raw (kind, data) VALUES (%s, %s)', (kind, data),
                prepare=True,
            )


def _accepted(command: RecordDelivery) -> object:
    from callstate import DeliveryAccepted

    return DeliveryAccepted(delivery=command.delivery, received_at=command.received_at)


def postgres_8w(dsn: str, mode: str, calls_per_worker: int, workers: int = 8) -> float:
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
            ctx.Process(
                target=_pg_worker, args=((mode, dsn, schema, i, calls_per_worker, barrier),)
            )
            for i in range(workers)
        ]
        for proc in procs:
            proc.start()
        barrier.wait()
        start = time.perf_counter()
        for proc in procs:
            proc.join()
        elapsed = time.perf_counter() - start
        if any(proc.exitcode for proc in procs):
            raise SystemExit(f"a {mode} worker failed")
        return rate(workers * calls_per_worker * 4, elapsed)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--dsn", default=os.environ.get("CALLSTATE_TEST_POSTGRES_DSN"))
    parser.add_argument("--calls", type=int, default=5_000, help="calls for the SQLite runs")
    args = parser.parse_args()
    commands = deliveries(args.calls)
    rows = [encode(_accepted(c)) for c in commands]  # type: ignore[arg-type]
    results: dict[str, float | None] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        results["sqlite_raw_insert_eps"] = sqlite_raw_insert(folder / "raw.sqlite3", rows)
        results["sqlite_append_eps"] = sqlite_append(folder / "append.sqlite3", commands)
        results["sqlite_import_eps"] = sqlite_import(folder / "import.sqlite3", commands * 1)
    results["memory_append_eps"] = memory_append(commands)
    if args.dsn:
        results["postgres_8w_raw_insert_eps"] = postgres_8w(args.dsn, "raw", 500)
        results["postgres_8w_append_eps"] = postgres_8w(args.dsn, "append", 500)
    else:
        results["postgres_8w_raw_insert_eps"] = results["postgres_8w_append_eps"] = None
    order = (
        "sqlite_append_eps",
        "sqlite_raw_insert_eps",
        "sqlite_import_eps",
        "postgres_8w_append_eps",
        "postgres_8w_raw_insert_eps",
        "memory_append_eps",
    )
    out = {key: results[key] for key in order}
    if args.json:
        print(json.dumps(out))
    else:
        for key, value in out.items():
            print(f"{key:28} {value}")


if __name__ == "__main__":
    main()
