"""The home page: every project at a glance and the sessions that are live now."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route
from tortoise.functions import Count

from trackmaster.models import Project, SessionStatus, Story, TestSession
from web.templating import render

LIVE_SESSIONS_SHOWN = 20


async def home(request: Request) -> HTMLResponse:
    projects = await Project.all().annotate(accounts_count=Count("accounts", distinct=True))
    # One grouped query each instead of a query per project.
    stories = dict(
        await Story.filter(removed_at=None)
        .annotate(n=Count("id"))
        .group_by("project_id")
        .values_list("project_id", "n")
    )
    live = dict(
        await TestSession.filter(status=SessionStatus.ON)
        .annotate(n=Count("id"))
        .group_by("project_id")
        .values_list("project_id", "n")
    )
    live_sessions = (
        await TestSession.filter(status=SessionStatus.ON)
        .prefetch_related("project")
        .order_by("-id")
        .limit(LIVE_SESSIONS_SHOWN)
    )
    return render(
        request,
        "home.html",
        {
            "projects": projects,
            "story_counts": stories,
            "live_counts": live,
            "live_sessions": live_sessions,
        },
    )


routes = [Route("/", home, methods=["GET"], name="home")]
