"""`/api/v3/schedules`: turn a project's scheduled plan sync on and off, as the original did,
plus its state, history and interval.

POST /schedules/on?project=                     turn it on (original)
POST /schedules/off?project=                    turn it off (original)
GET  /schedules?project=                        the schedule and its recent scheduled runs (new)
POST /schedules/interval?project=&hours=        set the interval, 1 to 24 hours (new)
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from trackmaster.errors import field_error
from trackmaster.found import get_project
from trackmaster.models import Schedule
from trackmaster.plan.browse import run_json
from trackmaster.schedule import store
from web.api import actor, query_int
from web.api.openapi import add_components

add_components(
    schemas={
        "Schedule": {
            "type": "object",
            "properties": {
                "projectID": {"type": "integer"},
                "enabled": {"type": "boolean"},
                "intervalS": {"type": "integer", "example": 10800},
                "intervalHours": {"type": "number", "example": 3},
                "lastRunAt": {"type": "string", "format": "date-time", "nullable": True},
                "lastOutcome": {
                    "type": "string",
                    "enum": ["", "running", "ok", "failed", "interrupted"],
                },
                "lastError": {"type": "string"},
                "nextDueAt": {"type": "string", "format": "date-time", "nullable": True},
                "runs": {
                    "type": "array",
                    "description": "Recent scheduled runs, newest first (GET only)",
                    "items": {"$ref": "#/components/schemas/SyncRun"},
                },
            },
        },
        "ScheduleEnvelope": {
            "type": "object",
            "properties": {"data": {"$ref": "#/components/schemas/Schedule"}},
        },
    }
)


async def _answer(project_id: int, schedule: Schedule | None, *, runs: bool = False):
    body = store.schedule_json(project_id, schedule)
    if runs:
        body["runs"] = [run_json(run) for run in await store.recent_runs(project_id)]
    return JSONResponse({"data": body})


async def _switch(request: Request, enabled: bool) -> JSONResponse:
    project = await get_project(query_int(request, "project"))
    schedule = await store.set_enabled(project, enabled, actor=actor(request))
    return await _answer(project.id, schedule)


async def schedule_on(request: Request) -> JSONResponse:
    """
    ---
    summary: Turn a project's scheduled plan sync on
    description: The project's plan is synced from Jet every interval (default 3 h). A
      project that never synced is due at once. Projects without a Jet id cannot be scheduled.
    tags: [schedules]
    parameters: [{$ref: "#/components/parameters/projectQuery"}]
    responses:
      200:
        description: The schedule
        content: {application/json: {schema: {$ref: "#/components/schemas/ScheduleEnvelope"}}}
      400: {$ref: "#/components/responses/InvalidParams"}
      404: {$ref: "#/components/responses/NotFound"}
    """
    return await _switch(request, True)


async def schedule_off(request: Request) -> JSONResponse:
    """
    ---
    summary: Turn a project's scheduled plan sync off
    description: A sync already running finishes; no new one starts.
    tags: [schedules]
    parameters: [{$ref: "#/components/parameters/projectQuery"}]
    responses:
      200:
        description: The schedule
        content: {application/json: {schema: {$ref: "#/components/schemas/ScheduleEnvelope"}}}
      400: {$ref: "#/components/responses/InvalidParams"}
      404: {$ref: "#/components/responses/NotFound"}
    """
    return await _switch(request, False)


async def schedule_get(request: Request) -> JSONResponse:
    """
    ---
    summary: A project's schedule and its recent scheduled runs
    tags: [schedules]
    parameters: [{$ref: "#/components/parameters/projectQuery"}]
    responses:
      200:
        description: The schedule, with `runs` (newest first)
        content: {application/json: {schema: {$ref: "#/components/schemas/ScheduleEnvelope"}}}
      400: {$ref: "#/components/responses/InvalidParams"}
      404: {$ref: "#/components/responses/NotFound"}
    """
    project = await get_project(query_int(request, "project"))
    schedule = await Schedule.get_or_none(project=project)
    return await _answer(project.id, schedule, runs=True)


async def schedule_interval(request: Request) -> JSONResponse:
    """
    ---
    summary: Set how often a project's plan is synced
    tags: [schedules]
    parameters:
      - {$ref: "#/components/parameters/projectQuery"}
      - {name: hours, in: query, required: true, schema: {type: integer, minimum: 1, maximum: 24}}
    responses:
      200:
        description: The schedule
        content: {application/json: {schema: {$ref: "#/components/schemas/ScheduleEnvelope"}}}
      400: {$ref: "#/components/responses/InvalidParams"}
      404: {$ref: "#/components/responses/NotFound"}
    """
    project_id = query_int(request, "project")
    raw_hours = request.query_params.get("hours")
    if raw_hours in (None, ""):
        raise field_error("hours", f"is required ({store.MIN_HOURS} to {store.MAX_HOURS})")
    hours = store.parse_hours(raw_hours)
    project = await get_project(project_id)
    schedule = await store.set_interval(project, hours, actor=actor(request))
    return await _answer(project.id, schedule)


routes = [
    Route("/api/v3/schedules", schedule_get, methods=["GET"]),
    Route("/api/v3/schedules/on", schedule_on, methods=["POST"]),
    Route("/api/v3/schedules/off", schedule_off, methods=["POST"]),
    Route("/api/v3/schedules/interval", schedule_interval, methods=["POST"]),
]
