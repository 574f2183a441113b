"""The SQLite store: one file, WAL, the default for a single machine.

Writers serialise on SQLite's write lock (``BEGIN IMMEDIATE``), so positions
are handed out in commit order with no gaps. Any number of processes may open
the same file; a writer waits up to ``timeout`` seconds for the lock, then the
store raises ``StoreUnavailable``.

Durability: in WAL mode with ``synchronous="NORMAL"`` (the default) a
committed append survives the process being killed at any moment; a power
loss may forget the last transactions (never corrupt the file). Choose
``synchronous="FULL"`` to survive that too, at the cost of an fsync per append.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from typing import Final

from callstate._core._state import CallStatus
from callstate._core._values import DeliveryAccepted, Event
from callstate._errors import StoreUnavailable, UsageError, VersionConflict
from callstate.stores._codec import decode, delivery_key, encode
from callstate.stores._port import Append, StoredEvent, check_append

__all__ = ["SQLiteStore"]

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS callstate_events (
    position INTEGER PRIMARY KEY,
    call_sid TEXT NOT NULL,
    version INTEGER NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    delivery_key TEXT,
    UNIQUE (call_sid, version)
);
CREATE UNIQUE INDEX IF NOT EXISTS callstate_events_delivery
    ON callstate_events (call_sid, delivery_key) WHERE delivery_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS callstate_calls (
    call_sid TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    status TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS callstate_calls_status ON callstate_calls (status, call_sid);
"""
_INSERT: Final = (
    "INSERT INTO callstate_events (position, call_sid, version, kind, data, delivery_key)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
# Claiming the next versions of a call also moves its projection row.
_CLAIM_NEW: Final = (
    "INSERT INTO callstate_calls (call_sid, version, status) VALUES (?, ?, ?)"
    " ON CONFLICT (call_sid) DO NOTHING"
)
_CLAIM: Final = (
    "UPDATE callstate_calls SET version = ?, status = ? WHERE call_sid = ? AND version = ?"
)
_SELECT: Final = "SELECT position, call_sid, version, kind, data FROM callstate_events"
_SYNCHRONOUS: Final = ("OFF", "NORMAL", "FULL", "EXTRA")


class SQLiteStore:
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
        try:
            conn = sqlite3.connect(
                self._path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open SQLite file {self._path!r}: {exc}") from exc
        self._conn: sqlite3.Connection | None = conn
        with self._translate():
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
            # Checkpoint the WAL every ~40 MB rather than every 4 MB: each append
            # dirties a few pages, and a checkpoint stalls the writer that runs it.
            conn.execute("PRAGMA wal_autocheckpoint=10000")
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

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
            raise StoreUnavailable(f"SQLite file {self._path!r}: {exc}") from exc

    def append(
        self,
        call_sid: str,
        expected_version: int,
        events: Sequence[Event],
        *,
        status: CallStatus,
    ) -> tuple[StoredEvent, ...]:
        return self.append_many(
            (
                Append(
                    call_sid=call_sid,
                    expected_version=expected_version,
                    events=tuple(events),
                    status=status,
                ),
            )
        )

    def append_many(self, appends: Sequence[Append]) -> tuple[StoredEvent, ...]:
        encoded = []
        for item in appends:
            check_append(item)
            encoded.append([(*encode(e), _key_of(e)) for e in item.events])
        with self._lock, self._translate() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                written = _write(conn, appends, encoded)
            except sqlite3.IntegrityError:
                conn.execute("ROLLBACK")
                # The delivery is already in the log: the writer's view is stale.
                raise self._conflict(conn, _first_dup(conn, appends)) from None
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            if isinstance(written, Append):
                conn.execute("ROLLBACK")
                raise self._conflict(conn, written)
            conn.execute("COMMIT")
        return written

    def _conflict(self, conn: sqlite3.Connection, item: Append) -> VersionConflict:
        row = conn.execute(
            "SELECT version FROM callstate_calls WHERE call_sid = ?", (item.call_sid,)
        ).fetchone()
        return VersionConflict(item.call_sid, item.expected_version, 0 if row is None else row[0])

    def load(self, call_sid: str, after_version: int = 0) -> tuple[StoredEvent, ...]:
        with self._lock, self._translate() as conn:
            rows = conn.execute(
                f"{_SELECT} WHERE call_sid = ? AND version > ? ORDER BY version",
                (call_sid, after_version),
            ).fetchall()
        return _stored(rows)

    def read_all(self, after: int = 0, limit: int = 1_000) -> tuple[StoredEvent, ...]:
        with self._lock, self._translate() as conn:
            rows = conn.execute(
                f"{_SELECT} WHERE position > ? ORDER BY position LIMIT ?", (after, limit)
            ).fetchall()
        return _stored(rows)

    def calls_with_status(self, *statuses: CallStatus) -> tuple[str, ...]:
        if not statuses:
            return ()
        marks = ",".join("?" * len(statuses))
        with self._lock, self._translate() as conn:
            rows = conn.execute(
                f"SELECT call_sid FROM callstate_calls WHERE status IN ({marks})"
                " ORDER BY call_sid",
                [CallStatus(s).value for s in statuses],
            ).fetchall()
        return tuple(row[0] for row in rows)

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({self._path!r})"


def _claim(conn: sqlite3.Connection, item: Append) -> int:
    """Move a call's projection row to its new version: 1 if it was where expected."""
    sid, expected = item.call_sid, item.expected_version
    new = expected + len(item.events)
    if expected == 0:
        return conn.execute(_CLAIM_NEW, (sid, new, item.status.value)).rowcount
    return conn.execute(_CLAIM, (new, item.status.value, sid, expected)).rowcount


def _key_of(event: Event) -> str | None:
    return delivery_key(event.delivery) if isinstance(event, DeliveryAccepted) else None


def _first_dup(conn: sqlite3.Connection, appends: Sequence[Append]) -> Append:
    for item in appends:
        for event in item.events:
            key = _key_of(event)
            if key is not None and conn.execute(
                "SELECT 1 FROM callstate_events WHERE call_sid = ? AND delivery_key = ?",
                (item.call_sid, key),
            ).fetchone():
                return item
    return appends[0]


def _stored(rows: Sequence[tuple[int, str, int, str, str]]) -> tuple[StoredEvent, ...]:
    return tuple(
        StoredEvent(position=p, call_sid=sid, version=v, event=decode(kind, data))
        for p, sid, v, kind, data in rows
    )


_Row = tuple[str, str, "str | None"]


def _write(
    conn: sqlite3.Connection, appends: Sequence[Append], encoded: Sequence[Sequence[_Row]]
) -> tuple[StoredEvent, ...] | Append:
    """Inside the write transaction: the events stored, or the append that conflicts."""
    execute = conn.execute
    if len(appends) == 1:
        item = appends[0]
        if _claim(conn, item) != 1:
            return item
    else:
        # A batch: claim every call at once; find the culprit only if one fails.
        execute("SAVEPOINT claims")
        news = [i for i in appends if i.expected_version == 0]
        olds = [i for i in appends if i.expected_version != 0]
        claimed = 0
        if news:
            claimed += conn.executemany(
                _CLAIM_NEW,
                [(i.call_sid, len(i.events), i.status.value) for i in news],
            ).rowcount
        if olds:
            claimed += conn.executemany(
                _CLAIM,
                [
                    (i.expected_version + len(i.events), i.status.value, i.call_sid,
                     i.expected_version)
                    for i in olds
                ],
            ).rowcount
        if claimed != len(appends):
            execute("ROLLBACK TO claims")
            return next((i for i in appends if _claim(conn, i) != 1), appends[0])
        execute("RELEASE claims")
    if len(appends) == 1 and len(encoded[0]) == 1:  # the common case: one event
        item = appends[0]
        ((kind, data, key),) = encoded[0]
        version = item.expected_version + 1
        position = execute(_INSERT, (None, item.call_sid, version, kind, data, key)).lastrowid
        return (
            StoredEvent(
                position=int(position or 0),
                call_sid=item.call_sid,
                version=version,
                event=item.events[0],
            ),
        )
    (last,) = execute("SELECT coalesce(max(position), 0) FROM callstate_events").fetchone()
    rows: list[tuple[int, str, int, str, str, str | None]] = []
    stored: list[StoredEvent] = []
    for item, items in zip(appends, encoded, strict=True):
        sid = item.call_sid
        version = item.expected_version
        for event, (kind, data, key) in zip(item.events, items, strict=True):
            last += 1
            version += 1
            rows.append((last, sid, version, kind, data, key))
            stored.append(StoredEvent(position=last, call_sid=sid, version=version, event=event))
    conn.executemany(_INSERT, rows)
    return tuple(stored)
