"""One size policy for every request body, applied in one place: this ASGI middleware.

Handlers read bodies through Starlette (`request.body()`, `.json()`,
`.form()`), which buffer what they are sent: Starlette caps one form field at
1 MiB but not how many there are, so 1,000 fields of 1 MiB on an anonymous
`POST /login` grew the process by a GiB (issue 15), and a 200 MB chunked plan
upload was buffered before its 413. Here, before any handler runs:

- a declared `Content-Length` over the route's limit is refused at once (413),
  nothing read;
- every body is counted as it streams in (chunked ones too) and refused the
  moment it passes the limit;
- forms are counted too: fields of an urlencoded body (`&`), parts of a
  multipart one (its boundary), at most MAX_FORM_FIELDS.

The limit is MAX_UPLOAD_BYTES (+64 KiB of multipart framing) for plan
uploads, MAX_BODY_BYTES for everything else: JSON APIs, page forms, ingest
(which also bounds the body after gzip). `json_body` is the one way to parse
a JSON body: trackmaster/safejson.py (nesting, NaN, lone surrogates, huge
integers) with its refusals as 400 or 413.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trackmaster import safejson
from trackmaster.errors import AppError, BadRequest, PayloadTooLarge
from trackmaster.settings import Settings

MULTIPART_SLACK_BYTES = 64 * 1024
# A refused body is read on and thrown away up to this much (nothing kept), so that an
# honest client that sent too much still reads its 413 instead of a reset connection.
# Past it the connection is simply closed: an attacker gets no more of our time.
DRAIN_MAX_BYTES = 32 * 1024 * 1024
DRAIN_MAX_S = 5.0
# Plan uploads may be MAX_UPLOAD_BYTES; one list, like the permission table.
UPLOAD_ROUTES = (
    ("PUT", re.compile(r"/api/v3/projects/[^/]+/plan")),
    ("POST", re.compile(r"/projects/[^/]+/plan")),
)
_BOUNDARY = re.compile(rb'boundary="?([^";,]+)"?', re.IGNORECASE)


class BodyLimits:
    """The limits of one request, by route and content type."""

    def __init__(self, settings: Settings) -> None:
        self.body_bytes = settings.max_body_bytes
        self.upload_bytes = settings.max_upload_bytes + MULTIPART_SLACK_BYTES
        self.form_fields = settings.max_form_fields

    def bytes_for(self, method: str, path: str) -> int:
        for route_method, pattern in UPLOAD_ROUTES:
            if method == route_method and pattern.fullmatch(path):
                return self.upload_bytes
        return self.body_bytes


class _FieldCounter:
    """Counts form fields as chunks stream by, without keeping the body."""

    def __init__(self, content_type: bytes) -> None:
        self.separator: bytes | None = None
        if content_type.startswith(b"application/x-www-form-urlencoded"):
            self.separator = b"&"
            self.count = 1
        elif content_type.startswith(b"multipart/form-data"):
            match = _BOUNDARY.search(content_type)
            self.separator = b"--" + (match.group(1) if match else b"")
            self.count = -1  # n parts have n + 1 boundaries (the last one closes)
        self._tail = b""

    def feed(self, chunk: bytes) -> int:
        if self.separator is None:
            return 0
        # A boundary may straddle two chunks: look at the end of the last one too.
        window = self._tail + chunk
        self.count += window.count(self.separator) - self._tail.count(self.separator)
        self._tail = window[-(len(self.separator) - 1) :] if len(self.separator) > 1 else b""
        return self.count


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.limits = BodyLimits(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.bytes_for(scope["method"], scope["path"])
        headers = dict(scope.get("headers", ()))
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            if int(declared) <= DRAIN_MAX_BYTES:
                await _drain(receive)
            await _refuse(scope, receive, send, _too_large(limit, declared=int(declared)))
            return
        counter = _FieldCounter(headers.get(b"content-type", b"").lower())
        max_fields = self.limits.form_fields
        size = 0

        async def counted() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                size += len(chunk)
                error = None
                if size > limit:
                    error = _too_large(limit)
                elif counter.feed(chunk) > max_fields:
                    error = PayloadTooLarge(
                        f"the form has more than {max_fields} fields (MAX_FORM_FIELDS)"
                    )
                if error is not None:
                    if message.get("more_body", False):
                        await _drain(receive)
                    raise error
            return message

        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except PayloadTooLarge as exc:
            # Raised where no handler caught it (a middleware reading the body): answer here.
            if started:
                raise
            await _refuse(scope, receive, send, exc)


async def _drain(receive: Receive) -> None:
    """Read the rest of a refused body and throw it away, within the drain budget."""
    drained = 0
    try:
        async with asyncio.timeout(DRAIN_MAX_S):
            while drained <= DRAIN_MAX_BYTES:
                message = await receive()
                if message["type"] != "http.request":
                    return
                drained += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return
    except TimeoutError:
        pass


def _too_large(limit: int, declared: int | None = None) -> PayloadTooLarge:
    what = f"{declared} bytes" if declared is not None else "larger"
    return PayloadTooLarge(
        f"the request body is {what}; this endpoint takes at most {limit} bytes "
        "(MAX_BODY_BYTES, or MAX_UPLOAD_BYTES for plan files)"
    )


async def _refuse(scope: Scope, receive: Receive, send: Send, error: AppError) -> None:
    from web.errors import render_error  # web.errors imports templates: only when refusing

    # The connection closes after the answer: the rest of the body is never read.
    response = render_error(Request(scope), error)
    response.headers["Connection"] = "close"
    await response(scope, receive, send)


async def json_body(request: Request, invalid: type[AppError] = BadRequest) -> Any:
    """The request body parsed as JSON the safe way, or `invalid` (400) / 413 saying why."""
    raw = await request.body()
    if not raw.strip():
        raise invalid("the body is empty; send a JSON object")
    try:
        return safejson.loads(raw)
    except safejson.JsonRefused as exc:
        if exc.too_deep:
            raise PayloadTooLarge(str(exc)) from None
        raise invalid(f"{exc}; send a JSON object") from None
