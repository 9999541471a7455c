"""`/api/v3/sessions/{id}/cells/...` and `/rejudge`: a cell in detail, and re-judging a session.

A cell carries its counts per verdict (outstanding and since its reset), its
code, its distinct values (most frequent first, each with an example caught
event) and who overrode or reset it. Re-judging runs in the background; its
run answers progress, then which cells changed verdict (before -> after).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from trackmaster.errors import NotFound, field_error
from trackmaster.found import get_session
from trackmaster.models import Platform, RejudgeRun
from trackmaster.sessions import cell_store
from trackmaster.sessions.rejudge import run_json, start_rejudge
from web.api import actor
from web.api.results_json import cell_overrides, session_results
from web.params import runtime_of

VALUES_LIMIT = 50


async def cell(request: Request) -> JSONResponse:
    """
    ---
    summary: One results cell with its counts, code, distinct values and overrides
    tags: [realtime]
    parameters:
      - {name: session_id, in: path, required: true, schema: {type: integer}}
      - {name: event_id, in: path, required: true, schema: {type: integer}}
      - {name: field_id, in: path, required: true, schema: {type: integer}}
      - name: platform
        in: path
        required: true
        schema: {type: string, enum: [iOS, Android, Other]}
    responses:
      200: {description: 'The cell: verdict, label, counts, total, code, values, overrides'}
      400: {$ref: "#/components/responses/InvalidParams"}
      404: {$ref: "#/components/responses/NotFound"}
    """
    p = request.path_params
    platforms = [x.value for x in Platform]
    if p["platform"] not in platforms:
        raise field_error("platform", f"must be one of {', '.join(platforms)}")
    session = await get_session(p["session_id"])
    for event in await session_results(session):
        if event["id"] != p["event_id"]:
            continue
        for body in event["fields"]:
            if body["id"] == p["field_id"]:
                values, more = await cell_store.cell_values(
                    session.id, event["id"], body["id"], p["platform"], VALUES_LIMIT
                )
                overrides = await cell_overrides(session.id, event["id"], body["id"], p["platform"])
                result = dict(body["results"][p["platform"]])
                result.update(
                    event=event["id"], field=body["id"], key=body["key"], platform=p["platform"],
                    path="$." + body["key"].replace("$$", "."), values=values, moreValues=more,
                    overrides=overrides,
                )  # fmt: skip
                return JSONResponse({"data": result})
    raise NotFound(f"session {session.id} has no cell {p['event_id']}/{p['field_id']}")


async def rejudge(request: Request) -> JSONResponse:
    """
    ---
    summary: Re-judge the session's stored events against the current plan (background)
    description: Answers 202 with the run; poll it for progress and the cells that changed.
      A run already going for the session is answered instead of a new one.
    tags: [realtime]
    parameters:
      - {name: session_id, in: path, required: true, schema: {type: integer}}
    responses:
      202: {description: The run}
      404: {$ref: "#/components/responses/NotFound"}
    """
    session = await get_session(request.path_params["session_id"])
    realtime = runtime_of(request).realtime
    run = await start_rejudge(realtime.bus, session, actor(request))
    realtime.index.invalidate(session.project_id)
    return JSONResponse({"data": run_json(run)}, status_code=202)


async def rejudge_run(request: Request) -> JSONResponse:
    """
    ---
    summary: A re-judge run, its progress, then the cells that changed verdict
    tags: [realtime]
    parameters:
      - {name: session_id, in: path, required: true, schema: {type: integer}}
      - {name: run_id, in: path, required: true, schema: {type: integer}}
    responses:
      200: {description: The run}
      404: {$ref: "#/components/responses/NotFound"}
    """
    p = request.path_params
    run = await RejudgeRun.get_or_none(id=p["run_id"], session_id=p["session_id"])
    if run is None:
        raise NotFound(f"no re-judge run {p['run_id']} of session {p['session_id']}")
    return JSONResponse({"data": run_json(run)})


BASE = "/api/v3/sessions/{session_id:int}"
routes = [
    Route(BASE + "/cells/{event_id:int}/{field_id:int}/{platform}", cell, methods=["GET"]),
    Route(BASE + "/rejudge", rejudge, methods=["POST"]),
    Route(BASE + "/rejudge/{run_id:int}", rejudge_run, methods=["GET"]),
]
