"""/api/v2/realTime: the original's test-session ("record") API over the core's lifecycle.

POST /realTime/start  {project, accounts, events}  -> Record (events may be empty)
POST /realTime/test   {project, accounts, events}  -> Record (events required)
POST /realTime/stop?record=                        -> Record with eventLogs
POST /realTime/update {record, accounts, events?}  -> Record with eventLogs
GET  /realTime/getLog?record=                      -> {data: [EventLog], pager}
POST /realTime/clearLog?record=                    -> {}
POST /realTime/updateResult {record, fields?, event?} -> {}
GET  /realTime/getResult?record=                   -> {data: [Event with results], pager}

The v3 twins (web/api/realtime.py) call the same core functions: Lifecycle,
session_logs, session_results, actions.*.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from trackmaster.errors import BadRequest, NotFound
from trackmaster.models import Event, Field, Project, SessionEvent, TestSession, Verdict
from trackmaster.sessions import actions
from trackmaster.sessions.results import session_logs
from trackmaster.sessions.service import Realtime
from web.api import actor
from web.api.results_json import session_results
from web.api.v2._base import (
    by_plan_id,
    by_plan_ids,
    endpoint,
    find_record,
    go_body,
    go_get,
    ok,
    original_page,
    plan_id,
    query_text,
    record_id,
    text_field,
    text_list,
)
from web.api.v2.plan import project_or
from web.api.v2.shapes import (
    enum_type_ids,
    event_json,
    event_log_json,
    event_results,
    events_json,
    field_json,
    field_results,
    plan_ids_of_logs,
    record_json,
)
from web.params import runtime_of

RECORD_MISSING = "record required in query"
_VERDICTS = {v.value for v in Verdict}
_COLUMNS = (("iOS", "ios"), ("Android", "android"), ("Other", "other"))


def _realtime(request: Request) -> Realtime:
    return runtime_of(request).realtime


async def _record_or_404(raw: str) -> TestSession:
    session = await find_record(raw)
    if session is None:
        raise NotFound(f"record with id {raw} not found")
    return session


async def _event_ids(project_id: int, raw: list[str]) -> list[int]:
    """Our ids of the project's events the original ids name; an unknown one is code 5."""
    if not raw:
        return []
    rows = await Event.filter(
        by_plan_ids(raw), story__project_id=project_id, removed_at=None
    ).values_list("id", "jet_id")
    ours = {plan_id(jet_id, row_id): row_id for row_id, jet_id in rows}
    unknown = [item for item in raw if item not in ours]
    if unknown:
        raise BadRequest(
            f"some of the events do not exist in this project: {', '.join(unknown[:20])}"
        )
    return [ours[item] for item in raw]


async def _record_answer(
    session: TestSession, *, events_with_fields: bool, with_logs: bool
) -> JSONResponse:
    project = await Project.get(id=session.project_id)
    event_ids = await SessionEvent.filter(session_id=session.id).values_list("event_id", flat=True)
    events = await events_json(sorted(cast(list[int], event_ids)), with_fields=events_with_fields)
    logs = None
    if with_logs:  # the original's record carried every log it caught, oldest first
        rows, _ = await session_logs(session.id, 0, None, with_cleared=True)
        event_original, field_original = await plan_ids_of_logs(rows)
        record = record_id(session.id)
        logs = [event_log_json(r, record, event_original, field_original) for r in reversed(rows)]
    return ok(record_json(session, project, events, logs))


async def _start(request: Request, *, events_required: bool) -> JSONResponse:
    body = await go_body(request)
    accounts = text_list(body, "accounts", required=True) or []
    events = text_list(body, "events", required=False) or []
    raw_project = text_field(body, "project", required=True)
    if not accounts:
        raise BadRequest("choose at least one account")
    if events_required and not events:
        raise BadRequest("choose at least one event")
    project = await project_or(raw_project, BadRequest, "project does not exist")
    event_ids = await _event_ids(project.id, events)
    # The original meant to stamp the start time here (it wrote Go's format string).
    name = text_field(body, "name", required=False)
    session = await _realtime(request).lifecycle.start(
        project.id,
        accounts,
        event_ids,
        name=name or f"实时埋点测试 {datetime.now(UTC):%b %d %H:%M:%S}",
        created_by=actor(request),
        events_required=events_required,
    )
    return await _record_answer(session, events_with_fields=True, with_logs=False)


_START_DOC = """
    ---
    summary: {summary}
    tags: [v2 realTime]
    requestBody: {{$ref: "#/components/requestBodies/Start"}}
    responses:
      200:
        description: The record.
        content: {{application/json: {{schema: {{$ref: "#/components/schemas/Record"}}}}}}
      400: {{$ref: "#/components/responses/BadRequest"}}
      500: {{$ref: "#/components/responses/ServerError"}}
    """


@endpoint()
async def start(request: Request) -> JSONResponse:
    return await _start(request, events_required=False)


@endpoint()
async def test(request: Request) -> JSONResponse:
    return await _start(request, events_required=True)


start.__doc__ = _START_DOC.format(summary="Start a record (original); events may be empty")
test.__doc__ = _START_DOC.format(
    summary="Start a record that must watch at least one event (the original's test route)"
)


@endpoint()
async def stop(request: Request) -> JSONResponse:
    """
    ---
    summary: Stop a record (original)
    tags: [v2 realTime]
    parameters: [{$ref: "#/components/parameters/record"}]
    responses:
      200:
        description: The stopped record with every log it caught.
        content: {application/json: {schema: {$ref: "#/components/schemas/Record"}}}
      400: {$ref: "#/components/responses/BadRequest"}
      404: {$ref: "#/components/responses/NotFound"}
    """
    session = await _record_or_404(query_text(request, "record", RECORD_MISSING))
    stopped = await _realtime(request).lifecycle.stop(session.id, by=actor(request))
    return await _record_answer(stopped, events_with_fields=False, with_logs=True)


@endpoint()
async def update(request: Request) -> JSONResponse:
    """
    ---
    summary: Change a record's accounts and/or events (original); an empty list keeps them
    tags: [v2 realTime]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [record, accounts]
            properties:
              record: {type: string}
              accounts: {type: array, items: {type: string}}
              events: {type: array, items: {type: string}}
    responses:
      200:
        description: The record with every log it caught.
        content: {application/json: {schema: {$ref: "#/components/schemas/Record"}}}
      400: {$ref: "#/components/responses/BadRequest"}
      404: {$ref: "#/components/responses/NotFound"}
      500: {$ref: "#/components/responses/ServerError"}
    """
    body = await go_body(request)
    raw = text_field(body, "record", required=True)
    accounts = text_list(body, "accounts", required=True) or []
    events = text_list(body, "events", required=False) or []
    session = await _record_or_404(raw)
    event_ids = await _event_ids(session.project_id, events)
    if accounts or event_ids:
        session = await _realtime(request).lifecycle.update(
            session.id, accounts or None, event_ids or None
        )
    return await _record_answer(session, events_with_fields=bool(event_ids), with_logs=True)


@endpoint()
async def get_log(request: Request) -> JSONResponse:
    """
    ---
    summary: Every log not yet cleared, newest first (original); an unknown record has none
    tags: [v2 realTime]
    parameters:
      - {$ref: "#/components/parameters/record"}
      - {$ref: "#/components/parameters/page"}
      - {$ref: "#/components/parameters/pageSize"}
    responses:
      200:
        description: The logs with their field logs.
        content: {application/json: {schema: {$ref: "#/components/schemas/EventLogList"}}}
      400: {$ref: "#/components/responses/BadRequest"}
    """
    raw = query_text(request, "record", RECORD_MISSING)
    page = original_page(request)
    session = await find_record(raw)
    if session is None:
        return JSONResponse(page.envelope([], 0))
    rows, total = await session_logs(session.id, 0, None)
    event_original, field_original = await plan_ids_of_logs(rows)
    record = record_id(session.id)
    logs = [event_log_json(row, record, event_original, field_original) for row in rows]
    return JSONResponse(page.envelope(logs, total))


@endpoint()
async def clear_log(request: Request) -> JSONResponse:
    """
    ---
    summary: Clear a record's logs from getLog (original); results keep them
    tags: [v2 realTime]
    parameters: [{$ref: "#/components/parameters/record"}]
    responses:
      200: {$ref: "#/components/responses/Empty"}
      400: {$ref: "#/components/responses/BadRequest"}
      404: {$ref: "#/components/responses/NotFound"}
    """
    session = await _record_or_404(query_text(request, "record", RECORD_MISSING))
    await actions.clear_logs(_realtime(request).bus, session, actor(request))
    return ok()


def _field_changes(
    fields: list[Any], ours: dict[str, int], current: dict[int, dict[str, Any]], reason: str
) -> list[dict[str, Any]]:
    """The original's `fields[].Results[]` as core overrides: only the cells they change.

    Its clients sent back the results getResult gave them with some verdicts
    edited; a column sent as it already stands is not a tester's override.
    """
    changes = []
    for n, item in enumerate(fields):
        if not isinstance(item, dict):
            raise BadRequest(f"fields[{n}] must be a field object with its Results")
        results = go_get(item, "results")
        if results is None:
            continue
        if not isinstance(results, list):
            raise BadRequest(f"fields[{n}].Results must be a list of field results")
        for m, result in enumerate(results):
            if not isinstance(result, dict):
                raise BadRequest(f"fields[{n}].Results[{m}] must be a field result object")
            original = go_get(result, "fieldID") or go_get(item, "id")
            if not isinstance(original, str) or original not in ours:
                raise BadRequest(
                    f"fields[{n}]: {original!r} is not a field of this record's events"
                )
            field_id = ours[original]
            wanted = {}
            for platform, key in _COLUMNS:
                verdict = go_get(result, key)
                if verdict is None:
                    continue
                if verdict not in _VERDICTS:
                    raise BadRequest(
                        f"field {original} has an invalid result value for {platform}: "
                        f"{verdict!r} (one of {', '.join(sorted(_VERDICTS))})"
                    )
                shown = current.get(field_id, {}).get(platform, {}).get("verdict")
                if verdict != shown:
                    wanted[platform] = verdict
            if wanted:
                changes.append({"id": field_id, "results": wanted, "reason": reason})
    return changes


@endpoint()
async def update_result(request: Request) -> JSONResponse:
    """
    ---
    summary: Override field results, or reset an event's to UNTESTED (original)
    description: 'fields: the Fields of getResult with their Results edited (ios, android,
      other); event: an event id to reset. `reason` (new, optional) is kept with the change.'
    tags: [v2 realTime]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [record]
            properties:
              record: {type: string}
              fields: {type: array, items: {$ref: "#/components/schemas/Field"}}
              event: {type: string}
              reason: {type: string}
    responses:
      200: {$ref: "#/components/responses/Empty"}
      400: {$ref: "#/components/responses/BadRequest"}
      404: {$ref: "#/components/responses/NotFound"}
    """
    body = await go_body(request)
    raw = text_field(body, "record", required=True)
    fields = go_get(body, "fields")
    event = text_field(body, "event", required=False)
    reason = text_field(body, "reason", required=False)
    if fields is None and not event:
        raise BadRequest("give fields (with their Results) or event")
    if fields is not None and not isinstance(fields, list):
        raise BadRequest("fields must be a list of fields")
    session = await _record_or_404(raw)
    realtime, by = _realtime(request), actor(request)
    bus = realtime.bus
    watched = await SessionEvent.filter(session_id=session.id).values_list("event_id", flat=True)
    if fields:
        rows = await Field.filter(event_id__in=list(watched)).values_list("id", "jet_id")
        ours = {plan_id(jet_id, row_id): row_id for row_id, jet_id in rows}
        current = {
            field["id"]: field["results"]
            for shown in await session_results(session)
            for field in shown["fields"]
        }
        changes = _field_changes(fields, ours, current, reason)
        if changes:
            await actions.override_fields(bus, session, changes, by)
    if event:
        event_ids = await Event.filter(by_plan_id(event)).values_list("id", flat=True)
        if not event_ids:
            raise NotFound(f"event with id {event} not found")
        # An event this record does not watch has no results to reset (the original: 200).
        for event_id in sorted(set(event_ids) & set(watched)):
            # As v3 and the pages: this process's live index forgets the reset values too.
            await actions.reset_event(
                bus, session, event_id, reason or None, by, index=realtime.index
            )
    return ok()


@endpoint()
async def get_result(request: Request) -> JSONResponse:
    """
    ---
    summary: The record's events with each field's newest results (original)
    tags: [v2 realTime]
    parameters:
      - {$ref: "#/components/parameters/record"}
      - {$ref: "#/components/parameters/page"}
      - {$ref: "#/components/parameters/pageSize"}
    responses:
      200:
        description: Every event of the record, its Fields each with Results.
        content: {application/json: {schema: {$ref: "#/components/schemas/EventList"}}}
      400: {$ref: "#/components/responses/BadRequest"}
      404: {$ref: "#/components/responses/NotFound"}
    """
    raw = query_text(request, "record", RECORD_MISSING)
    page = original_page(request)
    session = await _record_or_404(raw)
    shown = await session_results(session)
    events = {
        e.id: e for e in await Event.filter(id__in=[e["id"] for e in shown]).select_related("story")
    }
    field_rows = {
        f.id: f for f in await Field.filter(id__in=[f["id"] for e in shown for f in e["fields"]])
    }
    type_ids = await enum_type_ids(list(field_rows.values()))
    data = []
    for item in shown:
        event = events[item["id"]]
        fields = []
        for cell in item["fields"]:
            row = field_rows[cell["id"]]
            results = field_results(session, plan_id(row.jet_id, row.id), row.id, cell["results"])
            fields.append(field_json(row, event, event.story, type_ids, results))
        results = event_results(session, plan_id(event.jet_id, event.id), event.id, fields)
        data.append(event_json(event, event.story, fields, results))
    return JSONResponse(page.envelope(data, len(data)))


PREFIX = "/api/v2/realTime"
routes = [
    Route(f"{PREFIX}/start", start, methods=["POST"]),
    Route(f"{PREFIX}/stop", stop, methods=["POST"]),
    Route(f"{PREFIX}/update", update, methods=["POST"]),
    Route(f"{PREFIX}/getLog", get_log, methods=["GET"]),
    Route(f"{PREFIX}/clearLog", clear_log, methods=["POST"]),
    Route(f"{PREFIX}/updateResult", update_result, methods=["POST"]),
    Route(f"{PREFIX}/getResult", get_result, methods=["GET"]),
    Route(f"{PREFIX}/test", test, methods=["POST"]),
]
