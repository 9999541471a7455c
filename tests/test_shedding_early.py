"""Refusals at the headers, in the HTTP protocol (web/connections.py, web/shedding.py).

Under overload most ingest requests are refused. Through uvicorn each refusal was an
h11 parse, a task, the ASGI stack and two socket sends: in the overload bench the
first wave of 600 was answered 0.4-1.0 s after it was sent and no batch was
acknowledged before 1.1 s. The protocol now refuses a plainly framed ingest POST at
its head, in one send, and drops its body; the connection goes on with the next
request, framed right. Heads it cannot read simply go to h11 and the app, which sheds.

Real sockets on loopback, the real protocol class, a real WorkerPool and Starlette app.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.server import ServerState

from web.connections import DeadlineH11Protocol, plain_post
from web.shedding import SheddingMiddleware, reservation_of
from workers.pool import WorkerPool

BODY = json.dumps([{"event": "play_click", "n": n} for n in range(200)]).encode()


def head(length: int, *extra: str, target: str = "/collect") -> bytes:
    lines = [f"POST {target} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
             f"Content-Length: {length}", *extra]  # fmt: skip
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


BODY_TIMEOUT_S = 0.5
PING = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


class Recorder:
    """The app as uvicorn loads it (a wrapper with `.app`): records what reaches it."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.seen: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen.append(f"{scope['method']} {scope['path']}")
        await self.app(scope, receive, send)


class Served:
    def __init__(self, port: int, pool: WorkerPool, recorder: Recorder) -> None:
        self.port, self.pool, self.recorder = port, pool, recorder

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    async def collect(request: Request) -> JSONResponse:
        await request.body()
        await pool.run("ingest", lambda: asyncio.sleep(0), reservation=reservation_of(request))
        return JSONResponse({"code": 0})

    async def ping(request: Request) -> PlainTextResponse:
        return PlainTextResponse("pong")

    app = Starlette(
        routes=[Route("/collect", collect, methods=["POST"]), Route("/ping", ping)],
        middleware=[Middleware(SheddingMiddleware, paths=frozenset({"/collect"}))],
    )
    pool = WorkerPool(workers=1, queue_size=10, job_timeout_s=5, budget_s=0.1)
    pool.job_s = 0.2  # one place held is then 0.4 s ahead: over the budget
    pool.start()
    app.state.pool = pool
    recorder = Recorder(app)
    config = Config(recorder, lifespan="off", proxy_headers=False, log_level="warning")
    config.load()
    config.tm_body_timeout_s = BODY_TIMEOUT_S  # type: ignore[attr-defined]  # as trackmaster serve
    state = ServerState()
    state.default_headers = [(b"date", b"Tue, 01 Dec 2026 22:00:00 GMT"), (b"server", b"uvicorn")]
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: DeadlineH11Protocol(config, state, {}, loop), "127.0.0.1", 0
    )
    try:
        yield Served(server.sockets[0].getsockname()[1], pool, recorder)
    finally:
        server.close()
        for protocol in list(state.connections):
            protocol.transport.close()
        await pool.close(grace_s=1)


async def answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 answer with a Content-Length: status, headers, body."""
    raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = raw.decode().split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            assert name.lower() not in headers, f"{name} twice"
            headers[name.lower()] = value.strip()
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 5)
    return int(lines[0].split()[1]), headers, body


async def test_a_refusal_at_the_headers_never_reaches_the_app(served: Served) -> None:
    held = served.pool.reserve()  # the pool is over its budget for the next request
    reader, writer = await served.connect()
    try:
        writer.write(head(len(BODY)) + BODY)
        status, headers, body = await answer(reader)
        assert status == 429
        assert int(headers["retry-after"]) >= 1
        assert json.loads(body)["code"] == 4
        assert headers["content-type"] == "application/json"
        assert headers["access-control-expose-headers"] == "Retry-After"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["date"] == "Tue, 01 Dec 2026 22:00:00 GMT"
        assert served.recorder.seen == []  # no task, no app: refused by the protocol
        assert served.pool.stats.refused == 1
        # The refused body was read past: the same connection serves the next request.
        writer.write(PING)
        status, _, body = await answer(reader)
        assert (status, body) == (200, b"pong")
        assert served.recorder.seen == ["GET /ping"]
        # With room again, the next batch on this connection is admitted and answered.
        held.release()
        writer.write(head(len(BODY)) + BODY)
        status, _, body = await answer(reader)
        assert (status, json.loads(body)) == (200, {"code": 0})
        assert served.recorder.seen == ["GET /ping", "POST /collect"]
    finally:
        writer.close()


async def test_a_refused_body_in_pieces_and_a_pipelined_request_after_it(
    served: Served,
) -> None:
    served.pool.reserve()
    reader, writer = await served.connect()
    try:
        writer.write(head(len(BODY)) + BODY[:100])
        await writer.drain()
        status, _, _ = await answer(reader)
        assert status == 429  # at its head, before its body is in
        writer.write(BODY[100:3000])
        await writer.drain()
        await asyncio.sleep(0.05)
        # The rest of the body and the next request in one write: split where it ends.
        writer.write(BODY[3000:] + PING)
        status, _, body = await answer(reader)
        assert (status, body) == (200, b"pong")
        # Two refused requests and a ping in one write: two 429s, then the pong.
        writer.write(head(len(BODY)) + BODY + head(2) + b"[]" + PING)
        got = [(await answer(reader))[0] for _ in range(3)]
        assert got == [429, 429, 200]
        assert served.recorder.seen == ["GET /ping", "GET /ping"]
        assert served.pool.stats.refused == 3
    finally:
        writer.close()


async def test_a_refused_body_that_stalls_is_closed_at_the_body_deadline(served: Served) -> None:
    served.pool.reserve()
    reader, writer = await served.connect()
    try:
        writer.write(head(len(BODY)) + BODY[:100])
        status, _, _ = await answer(reader)
        assert status == 429
        started = asyncio.get_running_loop().time()
        # The rest never comes: the connection is closed, not held (a trickler's refusal).
        assert await asyncio.wait_for(reader.read(), BODY_TIMEOUT_S + 10) == b""
        assert asyncio.get_running_loop().time() - started >= BODY_TIMEOUT_S * 0.9
    finally:
        writer.close()


@pytest.mark.parametrize(
    "request_head",
    [
        head(0, "Transfer-Encoding: chunked").replace(b"Content-Length: 0\r\n", b""),
        head(len(BODY), "Connection: close"),
        head(len(BODY), target="/%63ollect"),  # /collect, percent-encoded
    ],
    ids=["chunked", "connection-close", "encoded-path"],
)
async def test_heads_it_does_not_read_go_to_the_app(served: Served, request_head: bytes) -> None:
    served.pool.reserve()
    reader, writer = await served.connect()
    try:
        body = f"{len(BODY):x}\r\n".encode() + BODY + b"\r\n0\r\n\r\n" if b"chunked" in (
            request_head
        ) else BODY  # fmt: skip
        writer.write(request_head + body)
        status, _, _ = await answer(reader)
        assert len(served.recorder.seen) == 1  # h11 and the app took it
        assert status == 429  # and the app's shedding refused it, as before
    finally:
        writer.close()


def test_plain_post_reads_only_heads_framed_by_one_content_length() -> None:
    assert plain_post(head(12) + b"[]") == (b"/collect", len(head(12)), 12)
    assert plain_post(head(12, target="/collect?x=1"))[0] == b"/collect?x=1"  # type: ignore[index]
    assert plain_post(head(5, "Connection: keep-alive")) is not None
    not_plain: list[Any] = [
        head(12)[:-2],  # the head is not all in
        head(12).replace(b"POST", b"GET"),
        head(12).replace(b"HTTP/1.1", b"HTTP/1.0"),
        head(12, "Content-Length: 12"),  # twice
        head(12).replace(b"Content-Length: 12", b"Content-Length: +12"),
        head(12).replace(b"Content-Length: 12", b"Content-Length : 12"),
        head(12, "Transfer-Encoding: chunked"),
        head(12, "Expect: 100-continue"),
        head(12, "Upgrade: websocket"),
        head(12, "Connection: close"),
        head(12, " folded: line"),
        head(12).replace(b"Content-Length: 12\r\n", b""),
        # Line breaks that are not CRLF, and control bytes: h11 or a proxy might frame
        # these otherwise (a lone LF hiding a second Content-Length), so h11 decides.
        head(12, "X-A: b\nContent-Length: 99"),
        head(12, "X-A: b\rContent-Length: 99"),
        head(12).replace(b"POST /collect", b"POST /collect\n"),
        head(12, "X-A: b\x00c"),
    ]
    for data in not_plain:
        assert plain_post(data) is None, data
