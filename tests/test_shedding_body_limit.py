"""A body too large is a 413, never a 429 "retry", when the pool is busy by its last chunk.

BodyLimitMiddleware drains a refused body through the receive it is given, which is
SheddingMiddleware's Admission.receive, where the last chunk takes the request's pool
place. A pool over budget by then raised PoolBusy out of the drain: the client was told
to retry a body that can never be taken, and on the declared-length path the error
escaped the middleware (a traceback per request). The refusal is now kept and raised by
the endpoint after its body is read.
"""

from __future__ import annotations

from types import SimpleNamespace

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from trackmaster.errors import PoolBusy
from web.errors import EXCEPTION_HANDLERS
from web.limits import BodyLimitMiddleware
from web.security import SecurityHeadersMiddleware
from web.shedding import SheddingMiddleware

LIMIT = 1000


class _OverBudgetByTheLastChunk:
    """Admits a request at its headers; over budget once its body is in."""

    queued = 0

    def admit_in_flight(self) -> SimpleNamespace:
        return SimpleNamespace(settle=lambda: None)

    def reserve(self, in_flight: object = None) -> None:
        raise PoolBusy(3)


async def _collect(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"got": len(body)})


def _app() -> Starlette:
    settings = SimpleNamespace(max_body_bytes=LIMIT, max_upload_bytes=LIMIT, max_form_fields=100)
    app = Starlette(
        routes=[Route("/collect", _collect, methods=["POST"])],
        middleware=[
            Middleware(SheddingMiddleware, paths=frozenset({"/collect"})),
            Middleware(SecurityHeadersMiddleware),
            Middleware(BodyLimitMiddleware, settings=settings),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    app.state.pool = _OverBudgetByTheLastChunk()
    return app


def _client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_a_declared_too_large_body_is_413_not_429() -> None:
    async with _client() as client:
        answer = await client.post("/collect", content=b"x" * (LIMIT * 3))
    assert answer.status_code == 413, (answer.status_code, answer.text)


async def test_a_chunked_too_large_body_is_413_not_429() -> None:
    async def chunks():
        yield b"x" * (LIMIT * 2)
        yield b"x" * 10

    async with _client() as client:
        answer = await client.post("/collect", content=chunks())
    assert answer.status_code == 413, (answer.status_code, answer.text)


async def test_the_declared_path_does_not_escape_the_middleware() -> None:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.post("/collect", content=b"x" * (LIMIT * 3))
    assert answer.status_code == 413
