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

    python benchmarks/stores.py --pages [--page-calls 1000,1000000] [--dsn DSN]

measures ``calls_page`` instead: microseconds per page of 50 CallSids over
stores of each size (``live``: the four live statuses, one call in ten;
``completed``; ``every`` status), the first page and one further in, each
the best of 10 batches, each store size a side of the alternating rounds
(the median round is kept); ``numbered_page_us`` is what ``/calls?page=``
costs (every CallSid read, one page sliced). ``<kind>_<figure>_ratio`` is
the largest store's figure over the smallest's (median of the rounds, with
its spread), and ``<kind>_page_ratio_max`` the largest of those among the
cursor pages: 1.0 means a million calls answer a page as fast as a thousand.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import multiprocessing
import os
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
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


# Pages of calls by status (``--pages``): how long ``calls_page`` takes over a
# thousand stored calls and over a million, in alternating rounds. Only the
# projection table is filled (what the page reads), straight through SQL: one
# call in ten live (queued, initiated, ringing, in progress), the rest ended.
# Every page measured is full, over a thousand calls as over a million.

PAGE_LIMIT = 50
_SPREAD = 0x9E3779B97F4A7C15F39CC0605CEDC835  # odd: n -> n * _SPREAD mod 2**128 is one to one
PAGE_QUERIES: dict[str, tuple[CallStatus, ...]] = {
    "live": tuple(s for s in CallStatus if not s.is_final),
    "completed": (CallStatus.COMPLETED,),
    "every": tuple(CallStatus),
}


def page_rows(calls: int) -> Iterator[tuple[str, int, str]]:
    """(CallSid, version, status) for ``calls`` calls, CallSids in random order."""
    live = PAGE_QUERIES["live"]
    ended = [s for s in CallStatus if s.is_final]
    for n in range(calls):
        status = live[n // 10 % len(live)] if n % 10 == 0 else ended[n % len(ended)]
        yield f"CA{uuid.UUID(int=n * _SPREAD % 2**128).hex}", 1, status.value


def fill_sqlite(path: Path, calls: int) -> SQLiteStore:
    SQLiteStore(path).close()  # the schema, as the store makes it
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO callstate_calls (call_sid, version, status) VALUES (?, ?, ?)",
        page_rows(calls),
    )
    conn.execute("COMMIT")
    conn.close()
    return SQLiteStore(path)


def fill_postgres(dsn: str, calls: int) -> tuple[EventStore, str]:
    import psycopg

    from callstate.stores.postgres import PostgresStore

    schema = f"callstate_bench_{uuid.uuid4().hex[:10]}"
    store = PostgresStore(dsn, schema=schema, max_size=1)
    store.migrate()
    with psycopg.connect(dsn, autocommit=True) as conn:
        with conn.cursor().copy(
            f'COPY "{schema}".calls (call_sid, version, status) FROM STDIN'
        ) as copy:
            for row in page_rows(calls):
                copy.write_row(row)
        conn.execute(f'VACUUM ANALYZE "{schema}".calls')  # as autovacuum would, in time
    return store, schema


def per_call_us(reps: int, work: Callable[[], object]) -> float:
    """Microseconds per call of ``work``: the best of 10 batches (a busy machine only adds)."""
    batch = max(1, reps // 10)
    best = float("inf")
    for _ in range(10 if reps >= 10 else 1):
        start = time.perf_counter()
        for _ in range(batch):
            work()
        best = min(best, (time.perf_counter() - start) / batch)
    return round(best * 1e6, 1)


def page_figures(store: EventStore, calls: int, reps: int) -> dict[str, float]:
    """Microseconds per page: the first page and one further in, per query."""
    # A cursor a third of the way in (of the first 10,000 calls: CallSids are random).
    sample = sorted(sid for sid, _, _ in page_rows(min(calls, 10_000)))
    cursor = sample[len(sample) // 3]
    out: dict[str, float] = {}
    for name, statuses in PAGE_QUERIES.items():
        for where, after in (("first", ""), ("further", cursor)):
            got = len(store.calls_page(*statuses, after=after, limit=PAGE_LIMIT))
            assert got == PAGE_LIMIT, (name, where, got)
            page = functools.partial(store.calls_page, *statuses, after=after, limit=PAGE_LIMIT)
            out[f"{name}_{where}_us"] = per_call_us(reps, page)
    # What /calls did before the cursor: every matching CallSid read, then one page sliced.
    out["numbered_page_us"] = per_call_us(
        max(1, reps // 100), lambda: store.calls_with_status(*CallStatus)[50:100]
    )
    return out


def pages(sizes: list[int], dsn: str | None, rounds: int, reps: int) -> dict[str, Any]:
    """Each store size a side of ``alternate``: its median round per figure, and the ratios.

    ``<kind>_<figure>_ratio`` (with its spread) is the largest store's figure
    over the smallest's, per round; ``<kind>_page_ratio_max`` the largest of
    those medians among the cursor pages (1.0: a million answer as a thousand).
    """
    out: dict[str, Any] = {"rounds": rounds}
    kinds = ["sqlite", "postgres"] if dsn else ["sqlite"]
    with tempfile.TemporaryDirectory() as tmp:
        stores: dict[str, EventStore] = {}
        schemas = []
        try:
            for size in sizes:
                stores[f"sqlite_{size}"] = fill_sqlite(Path(tmp) / f"pages{size}.sqlite", size)
                if dsn:
                    stores[f"postgres_{size}"], schema = fill_postgres(dsn, size)
                    schemas.append(schema)
            sides = {
                name: functools.partial(page_figures, store, int(name.rsplit("_", 1)[1]), reps)
                for name, store in stores.items()
            }
            measured = alternate(sides, rounds)
        finally:
            for store in stores.values():
                store.close()
            if schemas:
                import psycopg

                with psycopg.connect(dsn or "", autocommit=True) as conn:
                    for schema in schemas:
                        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    small, large = min(sizes), max(sizes)
    for kind in kinds:
        by_size = out[kind] = {}
        for size in sizes:
            runs = measured[f"{kind}_{size}"]
            by_size[str(size)] = rates({k: [run[k] for run in runs] for k in runs[0]}, suffix="")
        runs_small, runs_large = measured[f"{kind}_{small}"], measured[f"{kind}_{large}"]
        worst = 0.0
        for key in runs_small[0]:
            figures = ratio(
                f"{kind}_{key}", [r[key] for r in runs_large], [r[key] for r in runs_small]
            )
            out.update(figures)
            if key != "numbered_page_us":
                worst = max(worst, float(figures[f"{kind}_{key}_ratio"]))  # type: ignore[arg-type]
        out[f"{kind}_page_ratio_max"] = worst
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--dsn", default=os.environ.get("CALLSTATE_TEST_POSTGRES_DSN"))
    parser.add_argument("--runner", action="store_true", help="append through Runner.handle")
    parser.add_argument("--calls", type=int, default=2_000, help="calls per SQLite round")
    parser.add_argument("--pg-calls", type=int, default=100, help="calls per PostgreSQL worker")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of every side")
    parser.add_argument(
        "--pages", action="store_true", help="measure calls_page instead, over --page-calls"
    )
    parser.add_argument(
        "--page-calls",
        default="1000,1000000",
        help="store sizes for --pages, comma-separated (1000,1000000)",
    )
    parser.add_argument("--page-reps", type=int, default=200, help="pages per figure (200)")
    args = parser.parse_args()
    if args.pages:
        sizes = [int(n) for n in args.page_calls.split(",")]
        result = pages(sizes, args.dsn, args.rounds, args.page_reps)
        print(json.dumps(result) if args.json else json.dumps(result, indent=2))
        return
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
