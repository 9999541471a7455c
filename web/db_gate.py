"""Requests that need the database wait outside while it has not been found usable.

A web process that started with its database away (trackmaster/schema_watch.py) holds
the reason in `runtime.db.closed_because`; until it clears, every request but health,
static files and the icon is answered 503 with Retry-After and that reason, rendered
as any other error (JSON or page), before anything could query an unknown schema.
An attribute lookup per request while open.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from trackmaster.db_outage import DatabaseUnavailable
from web.errors import render_error

# Answered without the database, or about it: liveness, readiness and the assets.
_OPEN_PREFIXES = ("/healthz", "/ping", "/api/v2/ping", "/static/", "/favicon.ico")


class DatabaseGateMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            runtime = getattr(scope["app"].state, "runtime", None)
            reason = runtime.db.closed_because if runtime is not None else None
            if reason is not None and not scope["path"].startswith(_OPEN_PREFIXES):
                response = render_error(Request(scope), DatabaseUnavailable(reason))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
