"""GA4 Measurement Protocol: /mp/collect stores, /debug/mp/collect judges without storing.

    POST /mp/collect?measurement_id=G-XXXX&api_secret=KEY     204 No Content when stored
    POST /debug/mp/collect?...                                200 {"validationMessages": [...]}

GA4 answers 2xx to anything, which would hide a bad request: TrackMaster
answers a refused /mp/collect with its 4xx and the same `validationMessages`
body as the debug endpoint. The debug endpoint runs TrackMaster's own checks
(trackmaster/checks) on each event against the live sessions that would
catch it, so a developer's debug call shows the plan's verdicts: one message
per field that is not SUCCESS, plus a message when no live session watches
the event. GA4 has no official server-side client: tests post its documented
JSON with httpx.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trackmaster.checks import check_event
from trackmaster.checks.unplanned import find_unplanned, root_for
from trackmaster.errors import AppError
from trackmaster.sources import ga4
from web.ingest import Accepted, Protocol, endpoint, receive
from web.params import runtime_of
from web.protocols._doc import describe, json_answer

PROTOCOL = Protocol("ga4", ga4.parse, query_keys=("api_secret",), max_events=ga4.MAX_EVENTS)
_ITEM = re.compile(r"^events\[(\d+)\]\.?(.*)$")
_CODES = {400: "VALUE_INVALID", 401: "VALUE_INVALID", 413: "VALUE_OUT_OF_BOUNDS",
          429: "VALUE_INVALID", 503: "VALUE_INVALID"}  # fmt: skip


def _message(field_path: str, description: str, code: str) -> dict:
    return {"fieldPath": field_path, "description": description, "validationCode": code}


def _refusal_messages(exc: AppError) -> list[dict]:
    details = exc.details if isinstance(exc.details, list) else []
    code = _CODES.get(exc.status, "VALUE_INVALID")
    if not details:
        return [_message("", exc.msg, code)]
    messages = []
    for problem in details:
        field = str(problem.get("field", ""))
        found = _ITEM.match(field)
        path = f"events[{found[1]}].{found[2]}" if found else field
        error = str(problem.get("error", ""))
        messages.append(_message(path, error, "VALUE_REQUIRED" if error.startswith("missing")
                                 else code))  # fmt: skip
    return messages


def _refused(request: Request, exc: AppError) -> Response:
    return JSONResponse({"validationMessages": _refusal_messages(exc)}, status_code=exc.status)


def _stored(request: Request, accepted: Accepted) -> Response:
    return Response(status_code=204)


async def debug(request: Request) -> Response:
    """Judge each event as a live session would, store nothing; GA4's validation answer."""
    try:
        received = await receive(request, PROTOCOL)
    except AppError as exc:
        # GA4's debug endpoint answers 200 with the messages; a key or rate refusal keeps its
        # status, so that a wrong api_secret is never mistaken for a valid request.
        status = 200 if exc.status == 400 or exc.status == 413 else exc.status
        return JSONResponse({"validationMessages": _refusal_messages(exc)}, status, exc.headers)
    snapshot = await runtime_of(request).realtime.index.snapshot(received.project_id)
    now = datetime.now(UTC)
    messages = []
    for index, event in enumerate(received.parsed):
        targets = snapshot.match(event.user_id, event.name, now)
        if not targets:
            why = snapshot.why_unmatched(event.user_id, event.name, now)
            messages.append(_message(f"events[{index}].name", why, "VALUE_INVALID"))
            continue
        for target in targets:
            keys = {rule.field_id: rule.key for rule in target.plan.fields}
            for check in check_event(target.plan.fields, event.payload, event.lookup_style):
                if check.verdict.value == "SUCCESS":
                    continue
                messages.append(
                    _message(
                        f"events[{index}].params.{keys.get(check.field_id, check.field_id)}",
                        f"{check.verdict.value}: {check.reason}",
                        "VALUE_INVALID",
                    )
                )
            root = root_for(event.source, event.lookup_style)
            for item in find_unplanned(target.plan.planned, event.payload, root):
                messages.append(
                    _message(
                        f"events[{index}].params.{item.key}",
                        f"UNCERTAIN ({item.code}): {item.reason}",
                        "NAME_INVALID",
                    )
                )
    return JSONResponse({"validationMessages": messages})


_EXAMPLE = {
    "client_id": "123456.7654321",
    "user_id": "alice-42",
    "events": [{"name": "play_click", "params": {"page_name": "home", "platform": "iOS"}}],
}
_MESSAGES = {"type": "object", "required": ["validationMessages"]}
_ERRORS = {status: json_answer(text, _MESSAGES) for status, text in (
    (400, "validationMessages: what is wrong; nothing stored"), (401, "unknown api_secret"),
    (413, "over 25 events or MAX_BODY_BYTES"), (429, "busy or over the rate"))}  # fmt: skip

collect = describe(
    endpoint(PROTOCOL, _stored, _refused),
    summary="GA4 Measurement Protocol",
    description="`api_secret` is the write key. Events by name, params as fields; the user "
    "is user_id, else client_id / app_instance_id. Up to 25 events.",
    example=_EXAMPLE,
    query=("measurement_id", "firebase_app_id", "api_secret"),
    ok=json_answer("Never: a stored request answers 204 No Content"),
    errors={204: {"description": "Stored (committed) before this answer"}, **_ERRORS},
)
describe(
    debug,
    summary="GA4 Measurement Protocol validation, by TrackMaster's checks",
    description="Stores nothing. One validationMessage per field of the plan that would not "
    "be SUCCESS in the live sessions that watch the event, per param the plan does not list "
    "for it (NAME_INVALID, unplanned_property, with did you mean), and per event none watches.",
    example=_EXAMPLE,
    query=("measurement_id", "firebase_app_id", "api_secret"),
    ok=json_answer("{validationMessages: [{fieldPath, description, validationCode}]}", _MESSAGES),
    errors={401: json_answer("unknown api_secret", _MESSAGES),
            429: json_answer("busy or over the rate", _MESSAGES)},
)  # fmt: skip

routes = [
    Route("/mp/collect", collect, methods=["POST"], name="ingest:ga4.collect"),
    Route("/debug/mp/collect", debug, methods=["POST"], name="ingest:ga4.debug"),
]
