"""`trackmaster serve`: the web app under uvicorn (and https beside it with HTTPS_PORT).

This package imports neither web nor workers: the app is named as an import string.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from types import FrameType
from typing import TYPE_CHECKING

from trackmaster.settings import Settings, load_settings

if TYPE_CHECKING:
    import uvicorn


def _serve(args: argparse.Namespace) -> int:
    import os

    import uvicorn

    if args.host:
        # The app reads HOST too (local-admin mode is for loopback binds only): keep them one.
        os.environ["HOST"] = args.host
    # The app reads these too: the project page shows the https ingest URL.
    for flag, name in (
        ("https_port", "HTTPS_PORT"),
        ("cert", "TLS_CERT_FILE"),
        ("key", "TLS_KEY_FILE"),
    ):
        if getattr(args, flag, None):
            os.environ[name] = str(getattr(args, flag))
    settings = load_settings()
    # Say what is wrong before uvicorn starts: a failed lifespan prints a traceback.
    asyncio.run(_preflight(settings))
    config = uvicorn.Config(
        "web.app:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level=settings.log_level.lower(),
        # SSE streams end on shutdown by themselves; give the pool its grace.
        timeout_graceful_shutdown=int(settings.shutdown_grace_s) + 5,
        # Explicit, never uvicorn's default (which believes X-Forwarded-For from 127.0.0.1,
        # so anyone on this machine, or any local proxy's client, picks their own address).
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or [],
        # Header and body deadlines and the connection cap (web/connections.py), named as
        # a string: this package does not import web.
        http=DEADLINE_PROTOCOL,
    )
    _protocol_limits(config, settings)
    server = uvicorn.Server(config)
    if settings.https_port:
        return _serve_with_https(server, settings)
    server.run()
    return 0 if server.started else 3  # as uvicorn.run: it could not start (port in use...)


DEADLINE_PROTOCOL = "web.connections:DeadlineH11Protocol"


def _protocol_limits(config: uvicorn.Config, settings: Settings) -> None:
    """Hand DeadlineH11Protocol its limits: uvicorn.Config has no options of ours, so the
    protocol reads these attributes by getattr. The cap is the protocol's, not uvicorn's
    `limit_concurrency` (a bare 503 without Retry-After, and a log line per refusal)."""
    config.tm_header_timeout_s = settings.header_timeout_s  # type: ignore[attr-defined]  # ours
    config.tm_body_timeout_s = settings.body_timeout_s  # type: ignore[attr-defined]  # ours
    config.tm_max_connections = settings.max_connections  # type: ignore[attr-defined]  # ours


def _serve_with_https(server: uvicorn.Server, settings: Settings) -> int:
    """The same app on PORT (http) and HTTPS_PORT (https), in one process and one lifespan."""
    from pathlib import Path

    import uvicorn

    from trackmaster.tls import self_signed

    if bool(settings.tls_cert_file) != bool(settings.tls_key_file):
        print("trackmaster: set both TLS_CERT_FILE and TLS_KEY_FILE (--cert, --key), or neither",
              file=sys.stderr)  # fmt: skip
        return 2
    cert, key = settings.tls_cert_file, settings.tls_key_file
    if not cert:
        made = self_signed(Path(settings.sqlite_path).resolve().parent / "tls")
        cert, key = str(made[0]), str(made[1])
        print(f"trackmaster: https with a self-made certificate {cert} (install it on test "
              "devices to trust it)", file=sys.stderr)  # fmt: skip
    main = server.config
    main.load()  # one app: the https server shares it and its lifespan (started by http)
    tls = uvicorn.Server(uvicorn.Config(
        main.loaded_app, host=main.host, port=settings.https_port, lifespan="off",
        log_level=settings.log_level.lower(), ssl_certfile=cert, ssl_keyfile=key,
        proxy_headers=False, http=DEADLINE_PROTOCOL,
        timeout_graceful_shutdown=main.timeout_graceful_shutdown,
    ))  # fmt: skip
    # The same deadlines and cap as http: a slow client must not find an open door here.
    _protocol_limits(tls.config, settings)
    # uvicorn 0.54 has no install_signal_handlers to turn off: each serve() captures SIGINT
    # and SIGTERM, the https one last, and on leaving restores the handlers and raises the
    # signal again, which reaches the main server's handle_exit below.
    stop_main = server.handle_exit

    def handle_exit(sig: int, frame: FrameType | None) -> None:  # a signal stops both servers
        tls.should_exit = True
        stop_main(sig, frame)

    # The instance's own handler, which capture_signals installs for both signals.
    server.handle_exit = handle_exit  # type: ignore[method-assign]  # on purpose, see above

    async def both() -> None:
        await asyncio.gather(server.serve(), tls.serve())

    asyncio.run(both())
    return 0 if server.started and tls.started else 3


async def _preflight(settings: Settings) -> None:
    from trackmaster import db
    from trackmaster.reachability import Away, Unreachable, check_redis

    # The embedded SQLite migrates itself on start; a shared MySQL must be current, and
    # answer: one that refuses the user or lacks the database stops the start here, while
    # one that is away is an outage the web starts through (its lifespan says so once,
    # trackmaster/schema_watch.py), as it does without Redis.
    if settings.uses_mysql:
        try:
            pending = await db.pending_migrations(settings)
        except Away:
            pending = []
        if pending:
            raise db.SchemaOutOfDate(db.out_of_date_message(settings, pending))
    if settings.redis:
        try:
            await check_redis(settings.redis)
        except Unreachable as exc:
            # Redis away degrades, it does not stop the web (issue 14): rate limits per
            # process and live updates inside it until Redis answers. Said once, here.
            logging.getLogger("trackmaster.serve").warning(
                "%s Starting degraded until it answers.", exc
            )


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser("serve", help="run the web app (and its worker pool)")
    serve.add_argument("--host", help="listen address (default: HOST setting)")
    serve.add_argument("--port", type=int, help="listen port (default: PORT setting)")
    serve.add_argument(
        "--https-port",
        type=int,
        help="also listen with https on this port (default: HTTPS_PORT setting)",
    )
    serve.add_argument("--cert", help="PEM certificate for https (default: a self-made one)")
    serve.add_argument("--key", help="PEM private key of --cert")
    serve.set_defaults(handler=_serve)
