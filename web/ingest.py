"""The push endpoints: apps and SDKs post events straight to TrackMaster.

    POST /collect              one event or a list (Jet log shape or {event, userId, ...})
    POST /v1/track, /v1/t      Segment HTTP tracking API, one track call
    POST /v1/batch, /v1/b      Segment HTTP tracking API, a batch
    POST /2/httpapi            Amplitude HTTP V2

Accepted means stored: the answer is 2xx only after the batch's transaction
committed (the work runs in the worker pool; a full pool answers 429 with
Retry-After and nothing is dropped). A body is read with its size limit
enforced while it streams in (and again after gzip is undone); malformed
JSON, a bad event or too many events store nothing and say what is wrong.
The project comes from its write key: HTTP Basic user (Segment's way),
`X-Write-Key`, `?writeKey=`, or the body (`writeKey`, Amplitude's `api_key`).
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from trackmaster import safejson
from trackmaster.db_outage import OUTAGE, DatabaseUnavailable
from trackmaster.errors import (
    BadRequest,
    InvalidParams,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthorized,
)
from trackmaster.sessions.ingest import IngestReport
from trackmaster.sessions.service import realtime_for
from trackmaster.sources import CaughtEvent
from trackmaster.sources.amplitude import parse_amplitude
from trackmaster.sources.collect import parse_collect
from trackmaster.sources.segment import parse_segment
from web.api.openapi import add_components
from web.auth import check_ingest_rate
from workers.pool import ClientGone, PoolBusy, WorkerPool

Parser = Callable[[Any], list[CaughtEvent]]

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
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
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


def decode_json(body: bytes) -> Any:
    if not body.strip():
        raise BadRequest("the body is empty; send JSON")
    # Exact big integers, valid Unicode only, bounded nesting: see trackmaster/safejson.py.
    try:
        return safejson.loads(body)
    except safejson.JsonRefused as exc:
        if exc.too_deep:
            raise PayloadTooLarge(str(exc)) from None
        raise BadRequest(str(exc)) from None


def count_events(body: Any, key: str | None) -> int:
    if key is None:
        return len(body) if isinstance(body, list) else 1
    items = body.get(key) if isinstance(body, dict) else None
    return len(items) if isinstance(items, list) else 1


def _basic_user(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("the Authorization header is not valid Basic auth") from None
    return decoded.partition(":")[0] or None


def write_key_of(request: Request, events: list[CaughtEvent]) -> str:
    """The one write key of a request; several different ones are refused."""
    keys = {k for k in (e.project_key for e in events) if k}
    for candidate in (
        _basic_user(request),
        request.headers.get("x-write-key"),
        request.query_params.get("writeKey"),
    ):
        if candidate:
            keys.add(candidate)
    if not keys:
        raise Unauthorized(
            "a project write key is needed (shown on the project page): send it as the Basic "
            "auth user, the X-Write-Key header, ?writeKey=, or writeKey in the body"
        )
    if len(keys) > 1:
        raise InvalidParams("the request carries different write keys; send one project's only")
    return keys.pop()


async def _ingest(
    request: Request, parse: Parser, count_key: str | None
) -> tuple[IngestReport, int]:
    received_at = datetime.now(UTC)
    settings = request.app.state.settings
    pool = request.app.state.pool
    # Refuse before reading and parsing when the pool could not finish in time anyway:
    # under overload a refusal must cost next to nothing, or refusing becomes the load.
    _admit(pool)
    body = decode_json(await read_body(request, settings.max_body_bytes))
    count = count_events(body, count_key)
    if count > settings.max_batch_events:
        raise PayloadTooLarge(
            f"{count} events in one request, over the limit of {settings.max_batch_events} "
            "(MAX_BATCH_EVENTS); split the batch"
        )
    events = parse(body)
    key = write_key_of(request, events)
    realtime = realtime_for(request.app.state.runtime)
    project_id = await realtime.index.project_for_key(key)
    if project_id is None:
        raise Unauthorized("unknown write key; copy it from the project page")
    await check_ingest_rate(request, project_id, len(events))
    if not events:  # e.g. a Segment batch of identify calls only
        return IngestReport(), 0
    try:
        report = await pool.run(
            "ingest",
            lambda: realtime.ingestor.ingest(project_id, events, received_at=received_at),
            abandoned=request.is_disconnected,
        )
    except PoolBusy:
        if OUTAGE.down:  # busy because jobs wait on a database that does not answer
            raise DatabaseUnavailable(_DB_AWAY) from None
        raise
    except ClientGone:
        # Nobody reads this answer; nothing was stored and the client will resend.
        raise ServiceUnavailable("the client went away before its events were stored") from None
    return report, len(events)


def _admit(pool: WorkerPool) -> None:
    if OUTAGE.down and pool.queued:
        # Jobs are queueing behind a database that does not answer: say so, not "busy".
        raise DatabaseUnavailable(_DB_AWAY)
    pool.admit()


_DB_AWAY = "the database is unavailable; nothing was stored, retry after Retry-After"


async def collect(request: Request) -> JSONResponse:
    report, _ = await _ingest(request, parse_collect, None)
    return JSONResponse({"success": True, **report.as_json()})


async def segment_track(request: Request) -> JSONResponse:
    await _ingest(request, lambda body: parse_segment(body, kind="track"), None)
    return JSONResponse({"success": True})


async def segment_batch(request: Request) -> JSONResponse:
    await _ingest(request, lambda body: parse_segment(body, kind="batch"), "batch")
    return JSONResponse({"success": True})


async def amplitude(request: Request) -> JSONResponse:
    started = datetime.now(UTC)
    _, count = await _ingest(request, parse_amplitude, "events")
    return JSONResponse(
        {
            "code": 200,
            "events_ingested": count,
            "payload_size_bytes": int(request.headers.get("content-length") or 0),
            "server_upload_time": int(started.timestamp() * 1000),
        }
    )


_DOC = """
---
summary: '{summary}'
description: '{description}'
security: [{{writeKeyBasic: []}}, {{writeKeyHeader: []}}]
tags: [ingest]
requestBody:
  required: true
  description: JSON (application/json or text/plain), optionally Content-Encoding gzip.
  content: {{application/json: {{schema: {{type: {body}}}}}}}
responses:
  200: {{description: 'Stored (committed) before this answer'}}
  400: {{$ref: "#/components/responses/InvalidParams"}}
  401: {{$ref: "#/components/responses/WriteKey"}}
  413: {{$ref: "#/components/responses/IngestTooLarge"}}
  429: {{$ref: "#/components/responses/IngestBusy"}}
  503: {{$ref: "#/components/responses/IngestUnavailable"}}
"""
# One OpenAPI operation per endpoint, from one template (web/api/openapi.py reads __doc__).
for _endpoint, _summary, _description, _body in (
    (collect, "Post one event or a list", "In the Jet raw log shape, or as "
     "{event, userId, platform, properties}; the answer counts stored, duplicate and "
     "unmatched events.", "array"),
    (segment_track, "Segment HTTP tracking API, one track call", "Also at /v1/t.", "object"),
    (segment_batch, "Segment HTTP tracking API, a batch", "Also at /v1/b. Calls other than "
     "track (identify, page...) are accepted and ignored.", "object"),
    (amplitude, "Amplitude HTTP V2 API", "`api_key` in the body is the project write key.",
     "object"),
):  # fmt: skip
    _endpoint.__doc__ = _DOC.format(summary=_summary, description=_description, body=_body)

routes = [
    Route("/collect", collect, methods=["POST"]),
    Route("/v1/track", segment_track, methods=["POST"]),
    Route("/v1/t", segment_track, methods=["POST"]),
    Route("/v1/batch", segment_batch, methods=["POST"]),
    Route("/v1/b", segment_batch, methods=["POST"]),
    Route("/2/httpapi", amplitude, methods=["POST"]),
]
