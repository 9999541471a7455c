"""The push door: apps and SDKs post events straight to TrackMaster, in their own protocols.

    POST /collect                 one event or a list (Jet log shape or {event, userId, ...})
    web/protocols/<name>.py       Segment, RudderStack, Amplitude, Snowplow, Mixpanel,
                                  PostHog, GA4: their paths and their own answers

`accept(request, protocol)` is the one entry point every endpoint calls, in
this order, so that no protocol skips a step:

1. A pool that could not finish in time anyway, and a client that sent too
   many missing or unknown write keys, get 429 (503 when the database is away)
   before anything is read: under overload a refusal must cost next to nothing.
2. A key in the request itself (Basic user, X-Write-Key, ?writeKey=, the
   protocol's own query parameter) is looked up before the body is read:
   an unknown one is refused unparsed (401).
3. The body is read with its size limit enforced while it streams in, and
   again after gzip is undone (413).
4. The protocol's pure parser turns the bytes into caught events (400 naming
   the item; 413 over the event limit); a key in the body must agree.
5. The project's rate limit (429), then the worker pool stores the batch:
   the answer is 2xx only after its transaction committed (a full pool
   answers 429 with Retry-After and nothing is dropped).

Every refusal stores nothing. The write-key rules: trackmaster/sources/writekeys.py.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import redis.asyncio as aioredis
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from trackmaster.db_outage import OUTAGE, DatabaseUnavailable
from trackmaster.errors import (
    AppError,
    BadRequest,
    PayloadTooLarge,
    PoolBusy,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
)
from trackmaster.ratelimit import RateLimiter, make_ratelimiter
from trackmaster.sessions.ingest import IngestReport
from trackmaster.settings import Settings
from trackmaster.sources import Parsed, collect
from trackmaster.sources.wire import Wire
from trackmaster.sources.writekeys import MISSING_MESSAGE, body_key, request_key
from web.api.openapi import add_components
from web.ingest_rate import check_ingest_rate
from web.params import runtime_of
from web.shedding import admitted, check_admitted, reservation_of
from workers.pool import ClientGone, WorkerPool

add_components(
    responses={
        name: {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for name, text in (
            ("WriteKey", "Code 6: the project write key is missing or unknown."),
            ("IngestTooLarge", "Code 9: over MAX_BODY_BYTES or MAX_BATCH_EVENTS; nothing stored."),
            ("IngestBusy", "Code 4: busy or over the key's rate; retry after Retry-After."),
            (
                "IngestUnavailable",
                "Code 10: the database is away; nothing stored, retry after Retry-After.",
            ),
        )
    },
    securitySchemes={
        "writeKeyBasic": {"type": "http", "scheme": "basic", "description": "user = write key"},
        "writeKeyHeader": {"type": "apiKey", "in": "header", "name": "X-Write-Key"},
    },
)


@dataclass(frozen=True)
class Protocol:
    """How one wire protocol's requests become caught events."""

    name: str
    parse: Callable[[Wire], Parsed]  # pure: bytes to events (trackmaster/sources/<name>.py)
    query_keys: tuple[str, ...] = ()  # query parameters that carry its key, besides writeKey
    max_events: int = 2000  # its own documented limit per request (MAX_BATCH_EVENTS may lower)
    max_body_bytes: int | None = None  # its own documented body limit, if below MAX_BODY_BYTES


@dataclass
class Accepted:
    """What a stored request held: the parsed events and what the store made of them."""

    parsed: Parsed
    report: IngestReport
    body_bytes: int
    project_id: int


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `max_bytes` (gzip undone)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise _too_large(max_bytes)
            chunks.append(chunk)
    except ClientDisconnect:
        raise BadRequest("the client went away before the body was read") from None
    body = b"".join(chunks)
    # PostHog's SDKs say `?compression=gzip-js` instead of (or as well as) the header.
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity") and request.query_params.get("compression") in (
        "gzip",
        "gzip-js",
    ):
        encoding = "gzip"
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise BadRequest(f"Content-Encoding {encoding!r} is not supported; send gzip or none")
    # Undo gzip in bounded steps: a small bomb must not expand into memory unchecked.
    wbits = zlib.MAX_WBITS | 16 if "gzip" in encoding else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    try:
        plain = inflater.decompress(body, max_bytes + 1)
        if len(plain) > max_bytes or inflater.unconsumed_tail:
            raise _too_large(max_bytes, after_gzip=True)
        plain += inflater.flush()
    except zlib.error as exc:
        raise BadRequest(f"the body is not valid {encoding} ({exc})") from None
    if len(plain) > max_bytes:
        raise _too_large(max_bytes, after_gzip=True)
    return plain


def _too_large(max_bytes: int, *, after_gzip: bool = False) -> PayloadTooLarge:
    what = "once un-gzipped, " if after_gzip else ""
    return PayloadTooLarge(
        f"the body is {what}over the limit of {max_bytes} bytes (MAX_BODY_BYTES); "
        "send fewer events per request"
    )


class UnknownKeys:
    """Refusals of missing or unknown write keys, counted per client address.

    A client over its budget gets 429 before anything of its request is read
    or looked up. The budget is a token bucket (shared through Redis when
    REDIS is set); the "blocked until" memo is this process's, so that a
    blocked client costs no Redis round trip either.
    """

    def __init__(self, limiter: RateLimiter, rate_per_s: float) -> None:
        self.limiter = limiter
        self.rate_per_s = rate_per_s
        self._blocked_until: dict[str, float] = {}

    def check(self, client: str) -> None:
        until = self._blocked_until.get(client)
        if until is None:
            return
        wait_s = until - time.monotonic()
        if wait_s <= 0:
            del self._blocked_until[client]
            return
        raise self._refusal(wait_s)

    async def refused(self, client: str, exc: Unauthorized) -> AppError:
        """Count one refusal: the 401 to send, or a 429 once the client is over its budget."""
        wait_s = await self.limiter.take(f"ingest-unknown:{client}")
        if wait_s is None:
            return exc
        if len(self._blocked_until) > 100_000:  # bounded: an attacker's many addresses
            self._blocked_until.clear()
        self._blocked_until[client] = time.monotonic() + wait_s
        return self._refusal(wait_s)

    def _refusal(self, wait_s: float) -> TooManyRequests:
        return TooManyRequests(
            "too many requests with a missing or unknown write key from this address "
            f"(INGEST_UNKNOWN_KEY_RATE_PER_S {self.rate_per_s:g}); copy the key from the "
            "project page and retry after the delay in Retry-After",
            retry_after_s=math.ceil(wait_s),
        )


def unknown_keys_for(settings: Settings, redis: aioredis.Redis | None) -> UnknownKeys:
    """The process's limiter of unknown keys, made by the lifespan on the Runtime's Redis."""
    limiter = make_ratelimiter(
        redis,
        settings.redis_prefix,
        settings.ingest_unknown_key_rate_per_s,
        settings.ingest_unknown_key_burst,
    )
    return UnknownKeys(limiter, settings.ingest_unknown_key_rate_per_s)


def unknown_keys_of(request: Request) -> UnknownKeys:
    unknown: UnknownKeys = request.app.state.unknown_keys
    return unknown


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").partition(";")[0].strip().lower()


async def accept(request: Request, protocol: Protocol) -> Accepted:
    """Read, parse, authorise and store one ingest request (steps in the module's doc)."""
    received_at = datetime.now(UTC)
    received = await receive(request, protocol)
    parsed, project_id = received.parsed, received.project_id
    realtime = runtime_of(request).realtime
    pool = request.app.state.pool
    report = IngestReport()
    if parsed:  # e.g. a Segment batch of identify calls only stores nothing
        try:
            report = await pool.run(
                "ingest",
                lambda: realtime.ingestor.ingest(project_id, parsed, received_at=received_at),
                abandoned=request.is_disconnected,
                reservation=reservation_of(request),
            )
        except PoolBusy:
            if OUTAGE.down:  # busy because jobs wait on a database that does not answer
                raise DatabaseUnavailable(_DB_AWAY) from None
            raise
        except ClientGone:
            # Nobody reads this answer; nothing was stored and the client will resend.
            raise ServiceUnavailable("the client went away before its events were stored") from None
    received.report = report
    return received


async def receive(request: Request, protocol: Protocol) -> Accepted:
    """Steps 1-4 and the rate limit: the request's events and project, nothing stored yet.

    GA4's debug endpoint judges these without storing them; everything else stores them.
    """
    settings = request.app.state.settings
    pool = request.app.state.pool
    if not admitted(request):  # web/shedding.py admitted it otherwise (its place: read_body)
        _admit(pool)
    client = request.client.host if request.client else "unknown"
    unknown = unknown_keys_of(request)
    unknown.check(client)
    realtime = runtime_of(request).realtime

    async def project_of(key: str) -> int:
        project_id = await realtime.index.project_for_key(key)
        if project_id is None:
            raise await unknown.refused(
                client, Unauthorized("unknown write key; copy it from the project page")
            )
        return project_id

    try:
        early_key = request_key(request.headers, request.query_params, protocol.query_keys)
    except Unauthorized as exc:
        raise await unknown.refused(client, exc) from None
    project_id = await project_of(early_key) if early_key else None

    max_bytes = settings.max_body_bytes
    if protocol.max_body_bytes is not None:
        max_bytes = min(max_bytes, protocol.max_body_bytes)
    body = await read_body(request, max_bytes) if request.method != "GET" else b""
    check_admitted(request)  # over budget by the last chunk: 429 before the parse
    wire = Wire(
        body=body,
        content_type=media_type(request),
        query=request.query_params,
        max_events=min(settings.max_batch_events, protocol.max_events),
    )
    try:
        parsed = protocol.parse(wire)
    except AppError as exc:
        if early_key is not None or exc.status >= 500 or exc.status == 413:
            raise
        if any(name in body for name in _BODY_KEY_FIELDS):
            raise  # a key may be in there: the body's own fault is the one to fix
        # No key in the headers, the query or the body: the request cannot be taken whatever
        # the body says, so the missing key is what to fix first.
        missing = f"{MISSING_MESSAGE}; none in the headers or query, and the body was refused"
        raise await unknown.refused(client, Unauthorized(f"{missing}: {exc.msg}")) from exc
    try:
        key = body_key(early_key, (event.project_key for event in parsed))
    except Unauthorized as exc:
        raise await unknown.refused(client, Unauthorized(MISSING_MESSAGE)) from exc
    if project_id is None or key != early_key:
        project_id = await project_of(key)
    await check_ingest_rate(request, project_id, len(parsed))
    return Accepted(parsed, IngestReport(), len(body), project_id)


# Where SDKs put their key in a body (Segment/RudderStack/collect, Amplitude, PostHog,
# Mixpanel, Snowplow). Refused either way; this only picks which fault is named first.
_BODY_KEY_FIELDS = (b'"writeKey"', b'"api_key"', b'"token"', b'"aid"', b"aid=")


def _admit(pool: WorkerPool) -> None:
    if OUTAGE.down and pool.queued:
        # Jobs are queueing behind a database that does not answer: say so, not "busy".
        raise DatabaseUnavailable(_DB_AWAY)
    pool.admit()


_DB_AWAY = "the database is unavailable; nothing was stored, retry after Retry-After"


Answer = Callable[[Request, Accepted], Response]
Refusal = Callable[[Request, AppError], Response]


def endpoint(
    protocol: Protocol, answer: Answer, refusal: Refusal | None = None
) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint of `protocol`: its success answer, and its own error shape when it has one.

    Without `refusal`, errors render as TrackMaster's `{code, msg, details}` (web/errors.py).
    """

    async def handle(request: Request) -> Response:
        try:
            accepted = await accept(request, protocol)
        except AppError as exc:
            if refusal is None:
                raise
            response = refusal(request, exc)
            response.headers.update(exc.headers)
            return response
        return answer(request, accepted)

    return handle


COLLECT = Protocol("collect", collect.parse, max_events=2000)


def _collect_answer(request: Request, accepted: Accepted) -> Response:
    return JSONResponse({"success": True, **accepted.report.as_json()})


collect_endpoint = endpoint(COLLECT, _collect_answer)
collect_endpoint.__doc__ = """
---
summary: 'Post one event or a list'
description: 'In the Jet raw log shape, or as {event, userId, platform, properties}; the answer
  counts stored, duplicate and unmatched events.'
security: [{writeKeyBasic: []}, {writeKeyHeader: []}]
tags: [ingest]
requestBody:
  required: true
  description: JSON (application/json or text/plain), optionally Content-Encoding gzip.
  content:
    application/json:
      schema: {type: array}
      example: [{"event": "play_click", "userId": "alice-42", "platform": "iOS",
                 "properties": {"page_info": {"id": "63a1"}}, "messageId": "m-1"}]
responses:
  200: {description: 'Stored (committed) before this answer'}
  400: {$ref: "#/components/responses/InvalidParams"}
  401: {$ref: "#/components/responses/WriteKey"}
  413: {$ref: "#/components/responses/IngestTooLarge"}
  429: {$ref: "#/components/responses/IngestBusy"}
  503: {$ref: "#/components/responses/IngestUnavailable"}
"""


def _routes() -> list[BaseRoute]:
    from web.protocols import routes as protocol_routes

    return [
        Route("/collect", collect_endpoint, methods=["POST"], name="ingest:collect"),
        *protocol_routes,
    ]


routes = _routes()
