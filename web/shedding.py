"""Refuse ingest under overload before anything else runs: one ASGI check, one small answer.

Under overload most requests are refused, so the refusal itself must be nearly
free, or refusing becomes the load: at 600 concurrent senders a refusal that
went through routing, the auth middleware and the error renderer (and its
body read and parsed first) took seconds to arrive and starved the work that
was admitted. Here, as the outermost of the app's middleware, an ingest POST
is answered 429 (the pool cannot finish it within QUEUE_BUDGET_S) or 503 (the
database is away and jobs wait on it) from the pool's own numbers, before its
body is read, with headers rendered once (the security and CORS headers the
inner middleware would add included).

An admitted request holds a place in the pool (`workers.pool.Reservation`) while
its body is read and parsed, so the requests arriving meanwhile see the pool as
it will be, not as it was; the endpoint's job takes that place. The endpoint
checks again for requests that hold none, so nothing depends on this shortcut.
The connection is kept: closing one with its body unread would reset it, and
the client could lose the answer.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from trackmaster.db_outage import OUTAGE
from trackmaster.errors import PoolBusy, PoolClosed
from web.security import SECURITY_HEADERS
from workers.pool import Reservation

BUSY = json.dumps(
    {"code": 4, "msg": "TrackMaster is busy checking events; nothing was stored, retry after "
     "the delay in Retry-After"}
).encode()  # fmt: skip
AWAY = json.dumps(
    {"code": 10, "msg": "the database is unavailable; nothing was stored, retry after "
     "Retry-After"}
).encode()  # fmt: skip
# Where an admitted request's place is kept (the request's own `state`).
RESERVATION = "pool_reservation"


def _headers(body: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *SECURITY_HEADERS.items(),
        # What web/cors.py gives every ingest answer: browser SDKs read Retry-After.
        (b"access-control-allow-origin", b"*"),
        (b"access-control-expose-headers", b"Retry-After"),
    ]


_BUSY_HEADERS = _headers(BUSY)
_AWAY_HEADERS = _headers(AWAY)


def reservation_of(request: Request) -> Reservation | None:
    """The place this request holds in the pool, if it was admitted here and still holds it."""
    held = request.scope.get("state", {}).get(RESERVATION)
    return held if held is not None and held.held else None


def post_paths(routes: list[BaseRoute]) -> frozenset[str]:
    """The fixed paths that take POSTs among `routes` (web/ingest.py's: every protocol)."""
    return frozenset(
        route.path
        for route in routes
        if isinstance(route, Route) and "POST" in (route.methods or ()) and "{" not in route.path
    )


class SheddingMiddleware:
    def __init__(self, app: ASGIApp, paths: frozenset[str]) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or (scope["path"] not in self.paths)
        ):
            await self.app(scope, receive, send)
            return
        pool = getattr(scope["app"].state, "pool", None)
        if pool is None:
            await self.app(scope, receive, send)
            return
        if OUTAGE.down and pool.queued:
            await _refuse(send, 503, AWAY, _AWAY_HEADERS, 2)
            return
        try:
            reservation = pool.reserve()
        except PoolBusy as busy:
            await _refuse(send, 429, BUSY, _BUSY_HEADERS, busy.retry_after_s)
            return
        except PoolClosed:
            await self.app(scope, receive, send)  # the endpoint says it (503, shutting down)
            return
        scope.setdefault("state", {})[RESERVATION] = reservation
        try:
            await self.app(scope, receive, send)
        finally:
            reservation.release()  # unless its job took it


async def _refuse(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]], retry_after_s: int
) -> None:
    retry_after = (b"retry-after", str(max(1, int(retry_after_s))).encode())
    await send(
        {"type": "http.response.start", "status": status, "headers": [*headers, retry_after]}
    )
    await send({"type": "http.response.body", "body": body})
