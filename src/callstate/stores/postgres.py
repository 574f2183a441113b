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
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from typing import Any, Final

import psycopg
import psycopg.errors
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from callstate._core._state import CallStatus
from callstate._core._values import DeliveryAccepted, Event
from callstate._errors import StoreUnavailable, UsageError, VersionConflict
from callstate.stores._codec import decode, delivery_key, encode
from callstate.stores._port import Append, StoredEvent, check_append

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
)
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
_SELECT: Final = "SELECT position, call_sid, version, kind, data FROM {schema}.events"
# The transactions writing to the events table now (each holds a lock on it).
_WRITERS: Final = """
    SELECT array_agg(DISTINCT virtualtransaction) FROM pg_locks
    WHERE locktype = 'relation' AND relation = to_regclass({events})
      AND mode = 'RowExclusiveLock' AND pid <> pg_backend_pid()"""
_STILL_RUNNING: Final = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'virtualxid' AND virtualxid = ANY(%s)"
)


class PostgresStore:
    """Calls' events in a PostgreSQL schema, through a connection pool.

    Give a ``dsn`` (the store opens and owns a pool of ``min_size`` to
    ``max_size`` connections) or your own ``pool`` (``autocommit`` must be on).
    ``timeout`` bounds the wait for a connection before ``StoreUnavailable``;
    ``gap_wait`` the wait of ``read_all`` for writers that may fill a hole.
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
        self._schema = schema
        self._timeout = timeout
        self._gap_wait = gap_wait
        self._owns_pool = pool is None
        if pool is None:
            pool = ConnectionPool(
                dsn or "",
                min_size=min_size,
                max_size=max_size,
                kwargs={"autocommit": True},
                timeout=timeout,
                open=False,
            )
            pool.open(wait=False)
        self._pool: ConnectionPool[Any] = pool
        self._closed = False
        self._lock = threading.Lock()
        # Per pooled connection, the cursor the hot statements reuse.
        self._pinned: dict[int, _Pinned] = {}
        ident = sql.Identifier(schema)

        def q(text: str, **parts: sql.Composable) -> sql.Composed:
            return sql.SQL(text).format(schema=ident, **parts)

        self._q_schema = tuple(q(s) for s in _SCHEMA)
        self._q_new = q(_APPEND, claim=q(_NEW_CALL))
        self._q_old = q(_APPEND, claim=q(_OLD_CALL))
        self._r_new = _Rendered(self._q_new)
        self._r_old = _Rendered(self._q_old)
        self._r_new_one = _Rendered(q(_APPEND_ONE, claim=q(_NEW_CALL)))
        self._r_old_one = _Rendered(q(_APPEND_ONE, claim=q(_OLD_CALL_ONE)))
        self._q_version = q("SELECT version FROM {schema}.calls WHERE call_sid = %s")
        self._r_load = _Rendered(
            q(_SELECT + " WHERE call_sid = %s AND version > %s ORDER BY version")
        )
        self._q_read = q(_SELECT + " WHERE position > %s ORDER BY position LIMIT %s")
        self._q_range = q(
            _SELECT + " WHERE position > %s AND position <= %s ORDER BY position LIMIT %s"
        )
        quoted = '"' + schema.replace('"', '""') + '".events'
        self._q_writers = q(_WRITERS, events=sql.Literal(quoted))
        self._q_status = q(
            "SELECT call_sid FROM {schema}.calls WHERE status = ANY(%s) ORDER BY call_sid"
        )

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
            return StoreUnavailable(f"no PostgreSQL connection within {self._timeout}s")
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

    def append(
        self,
        call_sid: str,
        expected_version: int,
        events: Sequence[Event],
        *,
        status: CallStatus,
    ) -> tuple[StoredEvent, ...]:
        item = Append(
            call_sid=call_sid,
            expected_version=expected_version,
            events=tuple(events),
            status=status,
        )
        check_append(item)
        if len(item.events) == 1:  # one event cannot repeat a delivery of its own append
            params, repeats = _params_one(item), None
        else:
            params = _params(item)
            repeats = _repeats([(item, params)])
        with self._connection() as conn:
            stored = self._append(conn, item, params, repeats=repeats)
            if isinstance(stored, VersionConflict):
                raise stored
            return stored

    def append_many(self, appends: Sequence[Append]) -> tuple[StoredEvent, ...]:
        for item in appends:
            check_append(item)
        batch = [(item, _params(item)) for item in appends]
        repeats = _repeats(batch)
        out: list[StoredEvent] = []
        with self._connection() as conn:
            conflict: VersionConflict | None = None
            with contextlib.suppress(_Rollback), conn.transaction():
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

    def calls_with_status(self, *statuses: CallStatus) -> tuple[str, ...]:
        if not statuses:
            return ()
        with self._connection() as conn:
            rows = conn.execute(
                self._q_status, [[CallStatus(s).value for s in statuses]]
            ).fetchall()
        return tuple(row[0] for row in rows)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._owns_pool:
            self._pool.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PostgresStore(schema={self._schema!r})"


class _Lease:
    """A connection borrowed from the pool for one ``with`` block, then given back.

    Given back as it is: in autocommit mode no transaction is left open, and
    the pool replaces a connection that broke. psycopg's errors raised in the
    block (or by the pool) leave it as ``StoreUnavailable``.
    """

    __slots__ = ("_conn", "_store")

    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    def __enter__(self) -> psycopg.Connection[Any]:
        store = self._store
        try:
            conn: psycopg.Connection[Any] = store._pool.getconn(timeout=store._timeout)
        except psycopg.Error as exc:  # PoolTimeout, PoolClosed, a failed connect
            raise store._translated(exc) from exc
        self._conn = conn
        return conn

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        store = self._store
        try:
            store._pool.putconn(self._conn)
        except psycopg.Error as error:
            if exc is None:
                raise store._translated(error) from error
        if isinstance(exc, psycopg.Error):
            raise store._translated(exc) from exc


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
