"""``callstate serve``: the receiver on uvicorn."""

from __future__ import annotations

import logging
import logging.config
import os
from collections.abc import Mapping

import uvicorn

from callstate._core._decider import Decider
from callstate.serve._app import build_app
from callstate.serve._config import ServeConfig, open_store
from callstate.serve._limits import BodyDeadline, header_deadline_protocol
from callstate.serve._logging import log_config
from callstate.stores import Runner
from callstate.web import TrustedProxy, TwilioSignature, Unverified, Verifier

__all__ = ["serve"]

LOGGER = logging.getLogger("callstate.serve")


def serve(flags: Mapping[str, object], environ: Mapping[str, str] | None = None) -> int:
    """Run the receiver until SIGINT or SIGTERM; a graceful stop loses nothing answered 2xx."""
    config = ServeConfig.from_env(os.environ if environ is None else environ, **flags)
    logging.config.dictConfig(log_config(config.log_level))
    store = open_store(config.store, timeout=config.store_timeout)
    verifier: Verifier = (
        TwilioSignature(secrets=[config.auth_token]) if config.auth_token else Unverified()
    )
    proxy = TrustedProxy(trust=config.trusted_proxy_headers)
    app = build_app(
        Runner(store, Decider(dialect=config.dialect)),
        verifier=verifier,
        proxy=proxy,
        store_timeout=config.store_timeout,
    )
    LOGGER.info(
        "serving",
        extra={
            "host": config.host,
            "port": config.port,
            "store": config.store if "://" not in config.store else "postgresql",
            "signatures": config.auth_token is not None,
        },
    )
    try:
        uvicorn.run(
            BodyDeadline(app, config.body_timeout),
            host=config.host,
            port=config.port,
            log_config=log_config(config.log_level),
            timeout_graceful_shutdown=30,
            http=header_deadline_protocol(config.header_timeout),
            limit_concurrency=config.max_connections,
        )
    finally:
        store.close()
    return 0
