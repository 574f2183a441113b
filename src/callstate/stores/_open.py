"""A store named by one string, as the commands take it (``--store``, ``CALLSTATE_STORE``).

``callstate serve``, ``reconcile``, ``replay --store``, ``calls`` and ``demo``
all name their store this way, so the reading lives beside the stores rather
than in any one command.
"""

from __future__ import annotations

import os

from callstate._errors import UsageError
from callstate.stores._port import EventStore
from callstate.stores._sqlite import SQLiteStore

__all__ = ["DEFAULT_STORE", "is_postgres", "open_store"]

#: Where the commands keep their calls when no store is named.
DEFAULT_STORE = "callstate.sqlite"


def is_postgres(target: str) -> bool:
    """Whether ``--store`` names a PostgreSQL DSN (else it is a SQLite file path)."""
    return target.startswith(("postgresql://", "postgres://"))


def open_store(target: str, *, timeout: float | None = None) -> EventStore:
    """A store from ``--store``: a PostgreSQL DSN, or else a SQLite file path.

    ``timeout`` bounds each of its operations (None: the store's default).
    """
    if is_postgres(target):
        from callstate.stores.postgres import PostgresStore  # noqa: PLC0415 (optional extra)

        store = PostgresStore(target) if timeout is None else PostgresStore(target, timeout=timeout)
        store.migrate()
        return store
    folder = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(folder):
        raise UsageError(f"no folder {folder!r} for the SQLite store {target!r}")
    return SQLiteStore(target) if timeout is None else SQLiteStore(target, timeout=timeout)
