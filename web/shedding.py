"""Refuse ingest under overload before anything else runs: one ASGI check, one small answer.

Under overload most requests are refused, so the refusal itself must be nearly
free, or refusing becomes the load: at 600 concurrent senders a refusal that
went through routing, the auth middleware and the error renderer (and its
body read and parsed first) took seconds to arrive and starved the work that
was admitted. Here an ingest POST is answered 429 (the pool cannot finish it
within QUEUE_BUDGET_S) or 503 (the database is away and jobs wait on it) from
the pool's own numbers, before the body is read; the endpoint checks again,
so nothing depends on this shortcut.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from trackmaster.db_outage import OUTAGE
from trackmaster.errors import PoolBusy, PoolClosed

INGEST_PATHS = frozenset({"/collect", "/v1/track", "/v1/t", "/v1/batch", "/v1/b", "/2/httpapi"})
BUSY = json.dumps(
    {"code": 4, "msg": "TrackMaster is busy checking events; nothing was stored, retry after "
     "the delay in Retry-After"}
).encode()  # fmt: skip
AWAY = json.dumps(
    {"code": 10, "msg": "the database is unavailable; nothing was stored, retry after "
     "Retry-After"}
).encode()  # fmt: skip


class SheddingMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or (scope["path"] not in INGEST_PATHS)
        ):
            await self.app(scope, receive, send)
            return
        pool = getattr(scope["app"].state, "pool", None)
        refusal = None
        if pool is not None:
            if OUTAGE.down and pool.queued:
                refusal = (503, AWAY, 2)
            else:
                try:
                    pool.admit()
                except PoolBusy as busy:
                    refusal = (429, BUSY, busy.retry_after_s)
                except PoolClosed:
                    refusal = None  # the endpoint says it properly (503, shutting down)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, body, retry_after_s = refusal
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(max(1, int(retry_after_s))).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
