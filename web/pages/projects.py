"""Project pages: the list, one project (stories, accounts, schedule, sync history), sync, import.

A sync started here runs as a task of the web process; the button's
fragment polls its run until it is done and then shows the diff (without
JavaScript the whole status page refreshes itself with a meta refresh).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from trackmaster.auth.roles import Role
from trackmaster.errors import AppError, Forbidden, NotFound
from trackmaster.models import Account, Project, Schedule, SyncRun
from trackmaster.plan import progress as live_progress
from trackmaster.plan.browse import (
    event_counts,
    get_project,
    list_projects,
    list_stories,
    story_counts,
    sync_history,
)
from trackmaster.plan.changes import PlanChanges
from trackmaster.plan.diff import summarize
from trackmaster.plan.files import PlanFileError
from trackmaster.plan.jet import JetClient
from trackmaster.plan.projects import create_project, rename_project
from trackmaster.plan.sync import (
    import_plan_file,
    running_run_id,
    sync_project_from_jet,
    sync_projects_from_jet,
)
from web.api import actor, as_id, jet_client
from web.api.projects import read_upload
from web.pager import page_from
from web.params import runtime_of
from web.templating import for_htmx, is_htmx, render

log = logging.getLogger(__name__)
RUN_START_WAIT_S = 2.0


def _project_id(request: Request) -> int:
    try:
        return as_id(request.path_params["id"], "project")
    except AppError:
        raise NotFound(f"no project with id {request.path_params['id']!r}") from None


async def projects_page(request: Request) -> Response:
    page = page_from(request)
    search = request.query_params.get("q", "").strip()
    projects, total = await list_projects(page.offset, page.page_size, search)
    ids = [project.id for project in projects]
    last_runs: dict[int, SyncRun] = {}
    for run in await SyncRun.filter(project_id__in=ids).order_by("-id"):
        last_runs.setdefault(run.project_id, run)
    context = {
        "projects": projects,
        "story_counts": await story_counts(ids),
        "last_runs": last_runs,
        "page": page,
        "total": total,
        "q": search,
        "jet_enabled": bool(request.app.state.settings.jet_url),
        "summarize": summarize,
    }
    return render(request, "projects/list.html", context)


async def projects_sync(request: Request) -> Response:
    """Create and rename projects from Jet; shows the diff (a fragment for HTMX)."""
    try:
        async with jet_client(request) as jet:
            diff = await sync_projects_from_jet(jet, started_by=actor(request))
        context: dict[str, Any] = {"diff": diff, "summary": summarize(diff), "error": None}
    except AppError as exc:
        context = {"diff": None, "summary": "", "error": exc}
    if is_htmx(request):
        return render(request, "projects/_projects_sync.html", context)
    return RedirectResponse(f"/projects?synced={context['summary'] or 'failed'}", 303)


async def _project_context(request: Request, project: Project) -> dict[str, Any]:
    page = page_from(request)
    search = request.query_params.get("q", "").strip()
    stories, total = await list_stories(project, page.offset, page.page_size, search)
    running = running_run_id(project.id)
    return {
        "project": project,
        "stories": stories,
        "event_counts": await event_counts([story.id for story in stories]),
        "page": page,
        "total": total,
        "q": search,
        "accounts": await Account.filter(project=project).order_by("id"),
        "schedule": await Schedule.get_or_none(project=project),
        "history": await sync_history(project),
        "run": await SyncRun.get_or_none(id=running) if running else None,
        "jet_enabled": bool(request.app.state.settings.jet_url) and bool(project.jet_id),
        "summarize": summarize,
        "errors": {},
        "form": {},
    }


async def project_page(request: Request) -> Response:
    project = await get_project(_project_id(request))
    context = await _project_context(request, project)
    return render(request, "projects/project.html", context)


async def stories_fragment(request: Request) -> Response:
    """The stories table (search, paging): a fragment for HTMX, the project page otherwise."""
    project = await get_project(_project_id(request))
    context = await _project_context(request, project)
    template = for_htmx(request, "projects/_stories.html", "projects/project.html")
    return render(request, template, context)


def _tasks(request: Request) -> set[asyncio.Task[Any]]:
    # Made by the lifespan, which waits for them before the database closes (web/app.py).
    tasks: set[asyncio.Task[Any]] = request.app.state.plan_sync_tasks
    return tasks


async def _sync_in_background(
    project: Project, client: JetClient, started_by: str, changes: PlanChanges
) -> SyncRun:
    async with client as jet:
        return await sync_project_from_jet(project, jet, started_by=started_by, changes=changes)


async def start_sync(request: Request) -> Response:
    project = await get_project(_project_id(request))
    client = jet_client(request)
    running = running_run_id(project.id)
    if running is None:
        task = asyncio.create_task(
            _sync_in_background(project, client, actor(request), runtime_of(request).plan_changes)
        )
        tasks = _tasks(request)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        # The run row is the task's first write; wait for it so the page can follow it.
        waited = 0.0
        while running_run_id(project.id) is None and not task.done() and waited < RUN_START_WAIT_S:
            await asyncio.sleep(0.01)
            waited += 0.01
        if task.done():
            with contextlib.suppress(Exception):
                task.result()
        running = running_run_id(project.id)
    run = (
        await SyncRun.get(id=running)
        if running
        else await SyncRun.filter(project=project).order_by("-id").first()
    )
    if run is None:
        raise NotFound("the sync did not start; see the server log")
    if is_htmx(request):
        return await _status(request, project, run)
    return RedirectResponse(f"/projects/{project.id}/sync/{run.id}", 303)


async def _status(request: Request, project: Project, run: SyncRun) -> Response:
    context = {
        "project": project,
        "run": run,
        "progress": live_progress.of(run.id),
        "history": await sync_history(project),
        "summarize": summarize,
        "oob_history": run.status != "running",
    }
    if run.status == "ok" and is_htmx(request):
        # The sync changed the stories too: the project page swaps them with the history.
        context.update(await _project_context(request, project), run=run)
        context["refresh_regions"] = True
    if is_htmx(request):
        return render(request, "projects/_sync_status.html", context)
    # Without JavaScript the whole page reloads itself until the run is done.
    refresh = {"Refresh": "1"} if run.status == "running" else None
    return render(request, "projects/sync_run.html", context, headers=refresh)


async def sync_status(request: Request) -> Response:
    project = await get_project(_project_id(request))
    run = await SyncRun.get_or_none(
        id=as_id(request.path_params["run"], "run"), project_id=project.id
    )
    if run is None:
        raise NotFound(f"no sync run {request.path_params['run']} in project {project.id}")
    return await _status(request, project, run)


async def import_plan(request: Request) -> Response:
    """Upload a plan file; problems are listed next to the form, and nothing changes."""
    project = await get_project(_project_id(request))
    status_code = 200
    outcome: dict[str, Any] = {}
    try:
        content, filename = await read_upload(request)
        run = await import_plan_file(
            project,
            content,
            filename,
            started_by=actor(request),
            changes=runtime_of(request).plan_changes,
        )
        outcome["import_run"] = run
        if run.status != "ok":
            status_code = 400
    except (PlanFileError, AppError) as exc:
        outcome["import_error"] = exc
        status_code = exc.status
    # Read after the import: its stories, their event counts and the history it added.
    context = {**await _project_context(request, project), **outcome}
    if is_htmx(request):
        # Everything the import changed on the page comes along: stories and history.
        context["refresh_regions"] = True
        return render(request, "projects/_import.html", context, status_code=status_code)
    if status_code == 200:
        return RedirectResponse(f"/projects/{project.id}#sync-history", 303)
    return render(request, "projects/project.html", context, status_code=status_code)


def _is_admin(request: Request) -> bool:
    user = request.scope.get("user")
    return user is not None and user.can(Role.ADMIN)


async def create_project_form(request: Request) -> Response:
    """An admin makes a project whose plan comes from files (the policy lets only admins in)."""
    if not _is_admin(request):
        raise Forbidden("only admins may create projects")
    form = await request.form()
    try:
        project = await create_project(
            form.get("name"), form.get("description"), actor=actor(request)
        )
    except AppError as exc:
        page = page_from(request)
        projects, total = await list_projects(page.offset, page.page_size, "")
        context = {
            "projects": projects, "story_counts": await story_counts([p.id for p in projects]),
            "last_runs": {}, "page": page, "total": total, "q": "",
            "jet_enabled": bool(request.app.state.settings.jet_url), "summarize": summarize,
            "create_error": exc.msg, "create_form": {k: str(v) for k, v in form.items()},
        }  # fmt: skip
        return render(request, "projects/list.html", context, status_code=exc.status)
    return RedirectResponse(f"/projects/{project.id}", 303)


async def rename_project_form(request: Request) -> Response:
    if not _is_admin(request):
        raise Forbidden("only admins may rename projects")
    project = await get_project(_project_id(request))
    form = await request.form()
    try:
        await rename_project(
            project, form.get("name"), form.get("description"), actor=actor(request)
        )
    except AppError as exc:
        context = await _project_context(request, project)
        context.update(rename_error=exc.msg)
        return render(request, "projects/project.html", context, status_code=exc.status)
    return RedirectResponse(f"/projects/{project.id}", 303)


routes = [
    Route("/projects", projects_page, methods=["GET"], name="projects"),
    Route("/projects/new", create_project_form, methods=["POST"], name="create_project"),
    Route("/projects/{id}/rename", rename_project_form, methods=["POST"], name="rename_project"),
    Route("/projects/sync", projects_sync, methods=["POST"]),
    Route("/projects/{id}", project_page, methods=["GET"], name="project"),
    Route("/projects/{id}/stories", stories_fragment, methods=["GET"]),
    Route("/projects/{id}/sync", start_sync, methods=["POST"]),
    Route("/projects/{id}/sync/{run}", sync_status, methods=["GET"]),
    Route("/projects/{id}/plan", import_plan, methods=["POST"]),
]
