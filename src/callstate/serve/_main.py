"""``callstate serve``: the receiver on uvicorn."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import logging.config
import os
import signal
import socket
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn

from callstate import providers
from callstate._core._decider import Decider
from callstate._errors import UsageError
from callstate.client import Calls, Retry
from callstate.client.urllib import UrllibTransport
from callstate.serve._app import build_app
from callstate.serve._auth import callback_verifier, is_loopback
from callstate.serve._config import ServeConfig, open_store
from callstate.serve._forward import Forwarding
from callstate.serve._limits import deadline_protocol
from callstate.serve._logging import log_config
from callstate.serve._metrics import Metrics
from callstate.serve._place import callback_url
from callstate.serve._reconcile import api_for, reconciler_for, running
from callstate.stores import Runner
from callstate.stores._open import is_postgres
from callstate.stores._retention import Pruner, pruning
from callstate.web import TrustedProxy, Verifier

__all__ = ["decider_for", "prune_once", "pruner_for", "reconcile_once", "serve"]

LOGGER = logging.getLogger("callstate.serve")


def decider_for(config: ServeConfig) -> Decider:
    """The rules the receiver and its reconciliation run by."""
    # A provider that pins its vocabulary is read in it (Vonage: RESTCOMM), whatever
    # --dialect says: a failed call must not read as answered.
    return Decider(
        dialect=providers.get(config.provider).vocabulary_or(config.dialect),
        ring_timeout=config.ring_timeout,
        max_call_length=config.max_call_length,
    )


def serve(flags: Mapping[str, object], environ: Mapping[str, str] | None = None) -> int:
    """Run the receiver until SIGINT or SIGTERM; a graceful stop loses nothing answered 2xx."""
    config = ServeConfig.from_env(os.environ if environ is None else environ, **flags)
    if config.workers > 1 and not is_postgres(config.store):
        raise UsageError(
            f"--workers {config.workers}: give a PostgreSQL --store: a SQLite file takes one "
            "writer at a time (more processes add lock waits, not throughput), and the memory "
            "store is one process's own"
        )
    provider = providers.get(config.provider)
    verifier = callback_verifier(
        auth_token=config.signature_secret or config.auth_token,
        basic_auth=config.basic_auth,
        insecure=config.insecure_no_signatures,
        provider=provider,
    )
    if config.insecure_no_signatures and not is_loopback(config.host):
        raise UsageError(
            f"--host {config.host}: callbacks must be verified on an address other machines "
            "can reach, even with --insecure-no-signatures: give --auth-token or --basic-auth, "
            "or listen on 127.0.0.1 behind a proxy"
        )
    logging.config.dictConfig(log_config(config.log_level, config.log_format))
    if config.insecure_no_signatures:
        LOGGER.warning(
            "CALLBACKS ARE NOT VERIFIED (--insecure-no-signatures): anyone who can reach "
            "/callbacks can write any call's state; give --auth-token or --basic-auth",
            extra={"insecure_no_signatures": True},
        )
    if not config.api_keys:
        LOGGER.info("no API key configured: /calls answers 403 to everyone (--api-key)")
    if config.workers == 1:
        return _serve_worker(config, provider, verifier)
    return _supervise(config, provider, verifier)


def _serve_worker(
    config: ServeConfig,
    provider: providers.Provider,
    verifier: Verifier,
    sockets: list[socket.socket] | None = None,
    worker: int = 0,
) -> int:
    """One receiver process: its store, background loops and app, on ``sockets`` (or its own)."""
    # callstate's TrustedProxy is the one place forwarded headers are trusted:
    # uvicorn's own proxy_headers (on by default, for loopback peers) is off.
    proxy = TrustedProxy(trust=config.trusted_proxy_headers, proxies=config.trusted_proxy_ips)
    store = open_store(config.store, timeout=config.store_timeout)
    runner = Runner(store, decider_for(config))
    try:
        reconciler = reconciler_for(config, runner)
        forwarding = Forwarding.of(store, runner.decider, config.forward, config.forward_secret)
    except UsageError:
        store.close()
        raise
    metrics = Metrics(store)
    if reconciler is not None:
        metrics.watch(
            "callstate_reconciliations", "Calls reconciled, by outcome", "outcome", reconciler
        )
    try:
        pruner = pruner_for(config, runner)
    except UsageError:
        store.close()
        raise
    if pruner is not None:
        metrics.watch("callstate_retention_removed_calls", "Calls removed by retention", "", pruner)
    if forwarding is not None:
        metrics.watch_forwards(forwarding.stats)
    # POST /calls: one attempt per request (a 429 is the caller's to retry,
    # with its Retry-After), the status callback this receiver's public URL.
    api = api_for(config)
    calls = callback = None
    if api is not None and config.public_url is not None:
        calls = Calls(api, UrllibTransport(timeout=config.api_timeout), retry=Retry(attempts=1))
        callback = callback_url(config.public_url, config.basic_auth)
    app = build_app(
        runner,
        metrics=metrics,
        verifier=verifier,
        dialect=provider.dialect,
        proxy=proxy,
        store_timeout=config.store_timeout,
        api_keys=config.api_keys,
        public_url=config.public_url,
        calls=calls,
        status_callback=callback,
    )
    app.state.forwarding = forwarding
    LOGGER.info(
        "serving",
        extra={
            "host": config.host,
            "port": config.port,
            "store": config.store if "://" not in config.store else "postgresql",
            # Whether a signature is checked: a secret, and a provider that signs.
            "signatures": bool(config.signature_secret or config.auth_token)
            and provider.verifier is not None,
            "basic_auth": bool(config.basic_auth),
            "api_keys": len(config.api_keys),
            "reconcile_every": None if reconciler is None else config.reconcile_interval,
            "keep_days": config.keep_days,
            "places_calls": calls is not None,
            "forwards": len(config.forward),
            "worker": worker,
            "workers": config.workers,
        },
    )
    if forwarding is not None:
        forwarding.start()
    try:
        with (
            running(reconciler, config.reconcile_interval),
            pruning(pruner, config.retention_interval),
        ):
            uvicorn.Server(_uvicorn_config(config, app)).run(sockets=sockets)
    finally:
        if forwarding is not None:
            forwarding.stop()
        if calls is not None:
            calls.close()
        store.close()
    return 0


def _uvicorn_config(config: ServeConfig, app: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        log_config=log_config(config.log_level, config.log_format),
        timeout_graceful_shutdown=30,
        http=deadline_protocol(config.header_timeout, config.body_timeout),
        limit_concurrency=config.max_connections,
        proxy_headers=False,
    )


def _supervise(config: ServeConfig, provider: providers.Provider, verifier: Verifier) -> int:
    """``--workers N``: one listening socket, N forked receivers on it, until a stop signal.

    The parent binds the port, forks the workers (each opens its own store
    connections and runs the whole receiver: a worker is what one
    ``callstate serve`` is, as receivers sharing one PostgreSQL already are),
    then only waits. SIGTERM or SIGINT is handed to each worker once: each
    stops gracefully, answering what it has begun. A worker that exits on
    its own stops the others, and the parent exits 1: the service manager
    restarts the whole, rather than a parent guessing why. Workers are in
    their own process group (a terminal's Ctrl-C reaches the parent alone,
    which hands it on once) and are sent SIGTERM if the parent dies.
    """
    sock = _uvicorn_config(config, None).bind_socket()
    children: dict[int, int] = {}
    for worker in range(config.workers):
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                os.setpgid(0, 0)
                _die_with_parent()
                code = _serve_worker(config, provider, verifier, [sock], worker)
            except SystemExit as exc:  # uvicorn's own exit on a failed startup
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                LOGGER.exception("worker %d failed", worker)
            finally:
                logging.shutdown()
                os._exit(code)
        children[pid] = worker
    stopping = False
    code = 0

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            for child in children:
                _signal_quietly(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    LOGGER.info("workers started", extra={"workers": config.workers, "pids": sorted(children)})
    try:
        while children:
            pid, status = os.wait()
            worker = children.pop(pid, -1)
            if worker < 0:
                continue
            exit_code = os.waitstatus_to_exitcode(status)
            if not stopping:
                LOGGER.error(
                    "a worker exited on its own; stopping the others",
                    extra={"worker": worker, "pid": pid, "exit_code": exit_code},
                )
                code = 1
                stop(signal.SIGTERM, None)
            elif exit_code not in _STOPPED:
                code = 1
    finally:
        sock.close()
    return code


#: How a worker told to stop ends: uvicorn, once stopped, raises the signal it caught again.
_STOPPED = (0, -signal.SIGTERM, -signal.SIGINT)


def _signal_quietly(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _die_with_parent() -> None:
    """Linux: this process is sent SIGTERM when its parent dies (even by SIGKILL)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the parent's SIGTERM still reaches it
        return


def _one_pass(
    command: str,
    needs: str,
    flags: Mapping[str, object],
    environ: Mapping[str, str] | None,
    work: Callable[[ServeConfig, Runner], dict[str, Any]],
) -> dict[str, Any]:
    """A one-pass command over the configured store: ``work``'s report, or a UsageError."""
    config = ServeConfig.from_env(os.environ if environ is None else environ, **flags)
    logging.config.dictConfig(log_config(config.log_level, config.log_format))
    if getattr(config, needs) is None:
        option = needs.replace("_", "-")
        raise UsageError(f"{command} needs {needs} (--{option} or CALLSTATE_{needs.upper()})")
    store = open_store(config.store, timeout=config.store_timeout)
    try:
        return work(config, Runner(store, decider_for(config)))
    finally:
        store.close()


def reconcile_once(
    flags: Mapping[str, object], environ: Mapping[str, str] | None = None
) -> dict[str, int]:
    """``callstate reconcile``: one pass over the store, its report."""

    def work(config: ServeConfig, runner: Runner) -> dict[str, Any]:
        reconciler = reconciler_for(config, runner)
        assert reconciler is not None  # account_sid is set
        try:
            return reconciler.run_pass().as_json()
        finally:
            reconciler.calls.close()

    return _one_pass("reconcile", "account_sid", flags, environ, work)


def pruner_for(config: ServeConfig, runner: Runner) -> Pruner | None:
    """The retention ``--keep-days`` asks for; None without it."""
    if config.keep_days is None:
        return None
    # A forward target with no cursor yet holds back everything (floor 0).
    return Pruner(
        runner,
        timedelta(days=config.keep_days),
        clock=lambda: datetime.now(UTC),
        targets=config.forward,
    )


def prune_once(
    flags: Mapping[str, object], environ: Mapping[str, str] | None = None
) -> dict[str, int | bool]:
    """``callstate prune``: passes until the cutoff is reached, the report."""

    def work(config: ServeConfig, runner: Runner) -> dict[str, Any]:
        pruner = pruner_for(config, runner)
        assert pruner is not None  # keep_days is set
        return pruner.run_until_done().as_json()

    return _one_pass("prune", "keep_days", flags, environ, work)
