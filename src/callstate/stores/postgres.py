"""The PostgreSQL store: many processes on many hosts, one database.

Needs the ``postgres`` extra (psycopg 3 and psycopg_pool); this is the only
module of callstate that imports them. Create the schema with ``migrate()``,
an explicit step that is safe to repeat and to run from many processes at
once (it holds an advisory lock while it works).

How an append stays correct under concurrency, in one statement:

1. the call's projection row moves from ``expected_version`` to the new
   version (insert it for a new call), provided none of the append's
   deliveries is in the call's log already; or nothing happens: a
   ``VersionConflict``. The row lock orders the writers of one call, so
   of two writers racing with copies of one delivery, one stores it.
2. the events are inserted, their positions drawn from a sequence.

Appends to different calls never wait for each other, so positions are
unique and grow with each call's versions, but they **may have gaps** (an
append that failed drew numbers) and may **commit out of order** (47 may
become visible before 46). ``read_all`` tolerates both: it never returns an
event while a smaller position could still commit. When it sees a hole
below the largest position it read, it waits (at most ``gap_wait``
seconds) for the transactions writing to the events table to finish, then
reads again: holes that remain are gaps for good. If they do not
finish in time it returns only the events before the hole. A subscriber
that resumes from the last position it processed sees every event once.

Every operation is bounded by ``timeout``, the wait for a connection
included, so a stalled database costs a caller seconds, never minutes. The
server bounds each statement a little sooner (``statement_timeout``,
``lock_timeout``, ``idle_in_transaction_session_timeout``) and TCP finds a dead peer
(keepalives, ``tcp_user_timeout``); a server that cannot answer at all (a
frozen host, a network that drops every packet) answers none of that, so a
watchdog thread shuts the socket of an operation still running at its
deadline: the operation fails at once with ``StoreTimeout`` and the pool
replaces the connection. An append that timed out may still have committed;
its retry is then a duplicate, never a second copy.

``lease(call_sid)`` lets one process at a time work on a call across every
process sharing the database (reconciliation's fetches): a session-level
advisory lock, ``pg_try_advisory_lock(hashtext(schema), hashtext(call_sid))``,
taken and released on one connection the store keeps out of its pool for
leases. If that connection breaks, the server releases its locks.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

import psycopg
import psycopg.errors
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from callstate._core._state import CallStatus
from callstate._core._values import DeliveryAccepted, Event
from callstate._errors import StoreTimeout, StoreUnavailable, UsageError, VersionConflict
from callstate.stores._codec import decode, delivery_key, encode
from callstate.stores._port import Append, SharedPaths, StoredEvent, check_append
from callstate.stores._side import KeyClaim, check_key, check_target

__all__ = ["PostgresStore"]

_SCHEMA: Final = (
    "CREATE SCHEMA IF NOT EXISTS {schema}",
    """CREATE TABLE IF NOT EXISTS {schema}.events (
        position BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        call_sid TEXT COLLATE "C" NOT NULL,
        version INTEGER NOT NULL,
        kind TEXT NOT NULL,
        data TEXT NOT NULL,
        delivery_key TEXT COLLATE "C",
        UNIQUE (call_sid, version)
    )""",
    """CREATE TABLE IF NOT EXISTS {schema}.calls (
        call_sid TEXT COLLATE "C" PRIMARY KEY,
        version INTEGER NOT NULL,
        status TEXT COLLATE "C" NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS calls_status ON {schema}.calls (status, call_sid)",
    # One row that probe() rewrites: a write outside the event log.
    "CREATE TABLE IF NOT EXISTS {schema}.probe (id INTEGER PRIMARY KEY, writes BIGINT NOT NULL)",
)
# Beside the log (stores/_side.py): POST /calls' idempotency keys, forward cursors.
_SIDE_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS {schema}.idempotency_keys (
        key TEXT COLLATE "C" PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        call_sid TEXT COLLATE "C"
    )""",
    """CREATE TABLE IF NOT EXISTS {schema}.forward_cursors (
        target TEXT COLLATE "C" PRIMARY KEY,
        position BIGINT NOT NULL
    )""",
)
# A concurrent claim of the same key waits for this one's insert to commit
# (the primary key's lock): then one of the two inserted it, and the other
# reads its row.
_CLAIM_KEY: Final = """
    INSERT INTO {schema}.idempotency_keys (key, fingerprint) VALUES (%s, %s)
    ON CONFLICT (key) DO NOTHING RETURNING 1"""
_HELD_KEY: Final = "SELECT fingerprint, call_sid FROM {schema}.idempotency_keys WHERE key = %s"
_SETTLE_KEY: Final = "UPDATE {schema}.idempotency_keys SET call_sid = %s WHERE key = %s"
_RELEASE_KEY: Final = "DELETE FROM {schema}.idempotency_keys WHERE key = %s AND call_sid IS NULL"
_CURSOR: Final = "SELECT position FROM {schema}.forward_cursors WHERE target = %s"
_CURSORS: Final = "SELECT target, position FROM {schema}.forward_cursors"
_MOVE_CURSOR: Final = """
    INSERT INTO {schema}.forward_cursors AS f (target, position) VALUES (%s, %s)
    ON CONFLICT (target) DO UPDATE SET position = greatest(f.position, excluded.position)"""
_PROBE: Final = """
    INSERT INTO {schema}.probe AS p (id, writes) VALUES (1, 1)
    ON CONFLICT (id) DO UPDATE SET writes = p.writes + 1"""
_NEW_CALL: Final = """
    INSERT INTO {schema}.calls (call_sid, version, status)
    VALUES (%(sid)s, %(new)s, %(status)s) ON CONFLICT DO NOTHING RETURNING 1"""
_OLD_CALL: Final = """
    UPDATE {schema}.calls SET version = %(new)s, status = %(status)s
    WHERE call_sid = %(sid)s AND version = %(expected)s AND NOT EXISTS (
        SELECT 1 FROM {schema}.events
        WHERE call_sid = %(sid)s AND delivery_key = ANY(%(dkeys)s::text[]))
    RETURNING 1"""
_APPEND: Final = """
    WITH claimed AS ({claim})
    INSERT INTO {schema}.events (call_sid, version, kind, data, delivery_key)
    SELECT %(sid)s, %(expected)s + e.ord, e.kind, e.data, e.dkey
    FROM claimed, unnest(%(kinds)s::text[], %(datas)s::text[], %(dkeys)s::text[])
        WITH ORDINALITY AS e(kind, data, dkey, ord)
    ORDER BY e.ord
    RETURNING position, version"""
# One event, the common case: scalar parameters rather than arrays (psycopg
# writes a text array's literal in Python, escaping every quote of the JSON).
_OLD_CALL_ONE: Final = """
    UPDATE {schema}.calls SET version = %(new)s, status = %(status)s
    WHERE call_sid = %(sid)s AND version = %(expected)s AND NOT EXISTS (
        SELECT 1 FROM {schema}.events
        WHERE call_sid = %(sid)s AND delivery_key = %(dkey)s::text)
    RETURNING 1"""
_APPEND_ONE: Final = """
    WITH claimed AS ({claim})
    INSERT INTO {schema}.events (call_sid, version, kind, data, delivery_key)
    SELECT %(sid)s, %(new)s, %(kind)s::text, %(data)s::text, %(dkey)s::text FROM claimed
    RETURNING position, version"""
# A page of calls by status: per status, the index (status, call_sid) read
# from the cursor on, ``limit`` rows at most; then the few rows merged. One
# prepared statement for any number of statuses; its cost does not grow with
# the calls stored (``status = ANY(...) ORDER BY call_sid`` would sort them all).
_PAGE: Final = """
    SELECT page.call_sid FROM unnest(%s::text[]) AS wanted(status)
    CROSS JOIN LATERAL (
        SELECT c.call_sid FROM {schema}.calls AS c
        WHERE c.status = wanted.status AND c.call_sid > %s
        ORDER BY c.call_sid LIMIT %s) AS page
    ORDER BY page.call_sid LIMIT %s"""
# Retention: calls at the versions given lose their row, then their events.
_DELETE: Final = """
    WITH gone AS (
        DELETE FROM {schema}.calls AS c
        USING unnest(%s::text[], %s::int[]) AS t(sid, version)
        WHERE c.call_sid = t.sid AND c.version = t.version
        RETURNING c.call_sid),
    events AS (
        DELETE FROM {schema}.events AS e USING gone WHERE e.call_sid = gone.call_sid)
    SELECT call_sid FROM gone ORDER BY call_sid"""
_TRY_LEASE: Final = "SELECT pg_try_advisory_lock(hashtext(%s), hashtext(%s))"
_END_LEASE: Final = "SELECT pg_advisory_unlock(hashtext(%s), hashtext(%s))"
_SELECT: Final = "SELECT position, call_sid, version, kind, data FROM {schema}.events"
# The transactions writing to the events table now (each holds a lock on it).
# A transaction-scoped advisory lock per call, taken in the array's order
# (the scan of unnest is in order, and each row's lock is taken as it is read).
_CLAIM_CALLS: Final = """
    SELECT count(pg_advisory_xact_lock(hashtextextended({name} || ':' || sid, 0)))
    FROM unnest(%s::text[]) AS calls(sid)"""
_WRITERS: Final = """
    SELECT array_agg(DISTINCT virtualtransaction) FROM pg_locks
    WHERE locktype = 'relation' AND relation = to_regclass({events})
      AND mode = 'RowExclusiveLock' AND pid <> pg_backend_pid()"""
_STILL_RUNNING: Final = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'virtualxid' AND virtualxid = ANY(%s)"
)


class PostgresStore(SharedPaths):
    """Calls' events in a PostgreSQL schema, through a connection pool.

    Give a ``dsn`` (the store opens and owns a pool of ``min_size`` to
    ``max_size`` connections) or your own ``pool`` (``autocommit`` must be on).
    ``timeout`` bounds each operation, the wait for a connection included:
    past it the operation raises ``StoreTimeout`` (a ``StoreUnavailable``).
    With a ``dsn`` the connections get the same bound on the server's side and
    on TCP's (see the module's docstring) unless the ``dsn`` sets its own; give
    your own ``pool`` such settings yourself. ``gap_wait`` bounds the wait of
    ``read_all`` for writers that may fill a hole.
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        schema: str = "callstate",
        pool: ConnectionPool[Any] | None = None,
        min_size: int = 1,
        max_size: int = 8,
        timeout: float = 10.0,
        gap_wait: float = 1.0,
    ) -> None:
        if (dsn is None) == (pool is None):
            raise UsageError("give PostgresStore a dsn or a pool, not both or neither")
        if not (timeout > 0 and math.isfinite(timeout)):
            raise UsageError(f"timeout must be a positive number of seconds, not {timeout!r}")
        self._schema = schema
        self._timeout = timeout
        self._gap_wait = gap_wait
        self._owns_pool = pool is None
        if pool is None:
            pool = ConnectionPool(
                dsn or "",
                min_size=min_size,
                max_size=max_size,
                kwargs={"autocommit": True, **_bounds(dsn or "", timeout, os.environ)},
                timeout=timeout,
                open=False,
            )
            pool.open(wait=False)
        self._pool: ConnectionPool[Any] = pool
        # The connection leases are taken on (session locks), made when first needed.
        self._lease_conn: psycopg.Connection[Any] | None = None
        self._lease_lock = threading.Lock()
        self._closed = False
        self._lock = threading.Lock()
        self._watchdog = _Watchdog(timeout)
        # Per pooled connection, the cursor the hot statements reuse.
        self._pinned: dict[int, _Pinned] = {}
        ident = sql.Identifier(schema)

        def q(text: str, **parts: sql.Composable) -> sql.Composed:
            return sql.SQL(text).format(schema=ident, **parts)

        self._q_schema = tuple(q(s) for s in (*_SCHEMA, *_SIDE_SCHEMA))
        self._q_side = {
            name: q(text)
            for name, text in (
                ("claim", _CLAIM_KEY),
                ("held", _HELD_KEY),
                ("settle", _SETTLE_KEY),
                ("release", _RELEASE_KEY),
                ("cursor", _CURSOR),
                ("cursors", _CURSORS),
                ("move", _MOVE_CURSOR),
            )
        }
        self._q_new = q(_APPEND, claim=q(_NEW_CALL))
        self._q_old = q(_APPEND, claim=q(_OLD_CALL))
        self._r_new = _Rendered(self._q_new)
        self._r_old = _Rendered(self._q_old)
        self._r_new_one = _Rendered(q(_APPEND_ONE, claim=q(_NEW_CALL)))
        self._r_old_one = _Rendered(q(_APPEND_ONE, claim=q(_OLD_CALL_ONE)))
        self._q_version = q("SELECT version FROM {schema}.calls WHERE call_sid = %s")
        self._q_claim_calls = q(_CLAIM_CALLS, name=sql.Literal(self._schema))
        self._r_load = _Rendered(
            q(_SELECT + " WHERE call_sid = %s AND version > %s ORDER BY version")
        )
        self._q_read = q(_SELECT + " WHERE position > %s ORDER BY position LIMIT %s")
        self._q_range = q(
            _SELECT + " WHERE position > %s AND position <= %s ORDER BY position LIMIT %s"
        )
        quoted = '"' + schema.replace('"', '""') + '".events'
        self._q_writers = q(_WRITERS, events=sql.Literal(quoted))
        self._q_probe = q(_PROBE)
        self._q_status = q(
            "SELECT call_sid FROM {schema}.calls WHERE status = ANY(%s) ORDER BY call_sid"
        )
        self._q_page = q(_PAGE)
        self._q_count = q("SELECT status, count(*) FROM {schema}.calls GROUP BY status")
        self._q_delete = q(_DELETE)

    @property
    def schema(self) -> str:
        return self._schema

    def _connection(self) -> _Lease:
        """A pooled connection for one operation (``with``): psycopg's errors become callstate's."""
        if self._closed:
            raise StoreUnavailable("the PostgreSQL store is closed")
        return _Lease(self)

    def _translated(self, exc: Exception) -> StoreUnavailable:
        """The one place psycopg's errors become callstate's."""
        if isinstance(exc, PoolTimeout):
            return StoreTimeout(f"no PostgreSQL connection within {self._timeout}s")
        if isinstance(exc, psycopg.errors.QueryCanceled):  # statement_timeout
            return StoreTimeout(f"PostgreSQL did not finish a statement within {self._timeout}s")
        if isinstance(exc, psycopg.errors.LockNotAvailable):  # lock_timeout
            return StoreTimeout(f"PostgreSQL did not grant a lock within {self._timeout}s")
        if isinstance(exc, (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName)):
            return StoreUnavailable(
                f"schema {self._schema!r} is not migrated: call PostgresStore.migrate() ({exc})"
            )
        return StoreUnavailable(f"PostgreSQL: {exc}")

    def migrate(self) -> None:
        """Create the schema, tables and indexes that are missing. Safe to repeat."""
        with self._connection() as conn, conn.transaction():
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"callstate:{self._schema}"]
            )
            for statement in self._q_schema:
                conn.execute(statement)

    def _append_one(
        self, call_sid: str, expected_version: int, event: Event, status: CallStatus
    ) -> tuple[StoredEvent, ...]:
        item = Append(
            call_sid=call_sid, expected_version=expected_version, events=(event,), status=status
        )
        with self._connection() as conn:
            stored = self._append(conn, item, _params_one(item))
            if isinstance(stored, VersionConflict):
                raise stored
            return stored

    def append_many(self, appends: Sequence[Append]) -> tuple[StoredEvent, ...]:
        for item in appends:
            check_append(item)
        batch = [(item, _params(item)) for item in appends]
        repeats = _repeats(batch)
        out: list[StoredEvent] = []
        calls = sorted({item.call_sid for item in appends})
        with self._connection() as conn:
            conflict: VersionConflict | None = None
            with contextlib.suppress(_Rollback), conn.transaction():
                if len(calls) > 1:
                    # The batch's calls are claimed first, in one order (their ids):
                    # two batches naming the same calls in other orders would each
                    # hold a row the other waits for, and PostgreSQL would fail one
                    # as a deadlock. The events still take positions in the batch's
                    # order. (A one-call append holds one call's rows: no cycle.)
                    conn.execute(self._q_claim_calls, [calls], prepare=True)
                for item, params in batch:
                    stored = self._append(conn, item, params, savepoint=True, repeats=repeats)
                    if isinstance(stored, VersionConflict):
                        conflict = stored
                        raise _Rollback
                    out.extend(stored)
            if conflict is not None:
                raise conflict
        return tuple(out)

    def _append(
        self,
        conn: psycopg.Connection[Any],
        item: Append,
        params: dict[str, Any],
        *,
        savepoint: bool = False,
        repeats: Append | None = None,
    ) -> tuple[StoredEvent, ...] | VersionConflict:
        if "kinds" in params:
            statement = self._r_new if item.expected_version == 0 else self._r_old
        else:
            statement = self._r_new_one if item.expected_version == 0 else self._r_old_one
        pinned = self._pinned_to(conn)
        query = statement.text(pinned.encoding, conn)
        cursor = pinned.cursor
        try:
            if item is repeats:
                rows = []  # a delivery twice in one batch: it is stored once
            elif savepoint:
                with conn.transaction():
                    rows = cursor.execute(query, params, prepare=True).fetchall()
            else:
                rows = cursor.execute(query, params, prepare=True).fetchall()
        except psycopg.errors.UniqueViolation:
            rows = []
        if len(rows) != len(item.events):
            row = conn.execute(self._q_version, [item.call_sid]).fetchone()
            actual = 0 if row is None else int(row[0])
            return VersionConflict(item.call_sid, item.expected_version, actual)
        positions = {version: position for position, version in rows}
        return tuple(
            StoredEvent(
                position=positions[version],
                call_sid=item.call_sid,
                version=version,
                event=event,
            )
            for version, event in enumerate(item.events, start=item.expected_version + 1)
        )

    def _pinned_to(self, conn: psycopg.Connection[Any]) -> _Pinned:
        """``conn``'s reusable cursor (a new cursor per statement costs more than the send)."""
        pinned = self._pinned.get(id(conn))
        if pinned is None or pinned.cursor.connection is not conn:
            # Forget the connections the pool has closed (their ids may come back).
            # Threads may purge at once: an entry already gone is no error.
            for key, old in list(self._pinned.items()):
                if old.cursor.connection.closed and self._pinned.get(key) is old:
                    self._pinned.pop(key, None)
            pinned = self._pinned[id(conn)] = _Pinned(conn)
        return pinned

    def load(self, call_sid: str, after_version: int = 0) -> tuple[StoredEvent, ...]:
        with self._connection() as conn:
            pinned = self._pinned_to(conn)
            query = self._r_load.text(pinned.encoding, conn)
            rows = pinned.cursor.execute(query, [call_sid, after_version], prepare=True).fetchall()
        return _stored(rows)

    def read_all(self, after: int = 0, limit: int = 1_000) -> tuple[StoredEvent, ...]:
        with self._connection() as conn:
            rows = conn.execute(self._q_read, [after, limit], prepare=True).fetchall()
            end = _first_hole(rows, after)
            if end == len(rows):
                return _stored(rows)
            # A hole below what was read. Only a writer still running can fill
            # it; once those running now have ended, the holes left are gaps.
            row = conn.execute(self._q_writers, prepare=True).fetchone()
            writers = row[0] if row else None
            if not writers:
                return _stored(rows)
            if not self._wait_for(conn, writers):
                return _stored(rows[:end])
            rows = conn.execute(self._q_range, [after, rows[-1][0], limit], prepare=True).fetchall()
        return _stored(rows)

    def _wait_for(self, conn: psycopg.Connection[Any], writers: list[str]) -> bool:
        """Whether every one of ``writers`` (transactions) ended within ``gap_wait``."""
        deadline = time.monotonic() + self._gap_wait
        pause = 0.0005
        while True:
            row = conn.execute(_STILL_RUNNING, [writers], prepare=True).fetchone()
            if row is None or not row[0]:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def probe(self) -> None:
        """Commit a write outside the event log, as an append would.

        Raises ``StoreUnavailable`` (``StoreTimeout`` past ``timeout``) when a
        write cannot be done now: what a health check asks.
        """
        with self._connection() as conn:
            conn.execute(self._q_probe)

    def calls_with_status(self, *statuses: CallStatus) -> tuple[str, ...]:
        if not statuses:
            return ()
        with self._connection() as conn:
            rows = conn.execute(
                self._q_status, [[CallStatus(s).value for s in statuses]]
            ).fetchall()
        return tuple(row[0] for row in rows)

    def _page(self, wanted: tuple[CallStatus, ...], after: str, limit: int) -> tuple[str, ...]:
        with self._connection() as conn:
            rows = conn.execute(
                self._q_page, [[s.value for s in wanted], after, limit, limit], prepare=True
            ).fetchall()
        return tuple(row[0] for row in rows)

    # Beside the log: see stores/_side.py.

    def claim_key(self, key: str, fingerprint: str) -> KeyClaim | None:
        check_key(key, fingerprint)
        side = self._q_side
        with self._connection() as conn:
            while True:
                with conn.transaction():
                    if conn.execute(side["claim"], [key, fingerprint]).fetchone():
                        return None
                    row = conn.execute(side["held"], [key]).fetchone()
                if row is not None:
                    return KeyClaim(fingerprint=row[0], call_sid=row[1])
                # Released between the two statements: claim it again.

    def settle_key(self, key: str, call_sid: str) -> None:
        with self._connection() as conn:
            conn.execute(self._q_side["settle"], [call_sid, key])

    def release_key(self, key: str) -> None:
        with self._connection() as conn:
            conn.execute(self._q_side["release"], [key])

    def forward_position(self, target: str) -> int:
        with self._connection() as conn:
            row = conn.execute(self._q_side["cursor"], [target]).fetchone()
        return 0 if row is None else int(row[0])

    def set_forward_position(self, target: str, position: int) -> None:
        check_target(target, position)
        with self._connection() as conn:
            conn.execute(self._q_side["move"], [target, position])

    def forward_positions(self) -> dict[str, int]:
        with self._connection() as conn:
            rows = conn.execute(self._q_side["cursors"]).fetchall()
        return {target: int(position) for target, position in rows}

    def delete_calls(self, versions: Mapping[str, int]) -> tuple[str, ...]:
        """Remove the events and projection row of each call still at its version in ``versions``.

        Retention's one write: one statement, so one short transaction. The
        projection row is deleted only at the version given (a writer that
        appended since holds or moved the row, and the call is kept); its
        events go with it. Positions come from an identity column and are
        never handed out again. Answers the CallSids removed.
        """
        if not versions:
            return ()
        sids, numbers = list(versions), list(versions.values())
        with self._connection() as conn:
            rows = conn.execute(self._q_delete, [sids, numbers]).fetchall()
        return tuple(row[0] for row in rows)

    def count_by_status(self) -> dict[CallStatus, int]:
        """How many calls have each current status (from the status index)."""
        with self._connection() as conn:
            rows = conn.execute(self._q_count).fetchall()
        known = {s.value: s for s in CallStatus}
        return {known[status]: int(n) for status, n in rows if status in known}

    @contextlib.contextmanager
    def lease(self, call_sid: str) -> Iterator[bool]:
        """Hold the call's lease for the block: True, or False if another holder has it.

        Never waits for the lease: a process told False leaves the call to
        its holder. The lease is a session advisory lock (see the module's
        docstring), released when the block ends, whatever happened in it.
        """
        args = [f"callstate:lease:{self._schema}", call_sid]
        if not self._on_lease_connection(_TRY_LEASE, args):
            yield False
            return
        try:
            yield True
        finally:
            self._on_lease_connection(_END_LEASE, args)

    def _on_lease_connection(self, statement: str, args: list[str]) -> bool:
        with self._lease_lock:
            if self._closed:
                raise StoreUnavailable("the PostgreSQL store is closed")
            conn = self._lease_conn
            try:
                if conn is None or conn.closed:
                    conn = self._lease_conn = self._pool.getconn(timeout=self._timeout)
                row = conn.execute(statement, args).fetchone()
            except psycopg.Error as exc:
                self._drop_lease_connection()  # its locks went with it
                raise self._translated(exc) from exc
        return bool(row and row[0])

    def _drop_lease_connection(self) -> None:
        conn, self._lease_conn = self._lease_conn, None
        if conn is not None:
            conn.close()
            with contextlib.suppress(psycopg.Error):
                self._pool.putconn(conn)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        with self._lease_lock:
            self._drop_lease_connection()
        if self._owns_pool:
            self._pool.close()
        self._watchdog.stop()

    def __repr__(self) -> str:
        return f"PostgresStore(schema={self._schema!r})"


class _Lease:
    """A connection borrowed from the pool for one ``with`` block, then given back.

    Given back as it is: in autocommit mode no transaction is left open, and
    the pool replaces a connection that broke. psycopg's errors raised in the
    block (or by the pool) leave it as ``StoreUnavailable``. The block runs
    under the store's watchdog: past the store's ``timeout`` (from the
    moment the lease was asked for) its connection is cut off.
    """

    __slots__ = ("_conn", "_cut", "_store")

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self._conn: psycopg.Connection[Any] | None = None
        self._cut = False  # set by the watchdog, under its lock

    def __enter__(self) -> psycopg.Connection[Any]:
        store = self._store
        watchdog = store._watchdog
        watchdog.arm(self)
        try:
            conn: psycopg.Connection[Any] = store._pool.getconn(timeout=store._timeout)
        except psycopg.Error as exc:  # PoolTimeout, PoolClosed, a failed connect
            watchdog.disarm(self)
            raise store._translated(exc) from exc
        if not watchdog.attach(self, conn):  # its time ran out while it waited
            store._pool.putconn(conn)
            raise StoreTimeout(f"no PostgreSQL connection within {store._timeout}s")
        return conn

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        store = self._store
        cut = not store._watchdog.disarm(self)
        conn = self._conn
        assert conn is not None  # attached in __enter__
        if cut:
            conn.close()  # its socket is shut: the pool discards it
        try:
            store._pool.putconn(conn)
        except psycopg.Error as error:
            if exc is None:
                raise store._translated(error) from error
        if cut and isinstance(exc, psycopg.Error):
            # The block failed because its socket was shut (a block that
            # finished first keeps its result: it knows what it did).
            raise StoreTimeout(f"PostgreSQL did not answer within {store._timeout}s") from exc
        if isinstance(exc, psycopg.Error):
            raise store._translated(exc) from exc

    def cut(self) -> None:
        """Shut the connection's socket (the watchdog calls this, under its lock)."""
        self._cut = True
        conn = self._conn
        if conn is None or conn.closed:
            return
        # shutdown() acts on the socket, not on this duplicate descriptor: the
        # thread waiting on the connection's own descriptor wakes up.
        with (
            contextlib.suppress(OSError, psycopg.Error),
            socket.socket(fileno=os.dup(conn.pgconn.socket)) as sock,
        ):
            sock.shutdown(socket.SHUT_RDWR)


class _Watchdog:
    """Cuts off the leases still running ``seconds`` after they were armed.

    Every deadline is its arming time plus the same ``seconds``, so leases
    fall due in the order they were armed: the first one armed is always the
    next due. Arming never wakes the watching thread: while nothing is
    armed it sleeps ``seconds``, which ends before any lease armed meanwhile
    falls due. Leases are at most one per thread running an operation.
    """

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._cond = threading.Condition(threading.Lock())
        self._armed: dict[_Lease, float] = {}  # lease -> deadline, oldest first
        self._thread: threading.Thread | None = None
        self._stopped = False

    def arm(self, lease: _Lease) -> None:
        deadline = time.monotonic() + self._seconds
        with self._cond:
            self._armed[lease] = deadline
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(
                    target=self._watch, name="callstate-postgres-watchdog", daemon=True
                )
                self._thread.start()

    def attach(self, lease: _Lease, conn: psycopg.Connection[Any]) -> bool:
        """Give ``lease`` its connection; False if the lease was cut off already."""
        with self._cond:
            lease._conn = conn
            return not lease._cut

    def disarm(self, lease: _Lease) -> bool:
        """Whether ``lease`` was still armed (False: the watchdog cut it off)."""
        with self._cond:
            return self._armed.pop(lease, None) is not None

    def _watch(self) -> None:
        with self._cond:
            while not self._stopped:
                now = time.monotonic()
                pause = self._seconds
                for lease, deadline in list(self._armed.items()):
                    if deadline > now:
                        pause = deadline - now
                        break
                    del self._armed[lease]
                    lease.cut()
                self._cond.wait(pause)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            thread, self._thread = self._thread, None
            self._cond.notify_all()
        if thread is not None:
            thread.join()


class _Pinned:
    """What the store keeps per pooled connection: a cursor and the client encoding.

    A connection serves one thread at a time, and so does its cursor. The
    encoding is read once: it is set when the connection is made.
    """

    __slots__ = ("cursor", "encoding")

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.cursor = conn.cursor()
        self.encoding = conn.info.encoding


class _Rendered:
    """A composed statement, turned into bytes once per client encoding.

    psycopg renders a ``sql.Composed`` on every execute; the hot statements
    keep their bytes (the schema's quoted name depends only on the encoding).
    """

    __slots__ = ("_composed", "_rendered")

    def __init__(self, composed: sql.Composed) -> None:
        self._composed = composed
        self._rendered = ("", b"")  # (encoding, bytes), replaced as one value

    def text(self, encoding: str, conn: psycopg.Connection[Any]) -> bytes:
        rendered = self._rendered
        if rendered[0] != encoding:
            rendered = self._rendered = (encoding, self._composed.as_bytes(conn))
        return rendered[1]


class _Rollback(Exception):
    """Leave a transaction block, rolling it back."""


#: The libpq environment variables of the parameters ``_bounds`` sets.
_LIBPQ_ENVIRONMENT: Final = {"PGCONNECT_TIMEOUT": "connect_timeout", "PGOPTIONS": "options"}


def _bounds(dsn: str, timeout: float, environ: Mapping[str, str]) -> dict[str, Any]:
    """Connection parameters that bound each connection's waits by ``timeout``.

    The server's own bounds come first, so a statement that is merely slow
    is cancelled by the server (the connection stays usable) before the
    watchdog cuts the connection off at ``timeout``: a lock wait ends at 3/5
    of it (``lock_timeout``), any statement or idle transaction at 4/5. TCP
    keepalives and ``tcp_user_timeout`` notice a peer that vanished;
    ``connect_timeout`` bounds a connection's making (libpq counts whole
    seconds, at least 2). Parameters the ``dsn`` sets win, and its own
    ``options`` come after these; so do libpq's ``PGCONNECT_TIMEOUT`` and
    ``PGOPTIONS`` in ``environ`` (the ``dsn`` over them, as libpq has it).
    """
    try:
        given = conninfo_to_dict(dsn)
    except psycopg.Error:
        raise UsageError("dsn: is not a PostgreSQL connection string") from None
    # libpq's environment counts as given too: a keyword argument would
    # silently override PGCONNECT_TIMEOUT or PGOPTIONS.
    given = {
        **{key: environ[name] for name, key in _LIBPQ_ENVIRONMENT.items() if environ.get(name)},
        **given,
    }
    ms = max(1, round(timeout * 1000))
    seconds = max(1, math.ceil(timeout))
    bounds: dict[str, Any] = {
        "connect_timeout": max(2, seconds),
        "keepalives": 1,
        "keepalives_idle": seconds,
        "keepalives_interval": max(1, math.ceil(timeout / 3)),
        "keepalives_count": 3,
        "tcp_user_timeout": ms,
    }
    out = {key: value for key, value in bounds.items() if key not in given}
    settings = " ".join(
        f"-c {name}={max(1, round(timeout * share))}"
        for name, share in (
            ("lock_timeout", 600),
            ("statement_timeout", 800),
            ("idle_in_transaction_session_timeout", 800),
        )
    )
    out["options"] = f"{settings} {given['options']}" if given.get("options") else settings
    return out


def _first_hole(rows: Sequence[tuple[Any, ...]], after: int) -> int:
    """How many of ``rows`` come before the first missing position."""
    expected = after + 1
    for i, row in enumerate(rows):
        if row[0] != expected:
            return i
        expected += 1
    return len(rows)


def _repeats(batch: Sequence[tuple[Append, dict[str, Any]]]) -> Append | None:
    """The first append of ``batch`` that repeats a delivery of its call in the batch."""
    seen: dict[str, set[str]] = {}
    for item, params in batch:
        keys = [key for key in params["dkeys"] if key is not None]
        earlier = seen.setdefault(item.call_sid, set())
        if len(set(keys)) != len(keys) or earlier.intersection(keys):
            return item
        earlier.update(keys)
    return None


def _params(item: Append) -> dict[str, Any]:
    kinds, datas, keys = [], [], []
    for event in item.events:
        kind, data = encode(event)
        kinds.append(kind)
        datas.append(data)
        keys.append(delivery_key(event.delivery) if isinstance(event, DeliveryAccepted) else None)
    return {
        "sid": item.call_sid,
        "expected": item.expected_version,
        "new": item.expected_version + len(item.events),
        "status": item.status.value,
        "n": len(item.events),
        "kinds": kinds,
        "datas": datas,
        "dkeys": keys,
    }


def _params_one(item: Append) -> dict[str, Any]:
    """``_params`` of an append of one event, for the scalar statements."""
    (event,) = item.events
    kind, data = encode(event)
    return {
        "sid": item.call_sid,
        "expected": item.expected_version,
        "new": item.expected_version + 1,
        "status": item.status.value,
        "kind": kind,
        "data": data,
        "dkey": delivery_key(event.delivery) if isinstance(event, DeliveryAccepted) else None,
    }


def _stored(rows: Sequence[tuple[Any, ...]]) -> tuple[StoredEvent, ...]:
    return tuple(
        StoredEvent(position=p, call_sid=sid, version=v, event=decode(kind, data))
        for p, sid, v, kind, data in rows
    )
