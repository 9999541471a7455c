"""`/api/v3/sessions...`: what pipelines and test runners need (in the spirit of Snowplow Micro).

POST /api/v3/sessions                      start a session in one call: id and write key
GET  /api/v3/sessions/{id}/counts          all / good / bad events and cells, unseen events
GET  /api/v3/sessions/{id}/events          caught events, filtered, paged, newest first
POST /api/v3/sessions/{id}/reset           forget caught events and verdicts (audited)
GET  /api/v3/sessions/{id}/report          the report as JSON
GET  /api/v3/sessions/{id}/report.csv      ... as CSV, one row per cell (streamed)
GET  /api/v3/sessions/{id}/report.xml      ... as JUnit XML (streamed)
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trackmaster.errors import field_error
from trackmaster.found import get_session
from trackmaster.reports.build import build_report
from trackmaster.reports.json_out import counts_json, report_json
from trackmaster.sessions import ci
from web.api import actor, json_object
from web.api.openapi import add_components
from web.api.results_json import logs_json, session_json
from web.pager import page_from
from web.params import runtime_of
from web.reports import report_response

add_components(
    schemas={
        "CiCounts": {
            "type": "object",
            "properties": {
                "session": {"type": "integer"},
                "status": {"type": "string", "enum": ["ON", "OFF"]},
                "verdict": {"type": "string", "enum": ["passed", "failed", "incomplete"]},
                "reason": {"type": "string"},
                "events": {
                    "type": "object",
                    "description": "Caught events: good = no field failed, bad = one or more did",
                    "properties": {k: {"type": "integer"} for k in ("all", "good", "bad")},
                },
                "cells": {
                    "type": "object",
                    "description": "Result cells (event x field x platform) by verdict",
                    "properties": {
                        k: {"type": "integer"}
                        for k in ("all", "good", "bad", "uncertain", "untested")
                    },
                },
                "watched": {"type": "array", "items": {"type": "string"}},
                "unseen": {"type": "array", "items": {"type": "string"}},
            },
            "example": {
                "session": 12,
                "status": "ON",
                "verdict": "failed",
                "reason": "1 cell failed; never seen: share_click",
                "events": {"all": 5, "good": 3, "bad": 2},
                "cells": {"all": 12, "good": 4, "bad": 1, "uncertain": 1, "untested": 6},
                "watched": ["play_click", "share_click"],
                "unseen": ["share_click"],
            },
        },
        "CiStarted": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "writeKey": {"type": "string", "description": "The project's ingest write key"},
                "session": {"$ref": "#/components/schemas/Session"},
            },
            "example": {"id": 12, "writeKey": "wk_3fQ...", "session": {"id": 12, "status": "ON"}},
        },
    },
)


def _realtime(request: Request):
    return runtime_of(request).realtime


async def _session(request: Request):
    return await get_session(request.path_params["session_id"])


async def start(request: Request) -> JSONResponse:
    """
    ---
    summary: Start a session for a pipeline, in one call
    description: Like realTime/start, and events may be given by name. With createAccounts
      true, test user ids (strings) that are not accounts of the project yet are added first.
      Answers the session id and the project's write key, to send events with.
    tags: [ci]
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
              events: {type: array, items: {oneOf: [{type: integer}, {type: string}]}}
              stories: {type: array, items: {type: integer}}
              name: {type: string}
              limitS: {type: number}
              createAccounts: {type: boolean, default: false}
          example:
            project: 1
            accounts: ["ci-user-1"]
            events: ["play_click", "share_click"]
            name: "nightly e2e"
            createAccounts: true
    responses:
      201:
        description: The session, its id and the write key
        content: {application/json: {schema: {$ref: "#/components/schemas/CiStarted"}}}
      400: {$ref: "#/components/responses/InvalidParams"}
    """
    body = await json_object(request)
    session, write_key = await ci.start_for_ci(
        _realtime(request).lifecycle, body, by=actor(request)
    )
    return JSONResponse(
        {"id": session.id, "writeKey": write_key, "session": session_json(session)},
        status_code=201,
    )


async def counts(request: Request) -> JSONResponse:
    """
    ---
    summary: How many events and cells are good and bad, and which events were never seen
    tags: [ci]
    parameters:
      - {name: session_id, in: path, required: true, schema: {type: integer}}
    responses:
      200:
        description: The counts
        content: {application/json: {schema: {$ref: "#/components/schemas/CiCounts"}}}
      404: {$ref: "#/components/responses/NotFound"}
    """
    report = await build_report(await _session(request))
    return JSONResponse(counts_json(report))


async def events(request: Request) -> JSONResponse:
    """
    ---
    summary: The session's caught events, filtered and paged, newest first
    description: Every caught event (cleared ones too) with its payload, each field's value,
      verdict and reason, and the event's verdict (good = no field failed, bad = one did).
    tags: [ci]
    parameters:
      - {name: session_id, in: path, required: true, schema: {type: integer}}
      - {name: event, in: query, schema: {type: string}, example: play_click}
      - {name: platform, in: query, schema: {type: string, enum: [iOS, Android, Other]}}
      - {name: user, in: query, schema: {type: string}, example: ci-user-1}
      - {name: verdict, in: query, schema: {type: string, enum: [good, bad]}}
      - name: since
        in: query
        description: Caught at or after this time (ISO 8601; no zone means UTC)
        schema: {type: string, format: date-time}
        example: "2026-12-01T09:00:00Z"
      - {name: until, in: query, schema: {type: string, format: date-time}}
      - {$ref: "#/components/parameters/page"}
      - {$ref: "#/components/parameters/pageSize"}
    responses:
      200:
        description: A page of caught events
        content: {application/json: {schema: {$ref: "#/components/schemas/EventLogList"}}}
      400: {$ref: "#/components/responses/InvalidParams"}
      404: {$ref: "#/components/responses/NotFound"}
    """
    session = await _session(request)
    wanted = ci.parse_filter(dict(request.query_params))
    page = page_from(request)
    if page.offset > MAX_OFFSET:
        raise field_error("page", f"is too far: at most {MAX_OFFSET} rows can be skipped")
    logs, total = await ci.caught_events(session.id, wanted, page.offset, page.page_size)
    return JSONResponse(page.envelope(await logs_json(session.id, logs, good_or_bad=True), total))


async def reset(request: Request) -> JSONResponse:
    """
    ---
    summary: Reset a session (forget its caught events, verdicts, overrides and coverage)
    description: For a test run that starts clean. The session keeps its accounts, events
      and status. Recorded in the audit log (session.reset) with what was removed.
    tags: [ci]
    parameters:
      - {name: session_id, in: path, required: true, schema: {type: integer}}
    responses:
      200:
        description: What was removed
        content:
          application/json:
            schema:
              type: object
              properties:
                session: {type: integer}
                removed:
                  type: object
                  properties:
                    logs: {type: integer}
                    coverage: {type: integer}
                    overrides: {type: integer}
            example: {session: 12, removed: {logs: 40, coverage: 3, overrides: 1}}
      404: {$ref: "#/components/responses/NotFound"}
    """
    session = await _session(request)
    realtime = _realtime(request)
    removed = await ci.reset_session(realtime.bus, realtime.lifecycle, session, actor(request))
    return JSONResponse({"session": session.id, "removed": removed})


async def report(request: Request) -> Response:
    """
    ---
    summary: The session's report as JSON (facts, cells with counts, wrong values, verdict)
    tags: [ci]
    parameters:
      - {name: session_id, in: path, required: true, schema: {type: integer}}
    responses:
      200: {description: The report}
      404: {$ref: "#/components/responses/NotFound"}
    """
    return JSONResponse(report_json(await build_report(await _session(request))))


def _links(session_id: int) -> dict[str, str]:
    base = f"/api/v3/sessions/{session_id}"
    return {"csv": f"{base}/report.csv", "junit": f"{base}/report.xml", "session": ""}


async def report_csv(request: Request) -> Response:
    """
    ---
    summary: The session's report as CSV, one row per cell (streamed)
    description: Text that a spreadsheet would read as a formula starts with an apostrophe.
    tags: [ci]
    parameters:
      - {name: session_id, in: path, required: true, schema: {type: integer}}
    responses:
      200:
        description: CSV
        content: {text/csv: {schema: {type: string}}}
      404: {$ref: "#/components/responses/NotFound"}
    """
    session = await _session(request)
    return report_response(request, await build_report(session), "csv", _links(session.id))


async def report_junit(request: Request) -> Response:
    """
    ---
    summary: The session's report as JUnit XML (streamed)
    description: A test suite per watched event; in it a test case `caught` (fails when the
      event was never caught) and one per platform with a failure per failing field.
    tags: [ci]
    parameters:
      - {name: session_id, in: path, required: true, schema: {type: integer}}
    responses:
      200:
        description: JUnit XML
        content: {application/xml: {schema: {type: string}}}
      404: {$ref: "#/components/responses/NotFound"}
    """
    session = await _session(request)
    return report_response(request, await build_report(session), "junit", _links(session.id))


# Databases refuse offsets beyond 64 bits; nobody pages that far (a 400, never a 500).
MAX_OFFSET = 2**31 - 1
PREFIX = "/api/v3/sessions"
routes = [
    Route(PREFIX, start, methods=["POST"]),
    Route(f"{PREFIX}/{{session_id:int}}/counts", counts, methods=["GET"]),
    Route(f"{PREFIX}/{{session_id:int}}/events", events, methods=["GET"]),
    Route(f"{PREFIX}/{{session_id:int}}/reset", reset, methods=["POST"]),
    Route(f"{PREFIX}/{{session_id:int}}/report", report, methods=["GET"]),
    Route(f"{PREFIX}/{{session_id:int}}/report.csv", report_csv, methods=["GET"]),
    Route(f"{PREFIX}/{{session_id:int}}/report.xml", report_junit, methods=["GET"]),
]
