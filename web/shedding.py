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

While its body arrives (for IN_FLIGHT_S at most, workers/pool.py) an admitted
request counts ahead of the requests after it (`workers.pool.InFlight`): 600
requests arriving at once at an empty pool were otherwise all admitted at their
headers and most refused after their bodies had been read, a second late; now
those beyond the budget are refused at their headers. A body slower than that
counts no more, so sockets trickling bodies refuse nobody.

An admitted request takes a place in the pool (`workers.pool.Reservation`) when
the last chunk of its body has arrived, and holds it while the body is parsed,
so the requests arriving meanwhile see the pool as it will be, not as it was;
the endpoint's job takes that place. Not before: a place taken with the headers
was held as long as the body took (up to BODY_TIMEOUT_S), and ~160 sockets
trickling bodies made every other ingest request 429. A pool that is over its
budget by the last chunk refuses then (PoolBusy out of `receive`: 429, before
the parse). The endpoint checks again for requests that were not admitted here,
so nothing depends on this shortcut.
The connection is kept: closing one with its body unread would reset it, and
the client could lose the answer.

Cheaper still, and first: `EarlyRefusal` makes the same decision for the HTTP
protocol (web/connections.py) at a request's headers, before h11 parses them or
uvicorn starts a task, and renders the whole answer as one write. What it does
not refuse, or cannot read simply, goes on to h11, uvicorn and this middleware,
which decides again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import weakref
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trackmaster.db_outage import OUTAGE
from trackmaster.errors import PoolBusy, PoolClosed
from web.security import SECURITY_HEADERS
from workers.pool import InFlight, Reservation

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


class Admission:
    """A request admitted here: its place in the pool is taken when its body is all in."""

    def __init__(self, pool: Any, in_flight: InFlight, receive: Receive) -> None:
        self.pool = pool
        self.in_flight = in_flight
        self.reservation: Reservation | None = None
        # A pool over budget by the last chunk: raised by the endpoint once the body is
        # read (web/ingest.py), not from receive, where a body refused 413 is drained.
        self.refused: Exception | None = None
        self._receive = receive

    async def receive(self) -> Message:
        message = await self._receive()
        if (
            message["type"] == "http.request"
            and not message.get("more_body", False)
            and self.reservation is None
            and self.refused is None
        ):
            try:
                self.reservation = self.pool.reserve(self.in_flight)
            except (PoolBusy, PoolClosed) as exc:
                self.refused = exc
        return message

    def release(self) -> None:
        self.in_flight.settle()  # ended before its body was in (413, a disconnect)
        if self.reservation is not None:
            self.reservation.release()  # unless its job took it


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


def admitted(request: Request) -> bool:
    """Whether this request was admitted here (its place is taken with its last body chunk)."""
    return request.scope.get("state", {}).get(RESERVATION) is not None


def check_admitted(request: Request) -> None:
    """Raise the refusal its last body chunk met (PoolBusy: 429 before the parse)."""
    admission = request.scope.get("state", {}).get(RESERVATION)
    if admission is not None and admission.refused is not None:
        raise admission.refused


def reservation_of(request: Request) -> Reservation | None:
    """The place this request holds in the pool, if it was admitted here and still holds it."""
    admission = request.scope.get("state", {}).get(RESERVATION)
    held = admission.reservation if admission is not None else None
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
            in_flight = pool.admit_in_flight()
        except PoolBusy as busy:
            await _refuse(send, 429, BUSY, _BUSY_HEADERS, busy.retry_after_s)
            return
        except PoolClosed:
            await self.app(scope, receive, send)  # the endpoint says it (503, shutting down)
            return
        admission = Admission(pool, in_flight, receive)
        scope.setdefault("state", {})[RESERVATION] = admission
        try:
            # Refusals first: requests that arrived with this one wait behind it in the
            # loop's queue, and from here an admitted request reads, parses and judges its
            # body in one step (5-10 ms for 100 events, the body is usually all in). 600 at
            # once put every refusal behind the ~50 admitted ones' steps: none was answered
            # before 0.5 s. One yield lets those queued meanwhile be refused first.
            await asyncio.sleep(0)
            await self.app(scope, admission.receive, send)
        finally:
            admission.release()


async def _refuse(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]], retry_after_s: int
) -> None:
    retry_after = (b"retry-after", str(max(1, int(retry_after_s))).encode())
    await send(
        {"type": "http.response.start", "status": status, "headers": [*headers, retry_after]}
    )
    await send({"type": "http.response.body", "body": body})


_STATUS_LINES = {
    429: b"HTTP/1.1 429 Too Many Requests\r\n",
    503: b"HTTP/1.1 503 Service Unavailable\r\n",
}


def _fixed_head(headers: list[tuple[bytes, bytes]]) -> bytes:
    return b"".join(name + b": " + value + b"\r\n" for name, value in headers)


_BUSY_HEAD = _fixed_head(_BUSY_HEADERS)
_AWAY_HEAD = _fixed_head(_AWAY_HEADERS)


class EarlyRefusal:
    """The shedding decision for the HTTP protocol, at a request's headers, as whole answers.

    Under overload most requests are refused; through uvicorn each refusal was an h11
    parse, a task, the ASGI stack and three h11 writes (two socket sends). Here the
    protocol asks with the request's target only, and writes the bytes returned in one
    send. The decision is SheddingMiddleware's (the same pool, numbers and answers), but
    it only asks (`WorkerPool.admit`): an admitted request goes on to the middleware,
    which admits it again and counts its body in flight.
    """

    def __init__(self, app: Starlette, paths: frozenset[str]) -> None:
        self.app = app
        self.paths = frozenset(path.encode() for path in paths)

    def answer(self, target: bytes, default_headers: list[tuple[bytes, bytes]]) -> bytes | None:
        """The whole refusal of a POST to `target` now, or None: let the app take it.

        `default_headers` are the server's own (uvicorn's date and server), put first
        as on every other answer.
        """
        if target.partition(b"?")[0] not in self.paths:
            return None
        pool = getattr(self.app.state, "pool", None)
        if pool is None:
            return None
        if OUTAGE.down and pool.queued:
            return _render(503, _AWAY_HEAD, AWAY, 2, default_headers)
        try:
            pool.admit()
        except PoolBusy as busy:
            return _render(429, _BUSY_HEAD, BUSY, busy.retry_after_s, default_headers)
        except PoolClosed:
            return None  # the endpoint says it (503, shutting down)
        return None


def _render(
    status: int, head: bytes, body: bytes, retry_after_s: int,
    default_headers: list[tuple[bytes, bytes]],
) -> bytes:  # fmt: skip
    return b"".join(
        (
            _STATUS_LINES[status],
            _fixed_head(default_headers),
            head,
            b"retry-after: %d\r\n\r\n" % max(1, int(retry_after_s)),
            body,
        )
    )


# Per app (each uvicorn connection asks for its app's): None when it sheds nothing.
_EARLY: weakref.WeakKeyDictionary[Any, EarlyRefusal | None] = weakref.WeakKeyDictionary()


def early_refusal(app: Any) -> EarlyRefusal | None:
    """The EarlyRefusal of `app` (uvicorn's loaded app: Starlette, maybe wrapped), or None.

    None when it has no SheddingMiddleware (a test's app, another ASGI app).
    """
    try:
        return _EARLY[app]
    except (KeyError, TypeError):
        pass
    inner = app
    for _ in range(10):  # uvicorn's wrappers (proxy headers, message logger) keep .app
        if isinstance(inner, Starlette) or inner is None:
            break
        inner = getattr(inner, "app", None)
    found: EarlyRefusal | None = None
    if isinstance(inner, Starlette):
        for middleware in inner.user_middleware:
            cls: Any = middleware.cls
            paths = middleware.kwargs.get("paths")
            if cls is SheddingMiddleware and isinstance(paths, frozenset):
                found = EarlyRefusal(inner, paths)
                break
    with contextlib.suppress(TypeError):  # not weakly referable: asked again next time
        _EARLY[app] = found
    return found
