"""Helpers for the store tests: the real PostgreSQL server, one fresh schema each.

The DSN comes from ``CALLSTATE_TEST_POSTGRES_DSN``. Without it the PostgreSQL
tests skip with the reason, unless ``CALLSTATE_REQUIRE_ALL_TESTS=1`` (CI):
then they fail.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import pytest

if TYPE_CHECKING:
    from callstate.stores.postgres import PostgresStore

DSN_VARIABLE = "CALLSTATE_TEST_POSTGRES_DSN"


def postgres_dsn_or_skip() -> str:
    dsn = os.environ.get(DSN_VARIABLE)
    if dsn:
        return dsn
    reason = f"PostgreSQL tests need {DSN_VARIABLE} (e.g. postgresql://postgres@127.0.0.1/test)"
    if os.environ.get("CALLSTATE_REQUIRE_ALL_TESTS") == "1":
        pytest.fail(f"CALLSTATE_REQUIRE_ALL_TESTS=1 but {reason}")
    pytest.skip(reason)


def unique_schema() -> str:
    """A schema name no other test run uses."""
    return f"callstate_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"


def drop_schema(dsn: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextlib.contextmanager
def fresh_postgres_store(**options: int) -> Iterator[PostgresStore]:
    """A migrated store in a fresh schema, dropped afterwards (skips without a DSN)."""
    from callstate.stores.postgres import PostgresStore

    dsn = postgres_dsn_or_skip()
    schema = unique_schema()
    store = PostgresStore(dsn, schema=schema, **options)
    try:
        store.migrate()
        yield store
    finally:
        store.close()
        drop_schema(dsn, schema)


@contextlib.contextmanager
def private_database(dsn: str) -> Iterator[str]:
    """A database of its own on the test server (serve uses the schema "callstate")."""
    import psycopg

    name = f"callstate_faults_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(dsn)
    try:
        yield urlunsplit(parts._replace(path="/" + name))
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
