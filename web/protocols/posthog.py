"""PostHog's /capture/, /batch/, /e/ and /i/v0/e/, with the answers its SDKs read.

Success: {"status": 1}. Refused: PostHog's error shape
{"type": "validation_error" | "authentication_error", "code", "detail", "attr": null},
whose `detail` posthog-python's APIError carries.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trackmaster.errors import AppError
from trackmaster.sources import posthog
from web.ingest import Accepted, Protocol, endpoint
from web.protocols._doc import describe, json_answer

PROTOCOL = Protocol("posthog", posthog.parse, query_keys=("api_key", "token"))
_KINDS = {400: ("validation_error", "invalid_payload"), 401: ("authentication_error",
          "invalid_api_key"), 413: ("validation_error", "payload_too_large"),
          429: ("throttled", "rate_limited"), 503: ("server_error", "unavailable")}  # fmt: skip


def _ok(request: Request, accepted: Accepted) -> Response:
    return JSONResponse({"status": 1})


def _refused(request: Request, exc: AppError) -> Response:
    kind, code = _KINDS.get(exc.status, ("validation_error", "invalid"))
    return JSONResponse(
        {"type": kind, "code": code, "detail": exc.msg, "attr": None}, status_code=exc.status
    )


_EXAMPLE = {
    "api_key": "YOUR_WRITE_KEY",
    "batch": [
        {
            "event": "play_click",
            "distinct_id": "alice-42",
            "properties": {"$os": "Android", "$lib": "posthog-android", "page_name": "home"},
            "timestamp": "2026-12-01T10:15:30Z",
            "uuid": "0190f1d2-3b4c-7d5e-8f60-718293a4b5c6",
        }
    ],
}
_ERROR = {"type": "object", "required": ["type", "code", "detail"]}
_ERRORS = {status: json_answer(text, _ERROR) for status, text in (
    (400, "validation_error; nothing stored"), (401, "invalid_api_key"),
    (413, "payload_too_large"), (429, "busy or over the rate; retry later"))}  # fmt: skip

capture = describe(
    endpoint(PROTOCOL, _ok, _refused),
    summary="PostHog capture (one event, a batch, or posthog-js's array)",
    description="`api_key` (or an event's `token`) is the write key; gzip by header or "
    "`?compression=gzip-js`; form `data=` base64 too.",
    example=_EXAMPLE,
    ok=json_answer('{"status": 1}'),
    errors=_ERRORS,
)

routes = [
    Route(path, capture, methods=["POST"], name="ingest:posthog.capture")
    for path in ("/capture/", "/capture", "/batch/", "/e/", "/e", "/i/v0/e/", "/i/v0/e")
]
