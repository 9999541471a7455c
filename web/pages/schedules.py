"""A project's schedule on its own page and as the fragment the project page swaps.

GET  /projects/{id}/schedule   the schedule with its recent scheduled runs
POST /projects/{id}/schedule   form fields `enabled` (on/off) and/or `hours` (1-24)

HTMX requests get the fragment back (errors too, with status 400, which htmx 4
swaps in); a plain form post is redirected to the project page, or gets the
schedule page with the error.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from trackmaster.errors import AppError, field_error
from trackmaster.found import get_project
from trackmaster.models import Project, Schedule
from trackmaster.schedule import store
from web.api import actor, as_id
from web.templating import for_htmx, is_htmx, render


async def _context(project: Project, error: str = "") -> dict[str, Any]:
    return {
        "project": project,
        "schedule": await Schedule.get_or_none(project=project),
        "schedule_runs": await store.recent_runs(project.id),
        "schedule_error": error,
    }


def _show(request: Request, context: dict[str, Any], status_code: int = 200) -> Response:
    template = for_htmx(request, "projects/_schedule.html", "projects/schedule.html")
    return render(request, template, context, status_code=status_code)


async def schedule_page(request: Request) -> Response:
    project = await get_project(as_id(request.path_params["id"], "id"))
    return _show(request, await _context(project))


async def schedule_change(request: Request) -> Response:
    project = await get_project(as_id(request.path_params["id"], "id"))
    form = await request.form()
    enabled, hours = form.get("enabled"), form.get("hours")
    try:
        if enabled not in (None, "on", "off"):
            raise field_error("enabled", f"must be on or off, got {enabled!r}")
        if enabled is None and hours is None:
            raise field_error("enabled", "send enabled (on/off) or hours (1-24)")
        if hours is not None:
            await store.set_interval(project, store.parse_hours(hours), actor=actor(request))
        if enabled is not None:
            await store.set_enabled(project, enabled == "on", actor=actor(request))
    except AppError as exc:
        return _show(request, await _context(project, exc.msg), status_code=exc.status)
    if is_htmx(request):
        return _show(request, await _context(project))
    return RedirectResponse(f"/projects/{project.id}#schedule", status_code=303)


routes = [
    Route("/projects/{id}/schedule", schedule_page, methods=["GET"], name="project_schedule"),
    Route("/projects/{id}/schedule", schedule_change, methods=["POST"]),
]
