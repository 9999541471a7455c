"""Refusals first: a burst's refusals are not queued behind the admitted requests' work.

From SheddingMiddleware on, an admitted ingest request reads, parses and judges its
body in one step of the event loop (the body is usually all in already), 5-10 ms for
100 events. 600 requests arriving at once became 600 tasks in arrival order, the
admitted ones first, so every refusal waited behind all the admitted ones' steps: in
the overload bench none was answered before 0.5 s. An admitted request now yields once
before its work, so the refusals of the requests that arrived with it go out first.
"""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Message

from web.shedding import SheddingMiddleware, reservation_of
from workers.pool import WorkerPool

BURST = 20


async def test_a_burst_is_refused_before_the_admitted_requests_work() -> None:
    order: list[str] = []

    async def collect(request: Request) -> JSONResponse:
        await request.body()
        order.append("judged")  # stands for the parse and checks: no await in between
        # As web/ingest.py: the job takes the place the last body chunk took.
        await pool.run("ingest", lambda: asyncio.sleep(0), reservation=reservation_of(request))
        return JSONResponse({"ok": True})

    app = Starlette(
        routes=[Route("/collect", collect, methods=["POST"])],
        middleware=[Middleware(SheddingMiddleware, paths=frozenset({"/collect"}))],
    )
    # One worker, and a job estimate over the budget: the first request of the burst is
    # admitted (a free worker always is), the ones after it count it ahead and are refused.
    pool = WorkerPool(workers=1, queue_size=100, job_timeout_s=5, budget_s=0.1)
    pool.job_s = 0.2
    pool.start()
    app.state.pool = pool

    def one(n: int) -> asyncio.Task[None]:
        scope = {
            "type": "http", "method": "POST", "path": "/collect", "raw_path": b"/collect",
            "query_string": b"", "headers": [(b"content-type", b"application/json")],
            "http_version": "1.1", "scheme": "http", "root_path": "",
            "client": ("127.0.0.1", 1000 + n), "server": ("127.0.0.1", 80),
        }  # fmt: skip

        async def receive() -> Message:
            return {"type": "http.request", "body": b"[]", "more_body": False}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                order.append(f"answered {message['status']}")

        return asyncio.create_task(app(scope, receive, send))

    try:
        await asyncio.gather(*(one(n) for n in range(BURST)))  # created in one loop pass
    finally:
        await pool.close(grace_s=1)
    refused = ["answered 429"] * (BURST - 1)
    # Every refusal went out before the one admitted request's work began.
    assert order == [*refused, "judged", "answered 200"], order
