"""The home page: projects at a glance and the sessions that are live."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from trackmaster.models import Project, SessionStatus, TestSession
from web.templating import render


async def home(request: Request) -> HTMLResponse:
    projects = await Project.all().annotate()
    live_sessions = (
        await TestSession.filter(status=SessionStatus.ON).prefetch_related("project").limit(20)
    )
    return render(request, "home.html", {"projects": projects, "live_sessions": live_sessions})


routes = [Route("/", home, methods=["GET"], name="home")]
