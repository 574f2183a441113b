"""Faults at the receiver's edges, each over a real ``callstate serve`` process.

A stalled PostgreSQL (a real server behind a TCP forwarder frozen with
SIGSTOP), a full disk (a real SQLite file on a small tmpfs), slow clients
(real sockets sending a byte at a time). Each is given short bounds through
the ``CALLSTATE_*`` variables, so the whole suite takes seconds; the time
bounds asserted are loose (3x the setting): the behaviour matters here,
speed is for benchmarks/.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import pytest

from callstate import CallStatus, DeliveryAccepted, RecordDelivery
from callstate.stores import AsyncRunner, Runner, SQLiteStore, StoreTimeout, StoreUnavailable
from callstate.testing.store_contract import lifecycle
from tests.serve.test_serve import AUTH, callback, request, serving
from tests.stores._store_fixtures import postgres_dsn_or_skip, private_database

HERE = Path(__file__).resolve().parent
BOUND = 1.0  # seconds: every setting under test
LATE = 3 * BOUND  # an answer later than this is too late


# -- helpers -------------------------------------------------------------------------------


@contextlib.contextmanager
def forwarder(port: int) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """A forwarder process to 127.0.0.1:port: (its port, the process to freeze)."""
    process = subprocess.Popen(
        [sys.executable, str(HERE / "_forwarder.py"), "127.0.0.1", str(port)],
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        yield int(process.stdout.readline()), process
    finally:
        process.send_signal(signal.SIGCONT)
        process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def through(dsn: str, port: int) -> str:
    """``dsn`` with its host and port replaced by the forwarder's."""
    parts = urlsplit(dsn)
    user = parts.netloc.rpartition("@")[0]
    return urlunsplit(
        parts._replace(netloc=f"{user}@127.0.0.1:{port}" if user else f"127.0.0.1:{port}")
    )


def timed(call, *args):
    start = time.monotonic()
    result = call(*args)
    return result, time.monotonic() - start


def post(base: str, params: dict[str, str]) -> tuple[int, bytes]:
    return request(base + "/callbacks", urlencode(params).encode())


def health(base: str) -> tuple[int, dict[str, str]]:
    status, body = request(base + "/healthz")
    return status, json.loads(body)


# -- 1. a stalled PostgreSQL ------------------------------------------------------------------


def test_a_stalled_postgresql_is_answered_503_in_time_and_nothing_2xx_is_lost(tmp_path):
    from callstate.stores.postgres import PostgresStore

    dsn = postgres_dsn_or_skip()
    env = {"CALLSTATE_STORE_TIMEOUT": str(BOUND)}
    answered: set[str] = set()
    with private_database(dsn) as database:
        with (
            forwarder(urlsplit(database).port or 5432) as (port, frozen),
            serving(tmp_path, "--store", through(database, port), env=env) as (base, _),
        ):
            assert post(base, callback("CAbefore", "ringing", 1))[0] == 204
            answered.add("CAbefore")

            frozen.send_signal(signal.SIGSTOP)
            (status, body), took = timed(post, base, callback("CAstall0", "ringing", 1))
            assert status == 503
            assert b"the store did not answer in time" in body
            assert took < LATE, took
            (status, report), took = timed(health, base)
            assert (status, report) == (
                503,
                {
                    "status": "unavailable",
                    "failed": "store-read",
                    "error": "the store did not answer in time",
                },
            )
            assert took < LATE, took

            # Many at once while it stays frozen: each answered in time, none 2xx.
            results: dict[str, tuple[int, float]] = {}

            def send(sid: str) -> None:
                (code, _), spent = timed(post, base, callback(sid, "ringing", 1))
                results[sid] = (code, spent)

            stalled = [f"CAstall{n}" for n in range(1, 9)]
            threads = [threading.Thread(target=send, args=(sid,)) for sid in stalled]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
            assert {code for code, _ in results.values()} == {503}, results
            assert max(spent for _, spent in results.values()) < LATE, results

            frozen.send_signal(signal.SIGCONT)
            # The provider retries: each delivery is taken once the database answers.
            deadline = time.monotonic() + 30
            for sid in ["CAstall0", *stalled, "CAafter"]:
                while time.monotonic() < deadline:
                    status, _ = post(base, callback(sid, "ringing", 1))
                    if status == 204:
                        answered.add(sid)
                        break
                    assert status == 503
                    time.sleep(0.1)
            assert answered == {"CAbefore", "CAstall0", *stalled, "CAafter"}
            assert health(base) == (200, {"status": "ok"})

        # In the database itself, once the receiver stopped.
        with PostgresStore(database) as store:
            stored = [
                item.call_sid
                for item in store.read_all(0, 1_000)
                if isinstance(item.event, DeliveryAccepted)
            ]
    assert sorted(stored) == sorted(answered)  # each once: a retry is a duplicate


def test_the_postgres_store_bounds_every_operation_itself():
    """Without serve: the watchdog, the server's statement bounds, and recovery."""
    from callstate.stores.postgres import PostgresStore

    dsn = postgres_dsn_or_skip()
    with (
        private_database(dsn) as database,
        forwarder(urlsplit(database).port or 5432) as (port, frozen),
    ):
        store = PostgresStore(through(database, port), timeout=BOUND, max_size=2)
        try:
            store.migrate()
            first, second = lifecycle("CA1")[:2]
            store.append("CA1", 0, [DeliveryAccepted(delivery=first)], status=CallStatus.INITIATED)
            with store._connection() as conn:
                assert conn.execute("SHOW statement_timeout").fetchone() == ("800ms",)
                assert conn.execute("SHOW lock_timeout").fetchone() == ("600ms",)

            frozen.send_signal(signal.SIGSTOP)
            event = DeliveryAccepted(delivery=second)
            for call in (
                lambda: store.append("CA1", 1, [event], status=CallStatus.RINGING),
                lambda: store.load("CA1"),
                lambda: store.read_all(0, 10),
                store.probe,
            ):
                start = time.monotonic()
                with pytest.raises(StoreTimeout, match=r"within 1\.0s"):
                    call()
                assert time.monotonic() - start < LATE
            frozen.send_signal(signal.SIGCONT)

            # Back, once the pool has made new connections (it retries with a
            # backoff): the append that timed out never reached the server (the
            # forwarder was frozen before it), so its retry stores it once.
            runner = Runner(store)
            deadline = time.monotonic() + 30
            while True:
                try:
                    outcome = runner.handle(RecordDelivery(delivery=second))
                    break
                except StoreUnavailable:
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
            assert outcome.after.status is CallStatus.RINGING
            assert len(store.load("CA1")) == 2

            # The server's own bound: a row lock held elsewhere ends the wait
            # with lock_timeout, and the connection stays usable.
            import psycopg

            bad = store._pool.get_stats().get("returns_bad", 0)
            with psycopg.connect(database, autocommit=True) as other, other.transaction():
                other.execute("SELECT 1 FROM callstate.calls WHERE call_sid = 'CA1' FOR UPDATE")
                third = DeliveryAccepted(delivery=lifecycle("CA1")[2])
                with pytest.raises(StoreTimeout, match="did not grant a lock"):
                    store.append("CA1", 2, [third], status=CallStatus.IN_PROGRESS)
            assert len(store.load("CA1")) == 2
            assert store._pool.get_stats().get("returns_bad", 0) == bad  # not cut off
        finally:
            store.close()


def test_the_settings_a_dsn_gives_win_over_the_store_s_bounds():
    from callstate.stores.postgres import PostgresStore

    dsn = postgres_dsn_or_skip()
    separator = "&" if "?" in dsn else "?"
    own = f"{dsn}{separator}options=-c%20statement_timeout%3D12345&keepalives_idle=77"
    with PostgresStore(own, timeout=BOUND) as store, store._connection() as conn:
        assert conn.execute("SHOW statement_timeout").fetchone() == ("12345ms",)
        assert conn.execute("SHOW lock_timeout").fetchone() == ("600ms",)  # not given: ours
        params = {item.keyword.decode(): item.val for item in conn.pgconn.info}
        assert params["keepalives_idle"] == b"77"
        assert params["tcp_user_timeout"] == b"1000"


def test_libpq_s_environment_wins_over_the_store_s_bounds(monkeypatch):
    from callstate.stores.postgres import PostgresStore

    dsn = postgres_dsn_or_skip()
    # Set in the environment, as libpq documents: a keyword argument of ours
    # silently overrode both (found by review).
    monkeypatch.setenv("PGOPTIONS", "-c work_mem=7MB -c statement_timeout=23456")
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "31")
    with PostgresStore(dsn, timeout=BOUND) as store, store._connection() as conn:
        assert conn.execute("SHOW work_mem").fetchone() == ("7MB",)
        assert conn.execute("SHOW statement_timeout").fetchone() == ("23456ms",)
        assert conn.execute("SHOW lock_timeout").fetchone() == ("600ms",)  # not given: ours
        params = {item.keyword.decode(): item.val for item in conn.pgconn.info}
        assert params["connect_timeout"] == b"31"


# -- 2. a full disk ---------------------------------------------------------------------------


@contextlib.contextmanager
def small_disk(path: Path, size: str = "1m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path`` (we run as root, as CI does)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        reason = "mounting a tmpfs needs root and mount(8)"
        if os.environ.get("CALLSTATE_REQUIRE_ALL_TESTS") == "1":
            pytest.fail(f"CALLSTATE_REQUIRE_ALL_TESTS=1 but {reason}")
        pytest.skip(reason)
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path) -> None:
    """Write ``path`` until the disk is full."""
    with open(path, "wb", buffering=0) as filler:
        try:
            while True:
                filler.write(b"\0" * 65536)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            while True:
                filler.write(b"\0" * 512)


def test_a_full_disk_makes_healthz_503_naming_the_write(tmp_path):
    with small_disk(tmp_path / "disk") as disk:
        store = disk / "calls.sqlite"
        with serving(tmp_path, "--store", str(store)) as (base, _):
            assert post(base, callback("CAbefore", "ringing", 1))[0] == 204
            assert health(base) == (200, {"status": "ok"})

            fill(disk / "filler")
            assert post(base, callback("CAfull", "ringing", 1))[0] == 503
            status, report = health(base)
            assert (status, report) == (
                503,
                {
                    "status": "unavailable",
                    "failed": "store-write",
                    "error": "the store cannot write now",
                },
            )
            # The detail is in the log, not in the answer.
            log = (tmp_path / "serve.log").read_text()
            assert "database or disk is full" in log
            assert str(disk) not in json.dumps(report)

            (disk / "filler").unlink()
            assert health(base) == (200, {"status": "ok"})
            assert post(base, callback("CAfull", "ringing", 1))[0] == 204
        with SQLiteStore(store) as opened:
            assert {item.call_sid for item in opened.read_all(0, 100)} == {"CAbefore", "CAfull"}


# -- 3. slow clients --------------------------------------------------------------------------

SLOW = {
    "CALLSTATE_HEADER_TIMEOUT": str(BOUND),
    "CALLSTATE_BODY_TIMEOUT": str(BOUND),
}


def connect(base: str) -> socket.socket:
    parts = urlsplit(base)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    sock.settimeout(10)
    return sock


def trickle(sock: socket.socket, data: bytes, every: float, stop: threading.Event) -> None:
    """Send ``data`` a byte at a time until it is sent, ``stop`` is set, or the server closes."""
    for byte in data:
        if stop.is_set():
            return
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            return
        time.sleep(every)


def read_to_close(sock: socket.socket) -> bytes:
    chunks = []
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_slow_headers_get_408_and_the_connection_is_closed(tmp_path):
    with serving(tmp_path, env=SLOW) as (base, _):
        head = b"POST /callbacks HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nx=1"
        answers: list[tuple[bytes, float]] = []

        def slow_client() -> None:
            start = time.monotonic()
            stop = threading.Event()
            with connect(base) as sock:
                args = (sock, head, 0.2, stop)
                threading.Thread(target=trickle, args=args, daemon=True).start()
                answer = read_to_close(sock)
                stop.set()
            answers.append((answer, time.monotonic() - start))

        threads = [threading.Thread(target=slow_client) for _ in range(5)]
        for thread in threads:
            thread.start()
        with connect(base) as idle:  # connects, sends nothing: closed without an answer
            assert timed(read_to_close, idle)[0] == b""
        for thread in threads:
            thread.join(timeout=30)
        assert len(answers) == 5
        for answer, took in answers:
            assert answer.startswith(b"HTTP/1.1 408 "), answer
            assert answer.endswith(b"headers: did not arrive within 1s")
            assert took < LATE, took
        # The receiver still serves.
        assert post(base, callback("CA1", "ringing", 1))[0] == 204


def test_the_next_request_on_a_kept_alive_connection_has_the_same_deadline(tmp_path):
    with serving(tmp_path, env=SLOW) as (base, _):
        body = urlencode(callback("CA1", "ringing", 1)).encode()
        head = b"POST /callbacks HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
        stop = threading.Event()
        with connect(base) as sock:
            sock.sendall(head + body)
            assert sock.recv(65536).startswith(b"HTTP/1.1 204 ")
            start = time.monotonic()
            threading.Thread(target=trickle, args=(sock, head, 0.2, stop), daemon=True).start()
            answer = read_to_close(sock)
            stop.set()
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert time.monotonic() - start < LATE


def test_a_slow_body_gets_408_and_nothing_is_stored(tmp_path):
    # The body's deadline is the sooner: the connection's timer must move up.
    env = {**SLOW, "CALLSTATE_HEADER_TIMEOUT": "20"}
    with serving(tmp_path, env=env) as (base, _):
        body = urlencode(callback("CAslow", "ringing", 1)).encode()
        head = (
            b"POST /callbacks HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        start = time.monotonic()
        stop = threading.Event()
        with connect(base) as sock:
            sock.sendall(head)
            threading.Thread(target=trickle, args=(sock, body, 0.2, stop), daemon=True).start()
            answer = read_to_close(sock)
            stop.set()
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert answer.endswith(b"body: did not arrive within 1s")
        assert time.monotonic() - start < LATE
        assert request(base + "/calls/CAslow", headers=AUTH)[0] == 404
        # A body sent in time on the same kind of connection is stored.
        with connect(base) as sock:
            sock.sendall(head + body)
            assert sock.recv(65536).startswith(b"HTTP/1.1 204 ")
        assert request(base + "/calls/CAslow", headers=AUTH)[0] == 200


def test_connections_past_the_limit_are_answered_503(tmp_path):
    env = {**SLOW, "CALLSTATE_HEADER_TIMEOUT": "5", "CALLSTATE_MAX_CONNECTIONS": "4"}
    with serving(tmp_path, env=env) as (base, _):
        held = [connect(base) for _ in range(4)]
        try:
            time.sleep(0.2)  # accepted by the server
            assert post(base, callback("CA1", "ringing", 1))[0] == 503
        finally:
            for sock in held:
                sock.close()
        for _ in range(50):  # the server sees them closed
            status = post(base, callback("CA1", "ringing", 1))[0]
            if status == 204:
                break
            time.sleep(0.1)
        assert status == 204


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CALLSTATE_STORE_TIMEOUT", "soon", "a number of seconds"),
        ("CALLSTATE_HEADER_TIMEOUT", "0", "more than 0"),
        ("CALLSTATE_BODY_TIMEOUT", "nan", "more than 0"),
        ("CALLSTATE_MAX_CONNECTIONS", "0", "1 or more"),
        ("CALLSTATE_MAX_CONNECTIONS", "many", "whole number"),
    ],
)
def test_unusable_bounds_are_refused_naming_the_reason(variable, value, message):
    from callstate._errors import UsageError
    from callstate.serve import ServeConfig

    with pytest.raises(UsageError, match=message):
        ServeConfig.from_env({variable: value})


def test_bounds_have_defaults_and_flags_win_over_the_environment():
    from callstate.serve import ServeConfig

    config = ServeConfig.from_env({})
    assert (config.store_timeout, config.header_timeout, config.body_timeout) == (5.0, 10.0, 10.0)
    assert config.max_connections == 1000
    env = {"CALLSTATE_STORE_TIMEOUT": "2.5", "CALLSTATE_MAX_CONNECTIONS": "50"}
    config = ServeConfig.from_env(env, store_timeout="1")
    assert (config.store_timeout, config.max_connections) == (1.0, 50)


# -- the AsyncRunner's own bound --------------------------------------------------------------


def test_an_async_caller_waits_at_most_its_timeout_and_its_write_goes_on(tmp_path):
    import asyncio

    path = tmp_path / "events.sqlite3"
    holder = SQLiteStore(path)
    store = SQLiteStore(path, timeout=30)  # its own bound is long: the runner's is short
    runner = AsyncRunner(Runner(store), timeout=0.2)
    first = lifecycle("CA1")[0]
    assert holder._conn is not None
    holder._conn.execute("BEGIN IMMEDIATE")  # another writer that does not let go

    async def main() -> float:
        start = time.monotonic()
        with pytest.raises(StoreTimeout, match=r"within 0\.2s"):
            await runner.handle(RecordDelivery(delivery=first))
        took = time.monotonic() - start
        holder._conn.execute("ROLLBACK")  # it lets go: the queued write goes on
        outcome = await AsyncRunner(Runner(store)).handle(RecordDelivery(delivery=first))
        assert outcome.duplicate  # the write the caller gave up on was stored
        return took

    try:
        assert asyncio.run(main()) < LATE
    finally:
        holder.close()
        store.close()
