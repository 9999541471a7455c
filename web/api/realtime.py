"""`/api/v2/realTime/*`: the original's realtime API, plus session lists and the unmatched bin.

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
trackmaster/sessions/selection.py. Everything is under /api/v2.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from trackmaster.errors import BadRequest, NotFound, field_error
from trackmaster.models import Project, SessionStatus
from trackmaster.sessions import actions
from trackmaster.sessions.lifecycle import get_session
from trackmaster.sessions.results import session_json, session_results, uncleared_logs
from trackmaster.sessions.service import (
    Realtime,
    list_sessions,
    list_unmatched,
    realtime_for,
    session_counts,
)
from web.pager import page_from


def _realtime(request: Request) -> Realtime:
    return realtime_for(request.app.state.runtime)


def _actor(request: Request) -> str:
    return getattr(request.scope.get("user"), "username", "") or ""


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def _int_param(request: Request, name: str, *, required: bool = True) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        if required:
            raise field_error(name, "missing")
        return None
    try:
        return int(raw)
    except ValueError:
        raise field_error(name, f"must be a number, got {raw!r}") from None


def _record(request: Request, body: dict[str, Any] | None = None) -> int:
    if body is not None and "record" in body:
        return body["record"]
    value = _int_param(request, "record")
    assert value is not None
    return value


async def start(request: Request) -> JSONResponse:
    body = await _json_object(request)
    session = await _realtime(request).lifecycle.start(
        body.get("project"),
        body.get("accounts"),
        body.get("events"),
        body.get("stories"),
        name=body.get("name") or "",
        source=body.get("source"),
        limit_s=body.get("limitS"),
        created_by=_actor(request),
    )
    return JSONResponse(session_json(session), status_code=201)


async def stop(request: Request) -> JSONResponse:
    session = await _realtime(request).lifecycle.stop(_record(request), by=_actor(request))
    return JSONResponse(session_json(session))


async def update(request: Request) -> JSONResponse:
    body = await _json_object(request)
    session = await _realtime(request).lifecycle.update(
        _record(request, body), body.get("accounts"), body.get("events"), body.get("stories")
    )
    return JSONResponse(session_json(session))


async def get_log(request: Request) -> JSONResponse:
    session = await get_session(_record(request))
    page = page_from(request)
    after = _int_param(request, "after", required=False) or 0
    logs, total = await uncleared_logs(session.id, page.offset, page.page_size, after_id=after)
    return JSONResponse(page.envelope(logs, total))


async def clear_log(request: Request) -> JSONResponse:
    session = await get_session(_record(request))
    cleared = await actions.clear_logs(_realtime(request).bus, session, _actor(request))
    return JSONResponse({"record": session.id, "cleared": cleared})


async def update_result(request: Request) -> JSONResponse:
    body = await _json_object(request)
    session = await get_session(_record(request, body))
    bus = _realtime(request).bus
    fields, event = body.get("fields"), body.get("event")
    if fields is not None and event is not None:
        raise BadRequest("give fields (to override verdicts) or event (to reset it), not both")
    if fields is not None:
        rows = await actions.override_fields(bus, session, fields, _actor(request))
        return JSONResponse({"record": session.id, "overridden": len(rows)})
    if event is not None:
        await actions.reset_event(bus, session, event, body.get("reason"), _actor(request))
        return JSONResponse({"record": session.id, "reset": event})
    raise field_error("fields", "give fields with results (override) or event (reset)")


async def get_result(request: Request) -> JSONResponse:
    session = await get_session(_record(request))
    events = await session_results(session)
    return JSONResponse({"session": session_json(session), "data": events})


async def sessions(request: Request) -> JSONResponse:
    page = page_from(request)
    project = _int_param(request, "project", required=False)
    status = request.query_params.get("status") or None
    if status is not None and status not in SessionStatus.__members__:
        raise field_error("status", f"must be ON or OFF, got {status!r}")
    rows, total = await list_sessions(project, status, page.offset, page.page_size)
    return JSONResponse(page.envelope(rows, total))


async def session(request: Request) -> JSONResponse:
    found = await get_session(_record(request))
    counts = await session_counts([found.id])
    return JSONResponse(session_json(found, counts[found.id]))


async def unmatched(request: Request) -> JSONResponse:
    project_id = int(request.path_params["project_id"])
    project = await Project.get_or_none(id=project_id)
    if project is None:
        raise NotFound(f"no project with id {project_id}")
    page = page_from(request)
    rows, total = await list_unmatched(project.id, page.offset, page.page_size)
    body = page.envelope(rows, total)
    body["count"] = project.unmatched_count
    return JSONResponse(body)


PREFIX = "/api/v2/realTime"
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
    Route("/api/v2/projects/{project_id:int}/unmatched", unmatched, methods=["GET"]),
]
