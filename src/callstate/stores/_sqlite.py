"""The SQLite store: one file, WAL, the default for a single machine.

Writers take turns on SQLite's write lock (``BEGIN IMMEDIATE``), so positions
are handed out in commit order with no gaps. Any number of processes may open
the same file; a writer waits up to ``timeout`` seconds for the lock, then the
store raises ``StoreUnavailable``.

The schema keeps each append to a few small writes: a call gets an integer
id in ``callstate_calls`` (its projection row: version and status), and its
events are keyed by (call id, version). Claiming the next version moves the
projection row and checks, in the same statement, that no delivery of the
append is in the call's log already.

Durability: in WAL mode with ``synchronous="NORMAL"`` (the default) a
committed append survives the process being killed at any moment; a power
loss may forget the last transactions (never corrupt the file). Choose
``synchronous="FULL"`` to survive that too, at the cost of an fsync per append.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Final

from callstate._core._state import CallStatus
from callstate._core._values import DeliveryAccepted, Event
from callstate._errors import StoreTimeout, StoreUnavailable, UsageError, VersionConflict
from callstate.stores._codec import decode, delivery_key, encode
from callstate.stores._port import Append, SharedPaths, StoredEvent, check_append
from callstate.stores._side import KeyClaim, check_key, check_target

__all__ = ["SQLiteStore"]

_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS callstate_calls (
        id INTEGER PRIMARY KEY,
        call_sid TEXT NOT NULL UNIQUE,
        version INTEGER NOT NULL,
        status TEXT NOT NULL
    )""",
    # Calls by status in CallSid order, for calls_page (and calls_with_status).
    """CREATE INDEX IF NOT EXISTS callstate_calls_by_status
        ON callstate_calls (status, call_sid)""",
    "DROP INDEX IF EXISTS callstate_calls_status",  # the index before it, (status) alone
    """CREATE TABLE IF NOT EXISTS callstate_events (
        position INTEGER PRIMARY KEY,
        call_id INTEGER NOT NULL,
        version INTEGER NOT NULL,
        kind TEXT NOT NULL,
        data TEXT NOT NULL,
        delivery_key TEXT
    )""",
    """CREATE UNIQUE INDEX IF NOT EXISTS callstate_events_call
        ON callstate_events (call_id, version)""",
    # One row that probe() rewrites: a write outside the event log.
    "CREATE TABLE IF NOT EXISTS callstate_probe (id INTEGER PRIMARY KEY, writes INTEGER NOT NULL)",
)
# Beside the log (stores/_side.py): POST /calls' idempotency keys, forward cursors.
_SIDE_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS callstate_idempotency_keys (
        key TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        call_sid TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS callstate_forward_cursors (
        target TEXT PRIMARY KEY,
        position INTEGER NOT NULL
    )""",
)
_CLAIM_KEY: Final = (
    "INSERT INTO callstate_idempotency_keys (key, fingerprint) VALUES (?, ?)"
    " ON CONFLICT (key) DO NOTHING"
)
_HELD_KEY: Final = "SELECT fingerprint, call_sid FROM callstate_idempotency_keys WHERE key = ?"
_SETTLE_KEY: Final = "UPDATE callstate_idempotency_keys SET call_sid = ? WHERE key = ?"
_RELEASE_KEY: Final = "DELETE FROM callstate_idempotency_keys WHERE key = ? AND call_sid IS NULL"
_CURSOR: Final = "SELECT position FROM callstate_forward_cursors WHERE target = ?"
_MOVE_CURSOR: Final = (
    "INSERT INTO callstate_forward_cursors (target, position) VALUES (?, ?)"
    " ON CONFLICT (target) DO UPDATE SET position = max(position, excluded.position)"
)
_PROBE: Final = (
    "INSERT INTO callstate_probe (id, writes) VALUES (1, 1)"
    " ON CONFLICT (id) DO UPDATE SET writes = writes + 1"
)
_CLAIM: Final = (
    "UPDATE callstate_calls SET version = ?, status = ? WHERE call_sid = ? AND version = ?"
)
_NO_DUPLICATE: Final = (
    " AND NOT EXISTS (SELECT 1 FROM callstate_events AS e"
    " WHERE e.call_id = callstate_calls.id AND e.delivery_key {test})"
)
_CLAIM_PLAIN: Final = _CLAIM + " RETURNING id"
# With the call's id known (an id never changes; retention deletes a row, and a
# claim that fails forgets the id it used), no
# RETURNING: SQLite buffers a RETURNING statement's rows, which costs more
# than the UPDATE itself. The row count says whether the claim held.
_CLAIM_NEW_BARE: Final = (
    "INSERT INTO callstate_calls (call_sid, version, status) VALUES (?, ?, ?)"
    " ON CONFLICT (call_sid) DO NOTHING"
)
_CLAIM_ID: Final = "UPDATE callstate_calls SET version = ?, status = ? WHERE id = ? AND version = ?"
_CLAIM_ID_ONE: Final = _CLAIM_ID + _NO_DUPLICATE.format(test="= ?")
_CLAIM_ID_MANY: Final = _CLAIM_ID + _NO_DUPLICATE.format(test="IN (SELECT value FROM json_each(?))")
_KNOWN_IDS: Final = 100_000  # how many calls' ids a store remembers
_CLAIM_ONE: Final = _CLAIM + _NO_DUPLICATE.format(test="= ?") + " RETURNING id"
_CLAIM_MANY: Final = (
    _CLAIM + _NO_DUPLICATE.format(test="IN (SELECT value FROM json_each(?))") + " RETURNING id"
)
_INSERT: Final = (
    "INSERT INTO callstate_events (position, call_id, version, kind, data, delivery_key)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_VERSION: Final = "SELECT version FROM callstate_calls WHERE call_sid = ?"
_LOAD: Final = (
    "SELECT e.position, e.version, e.kind, e.data FROM callstate_events AS e"
    " WHERE e.call_id = (SELECT id FROM callstate_calls WHERE call_sid = ?)"
    " AND e.version > ? ORDER BY e.version"
)
_READ: Final = (
    "SELECT e.position, c.call_sid, e.version, e.kind, e.data"
    " FROM callstate_events AS e JOIN callstate_calls AS c ON c.id = e.call_id"
    " WHERE e.position > ? ORDER BY e.position LIMIT ?"
)
# One arm per status, merged in CallSid order: SQLite reads each arm from the
# (status, call_sid) index already in order and stops at the LIMIT, so a page
# reads about ``limit`` index entries per status however many calls there are
# (``status IN (...)`` would sort every matching call, or walk the CallSids).
# INDEXED BY, because with ANALYZE's statistics (an average per status) the
# planner may walk the CallSid index instead, filtering: as many rows as it
# takes to find ``limit`` of a rare status.
_PAGE_ARM: Final = (
    "SELECT call_sid FROM callstate_calls INDEXED BY callstate_calls_by_status"
    " WHERE status = ? AND call_sid > ?"
)
_SYNCHRONOUS: Final = ("OFF", "NORMAL", "FULL", "EXTRA")
# Retention: the rows SQLite's next row ids are drawn from (kept), and a call at a version.
_NEWEST: Final = (
    "SELECT call_id FROM callstate_events WHERE position = (SELECT max(position)"
    " FROM callstate_events) UNION ALL SELECT max(id) FROM callstate_calls"
)
_AT_VERSION: Final = "SELECT id FROM callstate_calls WHERE call_sid = ? AND version = ?"
_INCREMENTAL: Final = 2  # PRAGMA auto_vacuum's value for INCREMENTAL
# A scan of the (status, call_sid) index alone, never the table.
_COUNT_BY_STATUS: Final = (
    "SELECT status, count(*) FROM callstate_calls INDEXED BY callstate_calls_by_status"
    " GROUP BY status"
)

_Row = tuple[str, str, "str | None"]



@contextlib.contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: ``BEGIN IMMEDIATE``, ``COMMIT`` at the end, ``ROLLBACK`` on any error.

    The two append paths keep their own (a conflict is reported after its rollback).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class SQLiteStore(SharedPaths):
    """Calls' events in one SQLite file (created with its schema if missing)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float = 30.0,
        synchronous: str = "NORMAL",
    ) -> None:
        if synchronous.upper() not in _SYNCHRONOUS:
            raise UsageError(f"synchronous must be one of {_SYNCHRONOUS}, not {synchronous!r}")
        self._path = os.fspath(path)
        self._lock = threading.Lock()
        self._ids: dict[str, int] = {}  # call ids committed, oldest first
        try:
            conn = sqlite3.connect(
                self._path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open SQLite file {self._path!r}: {exc}") from exc
        self._conn: sqlite3.Connection | None = conn
        try:
            with self._translate():
                # A new file frees pages incrementally (retention's vacuum); the
                # setting only takes before the first table (an old file keeps NONE).
                conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
                # Checkpoint the WAL every ~40 MB rather than every 4 MB: each
                # append dirties a few pages, and a checkpoint stalls its writer.
                conn.execute("PRAGMA wal_autocheckpoint=10000")
                with _immediate(conn):
                    for statement in (*_SCHEMA, *_SIDE_SCHEMA):
                        conn.execute(statement)
        except BaseException:
            self.close()
            raise

    @property
    def path(self) -> str:
        return self._path

    @contextlib.contextmanager
    def _translate(self) -> Iterator[sqlite3.Connection]:
        """The one place sqlite3's errors become callstate's."""
        conn = self._conn
        if conn is None:
            raise StoreUnavailable(f"the SQLite store {self._path!r} is closed")
        try:
            yield conn
        except sqlite3.Error as exc:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY:
                # Another writer held the lock past ``timeout``.
                raise StoreTimeout(f"SQLite file {self._path!r}: {exc}") from exc
            raise StoreUnavailable(f"SQLite file {self._path!r}: {exc}") from exc

    def _append_one(
        self, call_sid: str, expected_version: int, event: Event, status: CallStatus
    ) -> tuple[StoredEvent, ...]:
        kind, data = encode(event)
        key = _key_of(event)
        version = expected_version + 1
        ids = self._ids
        with self._lock, self._translate() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                keys = () if key is None else (key,)
                call_id = _claim(conn, call_sid, expected_version, version, status, keys, ids)
                if call_id is not None:
                    cursor = conn.execute(_INSERT, (None, call_id, version, kind, data, key))
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            if call_id is None:
                conn.execute("ROLLBACK")
                ids.pop(call_sid, None)  # its row may be gone (retention): ask by CallSid
                raise _conflict(conn, call_sid, expected_version)
            conn.execute("COMMIT")
            if call_sid not in ids:
                self._remember({call_sid: call_id})
        position = int(cursor.lastrowid or 0)
        return (StoredEvent(position=position, call_sid=call_sid, version=version, event=event),)

    def append_many(self, appends: Sequence[Append]) -> tuple[StoredEvent, ...]:
        encoded = []
        for item in appends:
            check_append(item)
            encoded.append([(*encode(e), _key_of(e)) for e in item.events])
        with self._lock, self._translate() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                claimed: dict[str, int] = {}
                written = _write(conn, appends, encoded, self._ids, claimed)
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            if isinstance(written, Append):
                conn.execute("ROLLBACK")
                self._ids.pop(written.call_sid, None)  # its row may be gone (retention)
                raise _conflict(conn, written.call_sid, written.expected_version)
            conn.execute("COMMIT")
            self._remember(claimed)
        return written

    def _remember(self, claimed: dict[str, int]) -> None:
        """Keep the ids of calls just committed (under the lock), dropping the oldest."""
        ids = self._ids
        for sid, call_id in claimed.items():
            if sid not in ids:
                if len(ids) >= _KNOWN_IDS:
                    del ids[next(iter(ids))]
                ids[sid] = call_id

    def load(self, call_sid: str, after_version: int = 0) -> tuple[StoredEvent, ...]:
        with self._lock, self._translate() as conn:
            rows = conn.execute(_LOAD, (call_sid, after_version)).fetchall()
        return tuple(
            StoredEvent(position=p, call_sid=call_sid, version=v, event=decode(kind, data))
            for p, v, kind, data in rows
        )

    def read_all(self, after: int = 0, limit: int = 1_000) -> tuple[StoredEvent, ...]:
        with self._lock, self._translate() as conn:
            rows = conn.execute(_READ, (after, limit)).fetchall()
        return tuple(
            StoredEvent(position=p, call_sid=sid, version=v, event=decode(kind, data))
            for p, sid, v, kind, data in rows
        )

    def probe(self) -> None:
        """Commit a write outside the event log, as an append would.

        Raises ``StoreUnavailable`` when a write cannot be done now (the disk
        is full, the file is read-only, another writer holds the lock past
        ``timeout``): what a health check asks.
        """
        with self._lock, self._translate() as conn, _immediate(conn):
            conn.execute(_PROBE)

    def calls_with_status(self, *statuses: CallStatus) -> tuple[str, ...]:
        if not statuses:
            return ()
        marks = ",".join("?" * len(statuses))
        with self._lock, self._translate() as conn:
            rows = conn.execute(
                f"SELECT call_sid FROM callstate_calls WHERE status IN ({marks}) ORDER BY call_sid",
                [CallStatus(s).value for s in statuses],
            ).fetchall()
        return tuple(row[0] for row in rows)

    def delete_calls(self, versions: Mapping[str, int]) -> tuple[str, ...]:
        """Remove the events and projection row of each call still at its version in ``versions``.

        Retention's one write, in one short transaction: a call that moved
        on (an append since it was read) is kept, as is the call holding the
        newest event or the newest call id: SQLite hands out the largest
        row id plus one, so keeping those rows is what keeps positions and
        ids from being handed out twice. Answers the CallSids removed.
        """
        if not versions:
            return ()
        gone = []
        with self._lock, self._translate() as conn:
            with _immediate(conn):
                keep = {row[0] for row in conn.execute(_NEWEST) if row[0] is not None}
                for sid, version in versions.items():
                    row = conn.execute(_AT_VERSION, (sid, version)).fetchone()
                    if row is None or row[0] in keep:
                        continue
                    conn.execute("DELETE FROM callstate_events WHERE call_id = ?", (row[0],))
                    conn.execute("DELETE FROM callstate_calls WHERE id = ?", (row[0],))
                    gone.append(sid)
            for sid in gone:
                self._ids.pop(sid, None)
        return tuple(gone)

    def vacuum(self, pages: int = 1_000) -> int:
        """Give up to ``pages`` free pages back to the file system (incremental auto-vacuum).

        Files made by this version use ``auto_vacuum=INCREMENTAL``; in an
        older file (``auto_vacuum=NONE``) nothing is given back (the free
        pages are reused by later writes): answers 0. Else the pages freed.
        """
        with self._lock, self._translate() as conn:
            if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != _INCREMENTAL:
                return 0
            before = conn.execute("PRAGMA freelist_count").fetchone()[0]
            # As a script: executed as a statement, sqlite3 steps it once (one page).
            conn.executescript(f"PRAGMA incremental_vacuum({int(pages)});")
            after = conn.execute("PRAGMA freelist_count").fetchone()[0]
        return int(before - after)

    def count_by_status(self) -> dict[CallStatus, int]:
        """How many calls have each current status (read from the status index)."""
        with self._lock, self._translate() as conn:
            rows = conn.execute(_COUNT_BY_STATUS).fetchall()
        return _counts(rows)

    def _page(self, wanted: tuple[CallStatus, ...], after: str, limit: int) -> tuple[str, ...]:
        query = " UNION ALL ".join([_PAGE_ARM] * len(wanted)) + " ORDER BY 1 LIMIT ?"
        args: list[object] = []
        for status in wanted:
            args += (status.value, after)
        args.append(limit)
        with self._lock, self._translate() as conn:
            rows = conn.execute(query, args).fetchall()
        return tuple(row[0] for row in rows)

    # Beside the log: see stores/_side.py.

    def _write_side(self, statement: str, args: tuple[object, ...]) -> None:
        with self._lock, self._translate() as conn:
            conn.execute(statement, args)  # autocommit: one statement, one transaction

    def claim_key(self, key: str, fingerprint: str) -> KeyClaim | None:
        check_key(key, fingerprint)
        with self._lock, self._translate() as conn, _immediate(conn):
            claimed = conn.execute(_CLAIM_KEY, (key, fingerprint)).rowcount == 1
            row = None if claimed else conn.execute(_HELD_KEY, (key,)).fetchone()
        return None if row is None else KeyClaim(fingerprint=row[0], call_sid=row[1])

    def settle_key(self, key: str, call_sid: str) -> None:
        self._write_side(_SETTLE_KEY, (call_sid, key))

    def release_key(self, key: str) -> None:
        self._write_side(_RELEASE_KEY, (key,))

    def forward_position(self, target: str) -> int:
        with self._lock, self._translate() as conn:
            row = conn.execute(_CURSOR, (target,)).fetchone()
        return 0 if row is None else int(row[0])

    def set_forward_position(self, target: str, position: int) -> None:
        check_target(target, position)
        self._write_side(_MOVE_CURSOR, (target, position))

    def forward_positions(self) -> dict[str, int]:
        with self._lock, self._translate() as conn:
            rows = conn.execute("SELECT target, position FROM callstate_forward_cursors")
            return {target: int(position) for target, position in rows}

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({self._path!r})"


def _counts(rows: Sequence[tuple[str, int]]) -> dict[CallStatus, int]:
    known = {s.value: s for s in CallStatus}
    return {known[status]: int(n) for status, n in rows if status in known}


def _key_of(event: Event) -> str | None:
    return delivery_key(event.delivery) if isinstance(event, DeliveryAccepted) else None


def _conflict(conn: sqlite3.Connection, call_sid: str, expected: int) -> VersionConflict:
    row = conn.execute(_VERSION, (call_sid,)).fetchone()
    return VersionConflict(call_sid, expected, 0 if row is None else int(row[0]))


def _claim(
    conn: sqlite3.Connection,
    sid: str,
    expected: int,
    new: int,
    status: CallStatus,
    keys: Sequence[str],
    known: dict[str, int],
) -> int | None:
    """Move a call's projection row to version ``new``; the call's id, or None.

    None if the call is not at the ``expected`` version, or if one of ``keys``
    (the append's deliveries) is in its log already. ``known``: call ids
    committed before, which spare the statement its RETURNING.
    """
    if len(set(keys)) != len(keys):
        return None
    if expected == 0:
        cursor = conn.execute(_CLAIM_NEW_BARE, (sid, new, status.value))
        return cursor.lastrowid if cursor.rowcount == 1 else None
    call_id = known.get(sid)
    if call_id is not None:
        if not keys:
            cursor = conn.execute(_CLAIM_ID, (new, status.value, call_id, expected))
        elif len(keys) == 1:
            cursor = conn.execute(_CLAIM_ID_ONE, (new, status.value, call_id, expected, keys[0]))
        else:
            args = (new, status.value, call_id, expected, json.dumps(keys))
            cursor = conn.execute(_CLAIM_ID_MANY, args)
        return call_id if cursor.rowcount == 1 else None
    if not keys:
        row = conn.execute(_CLAIM_PLAIN, (new, status.value, sid, expected)).fetchone()
    elif len(keys) == 1:
        row = conn.execute(_CLAIM_ONE, (new, status.value, sid, expected, keys[0])).fetchone()
    else:
        row = conn.execute(
            _CLAIM_MANY, (new, status.value, sid, expected, json.dumps(keys))
        ).fetchone()
    return None if row is None else int(row[0])


def _write(
    conn: sqlite3.Connection,
    appends: Sequence[Append],
    encoded: Sequence[Sequence[_Row]],
    known: dict[str, int],
    claimed: dict[str, int],
) -> tuple[StoredEvent, ...] | Append:
    """Inside the write transaction: the events stored, or the append that conflicts.

    ``claimed`` receives the id of every call claimed, to remember once committed.
    """
    ids = []
    batch_keys: dict[str, set[str]] = {}  # a call twice in one batch: its keys so far
    for item, items in zip(appends, encoded, strict=True):
        keys = [key for _, _, key in items if key is not None]
        earlier = batch_keys.setdefault(item.call_sid, set())
        call_id = (
            None
            if earlier.intersection(keys)
            else _claim(
                conn,
                item.call_sid,
                item.expected_version,
                item.expected_version + len(item.events),
                item.status,
                keys,
                known,
            )
        )
        if call_id is None:
            return item
        earlier.update(keys)
        ids.append(call_id)
        claimed[item.call_sid] = call_id
    if len(appends) == 1 and len(encoded[0]) == 1:  # the common case: one event
        item = appends[0]
        ((kind, data, key),) = encoded[0]
        version = item.expected_version + 1
        cursor = conn.execute(_INSERT, (None, ids[0], version, kind, data, key))
        return (
            StoredEvent(
                position=int(cursor.lastrowid or 0),
                call_sid=item.call_sid,
                version=version,
                event=item.events[0],
            ),
        )
    (last,) = conn.execute("SELECT coalesce(max(position), 0) FROM callstate_events").fetchone()
    rows: list[tuple[int, int, int, str, str, str | None]] = []
    stored: list[StoredEvent] = []
    for item, items, call_id in zip(appends, encoded, ids, strict=True):
        version = item.expected_version
        for event, (kind, data, key) in zip(item.events, items, strict=True):
            last += 1
            version += 1
            rows.append((last, call_id, version, kind, data, key))
            stored.append(
                StoredEvent(position=last, call_sid=item.call_sid, version=version, event=event)
            )
    conn.executemany(_INSERT, rows)
    return tuple(stored)
