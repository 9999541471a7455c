"""`/api/v3/realTime/*`: the original's realtime API, plus session lists and the unmatched bin.

    POST /realTime/start         {project, accounts, events?, stories?, name?, source?, limitS?}
    POST /realTime/stop?record=
    POST /realTime/update        {record, accounts?, events?, stories?}
    GET  /realTime/getLog?record=&page=&pageSize=&after=
    POST /realTime/clearLog?record=
    POST /realTime/updateResult  {record, fields?: [{id, results, reason?}], event?, reason?}
    GET  /realTime/getResult?record=
    GET  /realTime/sessions?project=&status=   (new)
    GET  /realTime/session?record=             (new)
    GET  /projects/{id}/unmatched              (new: events that matched no live session)

Accounts are Account ids (numbers) or test user ids (strings); see
trackmaster/sessions/selection.py. Everything is under /api/v3.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from trackmaster.errors import BadRequest, field_error
from trackmaster.found import get_project, get_session
from trackmaster.models import SessionStatus
from trackmaster.sessions import actions
from trackmaster.sessions.results import uncleared_logs
from trackmaster.sessions.service import (
    Realtime,
    list_sessions,
    list_unmatched,
    session_counts,
)
from web.api import actor, as_id, json_object, query_int
from web.api.openapi import add_components
from web.api.results_json import CELL_SCHEMA, logs_json, session_json, session_results
from web.pager import page_from
from web.params import runtime_of

_SESSION = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "project": {"type": "integer"},
        "name": {"type": "string"},
        "status": {"type": "string", "enum": ["ON", "OFF"]},
        "source": {"type": "string", "enum": ["push", "jet"]},
        "jetFilterId": {"type": "string", "nullable": True},
        "startedAt": {"type": "string", "format": "date-time"},
        "expiresAt": {"type": "string", "format": "date-time"},
        "stoppedAt": {"type": "string", "format": "date-time", "nullable": True},
        "stopReason": {"type": "string"},
        "createdBy": {"type": "string"},
        "revision": {"type": "integer"},
        "accounts": {"type": "integer"},
        "events": {"type": "integer"},
        "logs": {"type": "integer"},
    },
}
_LOG = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "event": {"type": "integer"},
        "name": {"type": "string"},
        "userId": {"type": "string"},
        "platform": {"type": "string", "enum": ["iOS", "Android", "Other"]},
        "source": {"type": "string"},
        "messageId": {"type": "string", "nullable": True},
        "sentAt": {"type": "string", "format": "date-time", "nullable": True},
        "receivedAt": {"type": "string", "format": "date-time"},
        "payload": {"type": "string", "description": "The raw payload as JSON text"},
        "fields": {"type": "array", "items": {"type": "object"}},
    },
}
add_components(
    schemas={
        "Session": _SESSION,
        "SessionList": {
            "type": "object",
            "properties": {
                "data": {"type": "array", "items": _SESSION},
                "pager": {"$ref": "#/components/schemas/Pager"},
            },
        },
        "EventLogList": {
            "type": "object",
            "properties": {
                "data": {"type": "array", "items": _LOG},
                "pager": {"$ref": "#/components/schemas/Pager"},
            },
        },
        "VerdictCell": CELL_SCHEMA,
        "UnplannedProperty": {
            "type": "object",
            "description": "A property caught events sent that the plan does not list for "
            "their event, per platform, counted since the event's reset. Never changes a "
            "cell's verdict: it is its own check, UNCERTAIN with code unplanned_property.",
            "properties": {
                "platform": {"type": "string", "enum": ["iOS", "Android", "Other"]},
                "key": {"type": "string", "description": "items[].sku: [] is any element"},
                "path": {"type": "string", "description": "JSON path, $.content_info.curency"},
                "count": {"type": "integer"},
                "suggestion": {"type": "string", "description": "did you mean (a planned key)"},
                "verdict": {"type": "string", "enum": ["UNCERTAIN"]},
                "code": {"type": "string", "enum": ["unplanned_property"]},
                "reason": {"type": "string"},
                "exampleLogId": {"type": "integer", "nullable": True},
                "lastLogId": {"type": "integer", "nullable": True},
            },
            "example": {
                "platform": "Android",
                "key": "content_info.curency",
                "path": "$.content_info.curency",
                "count": 3,
                "suggestion": "content_info.currency",
                "verdict": "UNCERTAIN",
                "code": "unplanned_property",
                "reason": "not in the plan of this event; did you mean content_info.currency?",
                "exampleLogId": 41,
                "lastLogId": 57,
            },
        },
        "SessionResults": {
            "type": "object",
            "properties": {
                "session": _SESSION,
                "data": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "description": "{id, name, logs, eventCounts, fields: [{id, key, values, "
                        "note, results: {iOS|Android|Other: VerdictCell}, coverage?}], "
                        "unplanned: [UnplannedProperty], unplannedMore, expectedProperties: "
                        "[{key, reason, by, at}]}",
                        "properties": {
                            "unplanned": {
                                "type": "array",
                                "items": {"$ref": "#/components/schemas/UnplannedProperty"},
                                "description": "Most frequent first; keys marked expected "
                                "in this session are left out",
                            },
                            "unplannedMore": {"type": "integer"},
                            "expectedProperties": {"type": "array", "items": {"type": "object"}},
                        },
                    },
                },
            },
        },
    },
    parameters={
        "record": {
            "name": "record",
            "in": "query",
            "required": True,
            "schema": {"type": "integer"},
            "description": "The session id",
        },
    },
)


def _realtime(request: Request) -> Realtime:
    return runtime_of(request).realtime


def _record(request: Request, body: dict[str, Any] | None = None) -> int:
    """The session id, from the body when it has one, else the `record` query parameter."""
    if body is not None and "record" in body:
        return as_id(body["record"], "record")
    value = query_int(request, "record")
    assert value is not None  # required=True raised otherwise
    return value


async def start(request: Request) -> JSONResponse:
    """
    ---
    summary: Start a test session
    description: Watch the given accounts (Account ids as numbers, or test user ids as
      strings) and events (event ids, and/or every event of the given stories). Unknown ids,
      events removed from the plan, or two watched events with one name are refused, naming
      them. With Jet configured and a Jet project, events are pulled from a Jet log filter
      (source jet); otherwise apps post them (source push). The session stops by itself after
      limitS (default and maximum REALTIME_LIMIT).
    tags: [realtime]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [project, accounts]
            properties:
              project: {type: integer}
              accounts: {type: array, items: {oneOf: [{type: integer}, {type: string}]}}
              events: {type: array, items: {type: integer}}
              stories: {type: array, items: {type: integer}}
              name: {type: string}
              source: {type: string, enum: [push, jet]}
              limitS: {type: number}
    responses:
      201:
        description: The session
        content: {application/json: {schema: {$ref: "#/components/schemas/Session"}}}
      400: {$ref: "#/components/responses/InvalidParams"}
      502: {$ref: "#/components/responses/Upstream"}
    """
    body = await json_object(request)
    session = await _realtime(request).lifecycle.start(
        body.get("project"),
        body.get("accounts"),
        body.get("events"),
        body.get("stories"),
        name=body.get("name") or "",
        source=body.get("source"),
        limit_s=body.get("limitS"),
        created_by=actor(request),
    )
    return JSONResponse(session_json(session), status_code=201)


async def stop(request: Request) -> JSONResponse:
    """
    ---
    summary: Stop a test session
    description: Stops catching events and sets the Jet filter STOPPED. Stopping a stopped
      session answers it unchanged.
    tags: [realtime]
    parameters: [{$ref: "#/components/parameters/record"}]
    responses:
      200:
        description: The session
        content: {application/json: {schema: {$ref: "#/components/schemas/Session"}}}
      404: {$ref: "#/components/responses/NotFound"}
    """
    session = await _realtime(request).lifecycle.stop(_record(request), by=actor(request))
    return JSONResponse(session_json(session))


async def update(request: Request) -> JSONResponse:
    """
    ---
    summary: Change what a live session watches
    description: Replaces the accounts and/or the events (events and stories together give
      the new set of events). Validated like start.
    tags: [realtime]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [record]
            properties:
              record: {type: integer}
              accounts: {type: array, items: {oneOf: [{type: integer}, {type: string}]}}
              events: {type: array, items: {type: integer}}
              stories: {type: array, items: {type: integer}}
    responses:
      200:
        description: The session
        content: {application/json: {schema: {$ref: "#/components/schemas/Session"}}}
      400: {$ref: "#/components/responses/InvalidParams"}
      404: {$ref: "#/components/responses/NotFound"}
    """
    body = await json_object(request)
    session = await _realtime(request).lifecycle.update(
        _record(request, body), body.get("accounts"), body.get("events"), body.get("stories")
    )
    return JSONResponse(session_json(session))


async def get_log(request: Request) -> JSONResponse:
    """
    ---
    summary: Caught logs not yet cleared, newest first
    description: Each log with its raw payload and every field's value, verdict and reason.
      `after` gives only logs with a larger id (to poll for new ones).
    tags: [realtime]
    parameters:
      - {$ref: "#/components/parameters/record"}
      - {$ref: "#/components/parameters/page"}
      - {$ref: "#/components/parameters/pageSize"}
      - {name: after, in: query, schema: {type: integer}}
    responses:
      200:
        description: A page of logs
        content: {application/json: {schema: {$ref: "#/components/schemas/EventLogList"}}}
      404: {$ref: "#/components/responses/NotFound"}
    """
    session = await get_session(_record(request))
    page = page_from(request)
    after = query_int(request, "after", required=False) or 0
    logs, total = await uncleared_logs(session.id, page.offset, page.page_size, after_id=after)
    return JSONResponse(page.envelope(await logs_json(session.id, logs), total))


async def clear_log(request: Request) -> JSONResponse:
    """
    ---
    summary: Clear a session's logs
    description: Hides every log from getLog; results keep them. Recorded in the audit log.
    tags: [realtime]
    parameters: [{$ref: "#/components/parameters/record"}]
    responses:
      200:
        description: How many logs were hidden
        content:
          application/json:
            schema: {type: object, properties: {record: {type: integer}, cleared: {type: integer}}}
      404: {$ref: "#/components/responses/NotFound"}
    """
    session = await get_session(_record(request))
    cleared = await actions.clear_logs(_realtime(request).bus, session, actor(request))
    return JSONResponse({"record": session.id, "cleared": cleared})


async def update_result(request: Request) -> JSONResponse:
    """
    ---
    summary: Override field verdicts, or reset an event to UNTESTED
    description: 'fields: [{id, results: {"iOS": "SUCCESS", ...} or [{platform, verdict}],
      reason?}] overrides those cells; event: id resets every field of the event. Both are
      kept with who, when and why; a newer caught log wins over an older override.'
    tags: [realtime]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [record]
            properties:
              record: {type: integer}
              fields: {type: array, items: {type: object}}
              event: {type: integer}
              reason: {type: string}
    responses:
      200: {description: What was done}
      400: {$ref: "#/components/responses/InvalidParams"}
      404: {$ref: "#/components/responses/NotFound"}
    """
    body = await json_object(request)
    session = await get_session(_record(request, body))
    bus = _realtime(request).bus
    fields, event = body.get("fields"), body.get("event")
    if fields is not None and event is not None:
        raise BadRequest("give fields (to override verdicts) or event (to reset it), not both")
    if fields is not None:
        rows = await actions.override_fields(bus, session, fields, actor(request))
        return JSONResponse({"record": session.id, "overridden": len(rows)})
    if event is not None:
        await actions.reset_event(
            bus, session, event, body.get("reason"), actor(request), index=_realtime(request).index
        )
        return JSONResponse({"record": session.id, "reset": event})
    raise field_error("fields", "give fields with results (override) or event (reset)")


async def get_result(request: Request) -> JSONResponse:
    """
    ---
    summary: The session's events with each field's newest verdict per platform
    description: Per field and platform (iOS, Android, Other) the verdict, its reason, where
      it came from (log, override, reset, none), and for enumerated fields the coverage
      (values seen and missing).
    tags: [realtime]
    parameters: [{$ref: "#/components/parameters/record"}]
    responses:
      200:
        description: The results
        content: {application/json: {schema: {$ref: "#/components/schemas/SessionResults"}}}
      404: {$ref: "#/components/responses/NotFound"}
    """
    session = await get_session(_record(request))
    events = await session_results(session)
    return JSONResponse({"session": session_json(session), "data": events})


async def sessions(request: Request) -> JSONResponse:
    """
    ---
    summary: Test sessions, newest first, with their counts
    tags: [realtime]
    parameters:
      - {name: project, in: query, schema: {type: integer}}
      - {name: status, in: query, schema: {type: string, enum: ["ON", "OFF"]}}
      - {$ref: "#/components/parameters/page"}
      - {$ref: "#/components/parameters/pageSize"}
    responses:
      200:
        description: A page of sessions
        content: {application/json: {schema: {$ref: "#/components/schemas/SessionList"}}}
      400: {$ref: "#/components/responses/InvalidParams"}
    """
    page = page_from(request)
    project = query_int(request, "project", required=False)
    status = request.query_params.get("status") or None
    if status is not None and status not in SessionStatus.__members__:
        raise field_error("status", f"must be ON or OFF, got {status!r}")
    rows, total = await list_sessions(project, status, page.offset, page.page_size)
    return JSONResponse(page.envelope([session_json(s, counts) for s, counts in rows], total))


async def session(request: Request) -> JSONResponse:
    """
    ---
    summary: One test session with its counts
    tags: [realtime]
    parameters: [{$ref: "#/components/parameters/record"}]
    responses:
      200:
        description: The session
        content: {application/json: {schema: {$ref: "#/components/schemas/Session"}}}
      404: {$ref: "#/components/responses/NotFound"}
    """
    found = await get_session(_record(request))
    counts = await session_counts([found.id])
    return JSONResponse(session_json(found, counts[found.id]))


async def unmatched(request: Request) -> JSONResponse:
    """
    ---
    summary: Recent events that matched no live session, and how many there were
    description: The last UNMATCHED_KEEP of them, newest first, each with the reason
      ("why didn't my event show up?"); `count` is every one since the project began.
    tags: [realtime]
    parameters:
      - {name: project_id, in: path, required: true, schema: {type: integer}}
      - {$ref: "#/components/parameters/page"}
      - {$ref: "#/components/parameters/pageSize"}
    responses:
      200: {description: 'A page of events, plus count'}
      404: {$ref: "#/components/responses/NotFound"}
    """
    project_id = int(request.path_params["project_id"])
    project = await get_project(project_id)
    page = page_from(request)
    rows, total = await list_unmatched(project.id, page.offset, page.page_size)
    body = page.envelope(rows, total)
    body["count"] = project.unmatched_count
    return JSONResponse(body)


PREFIX = "/api/v3/realTime"
routes = [
    Route(f"{PREFIX}/start", start, methods=["POST"]),
    Route(f"{PREFIX}/stop", stop, methods=["POST"]),
    Route(f"{PREFIX}/update", update, methods=["POST"]),
    Route(f"{PREFIX}/getLog", get_log, methods=["GET"]),
    Route(f"{PREFIX}/clearLog", clear_log, methods=["POST"]),
    Route(f"{PREFIX}/updateResult", update_result, methods=["POST"]),
    Route(f"{PREFIX}/getResult", get_result, methods=["GET"]),
    Route(f"{PREFIX}/sessions", sessions, methods=["GET"]),
    Route(f"{PREFIX}/session", session, methods=["GET"]),
    Route("/api/v3/projects/{project_id:int}/unmatched", unmatched, methods=["GET"]),
]
