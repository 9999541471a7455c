"""Amplitude's HTTP V2 API (POST /2/httpapi) and Batch API (POST /batch), with its answers.

The SDKs read the answer's JSON, so it has Amplitude's documented shapes:

    200 {"code": 200, "events_ingested", "payload_size_bytes", "server_upload_time"}
    400 {"code": 400, "error", "missing_field"?, "events_with_missing_fields"?: {field: [i]},
         "events_with_invalid_fields"?: {field: [i]}, "events_with_invalid_id_lengths"?: {...}}
    413 {"code": 413, "error"}                      the SDK splits the batch and retries
    429 {"code": 429, "error", "eps_threshold", "throttled_events": [i], ...}  it retries later

From the per-event lists the SDK drops exactly the bad events and resends
the rest (TrackMaster stores nothing of a refused request, so nothing twice).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trackmaster.errors import AppError, TooManyRequests
from trackmaster.sources import amplitude
from web.ingest import Accepted, Protocol, endpoint
from web.protocols._doc import describe, json_answer

PROTOCOL = Protocol("amplitude", amplitude.parse, max_events=amplitude.MAX_EVENTS)
_ITEM = re.compile(r"^events\[(\d+)\]\.(\w+)")


def _ok(request: Request, accepted: Accepted) -> Response:
    return JSONResponse(
        {
            "code": 200,
            "events_ingested": len(accepted.parsed),
            "payload_size_bytes": accepted.body_bytes,
            "server_upload_time": int(datetime.now(UTC).timestamp() * 1000),
        }
    )


def _refused(request: Request, exc: AppError) -> Response:
    if exc.status == 401:
        # Amplitude answers a bad key with 400 "Invalid API key: ..."; its SDKs stop on it.
        return JSONResponse({"code": 400, "error": f"Invalid API key: {exc.msg}"}, 400)
    body: dict = {"code": exc.status, "error": exc.msg}
    if exc.status == 400:
        missing: dict[str, list[int]] = {}
        invalid: dict[str, list[int]] = {}
        short_ids: dict[str, list[int]] = {}
        for problem in exc.details if isinstance(exc.details, list) else ():
            found = _ITEM.match(str(problem.get("field", "")))
            if found is None:
                if str(problem.get("error", "")).startswith("missing"):
                    body["missing_field"] = problem.get("field")
                continue
            index, name = int(found[1]), found[2]
            error = str(problem.get("error", ""))
            if error.startswith(amplitude.ID_TOO_SHORT):
                short_ids.setdefault(name, []).append(index)
            elif error.startswith("missing"):
                missing.setdefault(name, []).append(index)
            else:
                invalid.setdefault(name, []).append(index)
        for key, value in (
            ("events_with_missing_fields", missing),
            ("events_with_invalid_fields", invalid),
            ("events_with_invalid_id_lengths", short_ids),
        ):
            if value:
                body[key] = value
    elif isinstance(exc, TooManyRequests):
        # The whole request was refused: every event is throttled, none is lost.
        body.update(
            {
                "eps_threshold": int(request.app.state.settings.ingest_rate_per_s),
                "throttled_devices": {},
                "throttled_users": {},
                "throttled_events": [],
            }
        )
    return JSONResponse(body, status_code=exc.status)


_EXAMPLE = {
    "api_key": "YOUR_WRITE_KEY",
    "events": [
        {
            "user_id": "alice-42",
            "device_id": "C8F9E604-F01A-4BD9-95C6-8E5357DF265D",
            "event_type": "play_click",
            "time": 1764584130123,
            "platform": "iOS",
            "os_name": "iOS",
            "event_properties": {"page_name": "home"},
            "insert_id": "5f0adeff-6668-4427-8d02-57d803a2b841",
        }
    ],
    "options": {"min_id_length": 5},
}
_ERROR = {"type": "object", "required": ["code", "error"]}
_ERRORS = {
    status: json_answer(text, _ERROR)
    for status, text in (
        (
            400,
            "Amplitude's 400: which events miss or have invalid fields, or 'Invalid API "
            "key: ...'; nothing stored",
        ),
        (413, "Payload too large (over 2000 events or MAX_BODY_BYTES); split the batch"),
        (429, "Busy or over the key's rate; retry after Retry-After"),
    )
}


def _handler(what: str):
    return describe(
        endpoint(PROTOCOL, _ok, _refused),
        summary=f"Amplitude {what}",
        description="`api_key` is the project write key (X-Write-Key works too).",
        example=_EXAMPLE,
        ok=json_answer("Stored: {code: 200, events_ingested, payload_size_bytes, ...}"),
        errors=_ERRORS,
    )


routes = [
    Route("/2/httpapi", _handler("HTTP V2 API"), methods=["POST"], name="ingest:amplitude.httpapi"),
    Route("/batch", _handler("Batch API"), methods=["POST"], name="ingest:amplitude.batch"),
]
