"""CORS for the ingest endpoints only: browser SDKs post from any origin, without credentials.

The ingest endpoints (Access.WRITE_KEY in web/policy.py) take no
cookies and no user: they authenticate by the project's write key, which a
page ships to every visitor anyway. So any origin may post to them, and the
answers say `Access-Control-Allow-Origin: *` and never allow credentials: a
cross-site page can send events but can never act as a signed-in user.
Every other path keeps the browser's same-origin rule (no CORS headers).

A preflight (OPTIONS with Access-Control-Request-Method) is answered here
with 204, allowing the methods the endpoint takes and the headers asked for
(analytics SDKs send Content-Type: application/json, Authorization for
Segment's Basic auth, X-Write-Key). The write key is still required on the
request that follows. `navigator.sendBeacon` bodies are text/plain simple
requests with no preflight: the endpoints read any content type as the body.
"""

from __future__ import annotations

import re

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.policy import Access, decide

PREFLIGHT_MAX_AGE_S = 600
ALLOWED_METHODS = "GET, POST, OPTIONS"
# What a preflight may ask for: header names only (no spaces, commas between).
_HEADER_LIST = re.compile(r"^[A-Za-z0-9\-_, ]{0,512}$")


def is_ingest(method: str, path: str) -> bool:
    return decide(method, path).access is Access.WRITE_KEY


class IngestCorsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        headers = Headers(scope=scope)
        if method == "OPTIONS" and "access-control-request-method" in headers:
            asked = headers["access-control-request-method"].upper()
            if is_ingest(asked, path):
                await self._preflight(headers, send)
                return
        if not is_ingest(method, path):
            await self.app(scope, receive, send)
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer = MutableHeaders(scope=message)
                answer["Access-Control-Allow-Origin"] = "*"
                answer["Access-Control-Expose-Headers"] = "Retry-After"
                # The answer differs by nothing else the browser sends; no Vary: Origin needed.
            await send(message)

        await self.app(scope, receive, with_cors)

    async def _preflight(self, headers: Headers, send: Send) -> None:
        asked = headers.get("access-control-request-headers", "")
        allowed = asked if _HEADER_LIST.fullmatch(asked) else "Content-Type"
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [
                    (b"access-control-allow-origin", b"*"),
                    (b"access-control-allow-methods", ALLOWED_METHODS.encode()),
                    (b"access-control-allow-headers", allowed.encode("latin-1")),
                    (b"access-control-max-age", str(PREFLIGHT_MAX_AGE_S).encode()),
                    (b"vary", b"Access-Control-Request-Headers"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})
