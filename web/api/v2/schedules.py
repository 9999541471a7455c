"""/api/v2/schedules: turn a project's scheduled plan sync on or off, as the original did.

POST /schedules/on?project=   -> Schedule
POST /schedules/off?project=  -> Schedule

Both call the same core function as their /api/v3 twins (schedule.store.set_enabled).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from trackmaster.errors import BadRequest
from trackmaster.schedule import store
from web.api import actor
from web.api.v2._base import endpoint, ok, query_text
from web.api.v2.plan import project_or
from web.api.v2.shapes import schedule_json


async def _switch(request: Request, enabled: bool) -> JSONResponse:
    raw = query_text(request, "project", "project cannot be null")
    project = await project_or(raw, BadRequest, "project does not exist")
    schedule = await store.set_enabled(project, enabled, actor=actor(request))
    return ok(schedule_json(project, schedule))


_DOC = """
    ---
    summary: Turn a project's scheduled plan sync {state} (original)
    tags: [v2 schedules]
    parameters: [{{$ref: "#/components/parameters/projectQuery"}}]
    responses:
      200:
        description: The schedule.
        content: {{application/json: {{schema: {{$ref: "#/components/schemas/Schedule"}}}}}}
      400: {{$ref: "#/components/responses/BadRequest"}}
    """


@endpoint()
async def schedule_on(request: Request) -> JSONResponse:
    return await _switch(request, True)


@endpoint()
async def schedule_off(request: Request) -> JSONResponse:
    return await _switch(request, False)


schedule_on.__doc__ = _DOC.format(state="on")
schedule_off.__doc__ = _DOC.format(state="off")


routes = [
    Route("/api/v2/schedules/on", schedule_on, methods=["POST"]),
    Route("/api/v2/schedules/off", schedule_off, methods=["POST"]),
]
