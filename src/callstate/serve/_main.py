"""``callstate serve``: the receiver on uvicorn."""

from __future__ import annotations

import logging
import logging.config
import os
from collections.abc import Mapping

import uvicorn

from callstate._core._decider import Decider
from callstate._errors import UsageError
from callstate.serve._app import build_app
from callstate.serve._auth import callback_verifier, is_loopback
from callstate.serve._config import ServeConfig, open_store
from callstate.serve._limits import deadline_protocol
from callstate.serve._logging import log_config
from callstate.stores import Runner
from callstate.web import TrustedProxy

__all__ = ["serve"]

LOGGER = logging.getLogger("callstate.serve")


def serve(flags: Mapping[str, object], environ: Mapping[str, str] | None = None) -> int:
    """Run the receiver until SIGINT or SIGTERM; a graceful stop loses nothing answered 2xx."""
    config = ServeConfig.from_env(os.environ if environ is None else environ, **flags)
    verifier = callback_verifier(
        auth_token=config.auth_token,
        basic_auth=config.basic_auth,
        insecure=config.insecure_no_signatures,
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
    # callstate's TrustedProxy is the one place forwarded headers are trusted:
    # uvicorn's own proxy_headers (on by default, for loopback peers) is off.
    proxy = TrustedProxy(trust=config.trusted_proxy_headers, proxies=config.trusted_proxy_ips)
    store = open_store(config.store, timeout=config.store_timeout)
    app = build_app(
        Runner(store, Decider(dialect=config.dialect)),
        verifier=verifier,
        proxy=proxy,
        store_timeout=config.store_timeout,
        api_keys=config.api_keys,
        public_url=config.public_url,
    )
    LOGGER.info(
        "serving",
        extra={
            "host": config.host,
            "port": config.port,
            "store": config.store if "://" not in config.store else "postgresql",
            "signatures": config.auth_token is not None,
            "basic_auth": bool(config.basic_auth),
            "api_keys": len(config.api_keys),
        },
    )
    try:
        uvicorn.run(
            app,
            host=config.host,
            port=config.port,
            log_config=log_config(config.log_level, config.log_format),
            timeout_graceful_shutdown=30,
            http=deadline_protocol(config.header_timeout, config.body_timeout),
            limit_concurrency=config.max_connections,
            proxy_headers=False,
        )
    finally:
        store.close()
    return 0
