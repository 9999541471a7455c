"""Live test pages: start a session, the sessions list, the session page and its controls.

Every URL renders a whole page; HTMX requests get the fragment. Every
control is a form that works as a plain POST answered by a redirect, and
through htmx (answered by the fragment it changes). The session page is
kept current by its SSE stream (web/streams.py).
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from trackmaster.errors import AppError, InvalidParams, NotFound, field_error
from trackmaster.found import get_project, get_session
from trackmaster.models import (
    Account,
    Event,
    EventLog,
    Field,
    Project,
    RejudgeRun,
    SessionAccount,
    SessionEvent,
    Story,
    TestSession,
)
from trackmaster.sessions import actions, cell_store, unplanned
from trackmaster.sessions.rejudge import start_rejudge
from trackmaster.sessions.service import list_sessions
from web import confirmations
from web import session_fragments as fragments
from web.api.results_json import cell_overrides
from web.log_filter import LogFilter, filtered_logs
from web.pager import page_from
from web.params import actor, runtime_of
from web.parity_view import load_parity
from web.session_view import (
    PLATFORMS,
    VERDICTS,
    load_log_gap,
    load_logs,
    load_snapshot,
    log_view,
    matrix_keys,
    session_accounts,
)
from web.templating import for_htmx, is_htmx, render
from web.unmatched_view import load_unmatched

# Distinct values a cell's panel lists, most frequent first; the rest are counted.
VALUES_SHOWN = 20

# --- helpers ---------------------------------------------------------------------------


def _ids(form: FormData, name: str) -> list[int]:
    raw = [value for value in form.getlist(name) if str(value).strip()]
    try:
        return [int(str(value)) for value in raw]
    except ValueError:
        raise field_error(name, f"must be ids (numbers), got {', '.join(map(repr, raw))}") from None


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise field_error(name, f"must be a whole number, got {raw!r}") from None


def _back_to(session_id: int) -> RedirectResponse:
    return RedirectResponse(f"/sessions/{session_id}", status_code=303)


def _realtime(request: Request):
    return runtime_of(request).realtime


# --- the sessions list -------------------------------------------------------------------


async def sessions_list(request: Request) -> Response:
    project_id = _int_param(request, "project")
    page = page_from(request)
    rows, total = await list_sessions(project_id, None, page.offset, page.page_size)
    projects = {p.id: p for p in await Project.all()}
    context = {
        "sessions": rows,
        "projects": projects,
        "project": projects.get(project_id) if project_id is not None else None,
        "page": page,
        "total": total,
        "pages": max(1, -(-total // page.page_size)),
    }
    template = for_htmx(request, "sessions/_list.html", "sessions/list.html")
    return render(request, template, context)


# --- starting and changing a session -----------------------------------------------------


async def _choices(project: Project, query: str) -> dict[str, Any]:
    """The project's accounts, and its stories with their events, filtered by `query`."""
    accounts = await Account.filter(project_id=project.id).order_by("id")
    stories = []
    needle = query.strip().lower()
    for story in await Story.filter(
        project_id=project.id, removed_at__isnull=True
    ).prefetch_related("events"):
        events = sorted(
            (e for e in story.events if e.removed_at is None), key=lambda e: (e.name, e.id)
        )
        if needle and needle not in story.name.lower():
            events = [e for e in events if needle in e.name.lower()]
        if events:
            stories.append({"story": story, "events": events})
    return {"accounts": accounts, "stories": stories, "q": query}


async def _chooser(
    request: Request,
    project: Project,
    *,
    session: TestSession | None = None,
    chosen: dict[str, set] | None = None,
    error: AppError | None = None,
    name: str = "",
) -> Response:
    context = await _choices(project, request.query_params.get("q", ""))
    context.update(
        project=project,
        session=session,
        chosen=chosen or {"accounts": set(), "events": set(), "stories": set()},
        error=error,
        name=name,
    )
    status = error.status if error else 200
    template = for_htmx(request, "sessions/_chooser.html", "sessions/new.html")
    return render(request, template, context, status_code=status)


async def new_session_page(request: Request) -> Response:
    project = await get_project(request.path_params["project_id"])
    return await _chooser(request, project)


def _chosen(form: FormData) -> dict[str, set]:
    chosen: dict[str, set] = {}
    for name in ("accounts", "events", "stories"):
        try:
            chosen[name] = set(_ids(form, name))
        except InvalidParams:
            chosen[name] = set()
    return chosen


async def start_session(request: Request) -> Response:
    project = await get_project(request.path_params["project_id"])
    form = await request.form()
    name = str(form.get("name") or "").strip()
    try:
        session = await _realtime(request).lifecycle.start(
            project.id,
            _ids(form, "accounts"),
            _ids(form, "events"),
            _ids(form, "stories") or None,
            name=name,
            source="push" if form.get("source") == "push" else None,
            created_by=actor(request),
        )
    except InvalidParams as exc:
        return await _chooser(request, project, chosen=_chosen(form), error=exc, name=name)
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Location": f"/sessions/{session.id}"})
    return _back_to(session.id)


async def edit_session_page(request: Request) -> Response:
    session = await get_session(request.path_params["session_id"], with_project=True)
    chosen = {
        "accounts": set(
            await SessionAccount.filter(session_id=session.id).values_list("account_id", flat=True)
        ),
        "events": set(
            await SessionEvent.filter(session_id=session.id).values_list("event_id", flat=True)
        ),
        "stories": set(),
    }
    return await _chooser(request, session.project, session=session, chosen=chosen)


async def update_session(request: Request) -> Response:
    session = await get_session(request.path_params["session_id"], with_project=True)
    form = await request.form()
    try:
        await _realtime(request).lifecycle.update(
            session.id,
            _ids(form, "accounts"),
            _ids(form, "events"),
            _ids(form, "stories") or None,
        )
    except InvalidParams as exc:
        return await _chooser(
            request, session.project, session=session, chosen=_chosen(form), error=exc
        )
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Location": f"/sessions/{session.id}"})
    return _back_to(session.id)


# --- the session page --------------------------------------------------------------------


async def session_page(request: Request) -> Response:
    session = await get_session(request.path_params["session_id"], with_project=True)
    # The revision first, then the data: the stream resumes after this revision, and anything
    # newer that the data already shows is sent again (swaps are idempotent; log rows deduped).
    revision = session.revision
    snapshot = await load_snapshot(session)
    logs, has_older = await load_logs(session.id, snapshot.plan)
    return render(
        request,
        "sessions/session.html",
        {
            "session": session,
            "session_id": session.id,
            "revision": revision,
            "accounts": await session_accounts(session.id),
            "plan": snapshot.plan,
            "cells": snapshot.cells,
            "counts": snapshot.counts,
            "coverage": snapshot.coverage,
            "logs": logs,
            "has_older": has_older,
            "before": None,
            "window": fragments.LOGS_PER_PAGE,
            "platforms": PLATFORMS,
            "verdicts": VERDICTS,
            "unmatched": await load_unmatched(session),
            "snapshot_unplanned": snapshot.unplanned,
            "parity": await load_parity(session.id, snapshot.plan),
            "live": session.status == "ON",
        },
    )


async def logs_window(request: Request) -> Response:
    session = await get_session(request.path_params["session_id"], with_project=True)
    before = _int_param(request, "before")
    wanted = LogFilter.from_query(request.query_params)
    snapshot = await load_snapshot(session)
    logs, has_older = await filtered_logs(session.id, snapshot.plan, wanted, before=before)
    context = {
        "session_id": session.id,
        "logs": logs,
        "has_older": has_older,
        "before": before,
        "window": fragments.LOGS_PER_PAGE,
        "log_filter": wanted,
    }
    template = for_htmx(request, "sessions/_logs.html", "sessions/logs_page.html")
    return render(request, template, context)


async def log_gap(request: Request) -> Response:
    """The next rows a reconnected page missed (after < id < before) and a button for the rest.

    Every URL is a whole page: without htmx this is the older-events page from `before`.
    """
    session = await get_session(request.path_params["session_id"], with_project=True)
    after, before = _int_param(request, "after"), _int_param(request, "before")
    if after is None or before is None:
        raise field_error("after" if after is None else "before", "is required")
    if not is_htmx(request):
        return RedirectResponse(f"/sessions/{session.id}/logs?before={before}", status_code=303)
    snapshot = await load_snapshot(session)
    gap = await load_log_gap(
        session.id, snapshot.plan, after=after, before=before, skip=0,
        limit=request.app.state.settings.live_gap_rows or fragments.LOGS_PER_PAGE,
    )  # fmt: skip
    return HTMLResponse(fragments.log_gap_rows_html(session.id, gap))


async def log_page(request: Request) -> Response:
    session = await get_session(request.path_params["session_id"], with_project=True)
    row = (
        await EventLog.filter(session_id=session.id, id=request.path_params["log_id"])
        .values("id", "event_id", "name", "user_id", "platform", "source", "received_at",
                "payload", "verdicts", "field_values")
    )  # fmt: skip
    if not row:
        raise NotFound(f"session {session.id} has no caught event {request.path_params['log_id']}")
    snapshot = await load_snapshot(session)
    keys = matrix_keys(snapshot.plan)
    expected = {str(f.id): f.values for e in snapshot.plan.events for f in e.fields}
    values = row[0]["field_values"] or {}
    # Expected and got side by side, per field of the plan.
    fields = [
        (
            keys.get(fid, f"field {fid} (no longer watched)"),
            expected.get(fid, ()),
            values.get(fid),
            got[0],
            got[1],
            got[2] if len(got) > 2 else "",
        )
        for fid, got in (row[0]["verdicts"] or {}).items()
    ]
    # Then what it sent that the plan does not list (its own checks, never a field's).
    (found,) = await unplanned.unplanned_of_logs(
        session.id, [(row[0]["event_id"], row[0]["source"], row[0]["payload"])]
    )
    for item in found:
        fields.append((
            item["key"], (), None, item["verdict"],
            item["reason"] + (" (marked expected in this session)" if item["expected"] else ""),
            item["code"],
        ))  # fmt: skip
    view = log_view(row[0], keys)
    return render(
        request,
        "sessions/log.html",
        {"session": session, "log": view, "fields": fields, "payload": view.payload_pretty},
    )


async def _inspector_context(session: TestSession, event_id: int, field_id: int, platform: str):
    if platform not in PLATFORMS:
        raise field_error("platform", f"must be one of {', '.join(PLATFORMS)}, got {platform!r}")
    snapshot = await load_snapshot(session)
    event = snapshot.plan.event(event_id)
    plan_field = snapshot.plan.field(field_id)
    cell = snapshot.cells.get((event_id, field_id, platform))
    if event is None or plan_field is None or cell is None:
        raise NotFound(f"session {session.id} does not watch field {field_id} of event {event_id}")
    values, more_values = await cell_store.cell_values(
        session.id, event_id, field_id, platform, VALUES_SHOWN
    )
    return {
        "session_id": session.id,
        "event": event,
        "field": plan_field,
        "cell": cell,
        "values": values,
        # Distinct values not listed, and events whose value was past the kept cap.
        "more_values": more_values,
        "other_events": cell.other_values,
        "overrides": await cell_overrides(session.id, event_id, field_id, platform),
        "verdicts": VERDICTS,
    }


async def cell_page(request: Request) -> Response:
    session = await get_session(request.path_params["session_id"], with_project=True)
    p = request.path_params
    context = await _inspector_context(session, p["event_id"], p["field_id"], p["platform"])
    template = for_htmx(request, "sessions/_inspector.html", "sessions/cell.html")
    return render(request, template, context)


# --- controls ----------------------------------------------------------------------------


async def stop_session(request: Request) -> Response:
    session = await get_session(request.path_params["session_id"], with_project=True)
    form = await request.form()
    if not confirmations.confirmed(request, form):
        ask = confirmations.stop_session(session.id)
        return confirmations.confirm_page(request, form, ask, f"/sessions/{session.id}")
    stopped = await _realtime(request).lifecycle.stop(
        session.id, "stopped by a tester", actor(request)
    )
    if is_htmx(request):
        return render(request, "sessions/_controls.html", {"session": stopped})
    return _back_to(session.id)


async def clear_logs(request: Request) -> Response:
    session = await get_session(request.path_params["session_id"], with_project=True)
    form = await request.form()
    if not confirmations.confirmed(request, form):
        ask = confirmations.clear_logs(session.id)
        return confirmations.confirm_page(request, form, ask, f"/sessions/{session.id}")
    await actions.clear_logs(_realtime(request).bus, session, actor(request))
    if is_htmx(request):
        html = fragments.logs_html(session.id, [], has_older=False)
        html += await _changed_regions(session, lambda key: False)  # "N not cleared"
        return Response(html, media_type="text/html")
    return _back_to(session.id)


async def override_verdict(request: Request) -> Response:
    session = await get_session(request.path_params["session_id"], with_project=True)
    form = await request.form()
    event_id, field_id = _ids(form, "event")[:1], _ids(form, "field")[:1]
    if not event_id or not field_id:
        raise field_error("field", "choose the event and field to override")
    platform = str(form.get("platform") or "")
    verdict = str(form.get("verdict") or "")
    reason = str(form.get("reason") or "").strip()
    try:
        if not reason:
            raise field_error("reason", "say why you override the verdict (it is kept with it)")
        platforms = PLATFORMS if platform == "all" else (platform,)
        await actions.override_fields(
            _realtime(request).bus,
            session,
            [{"id": field_id[0], "results": dict.fromkeys(platforms, verdict), "reason": reason}],
            actor(request),
        )
    except InvalidParams as exc:
        if not is_htmx(request):
            raise
        shown = platform if platform in PLATFORMS else PLATFORMS[0]
        context = await _inspector_context(session, event_id[0], field_id[0], shown)
        context.update(error=exc.msg, reason=reason)
        return render(request, "sessions/_inspector.html", context, status_code=exc.status)
    shown = platform if platform in PLATFORMS else PLATFORMS[0]
    if not is_htmx(request):
        # Back to the cell's own page: it lists the override just made, by whom and when.
        return RedirectResponse(
            f"/sessions/{session.id}/cells/{event_id[0]}/{field_id[0]}/{shown}", status_code=303
        )
    context = await _inspector_context(session, event_id[0], field_id[0], shown)
    context["saved"] = f"Saved: {verdict} ({'all platforms' if platform == 'all' else platform})."
    html = bytes(render(request, "sessions/_inspector.html", context).body).decode()
    # The cells and counts change on this page at once (a stopped session has no stream);
    # the stream tells every other page.
    html += await _changed_regions(
        session, lambda key: key[:2] == (event_id[0], field_id[0]) and key[2] in platforms
    )
    return Response(html, media_type="text/html")


async def _changed_regions(session: TestSession, cells_wanted) -> str:
    """Partials of the counts and of the cells `cells_wanted((event, field, platform))` picks."""
    snapshot = await load_snapshot(session)
    html = fragments.partial("counts", fragments.counts_html(snapshot))
    for key, cell in snapshot.cells.items():
        if cells_wanted(key):
            html += fragments.partial(cell.dom_id, fragments.cell_html(session.id, cell))
    return html


async def _rejudge_fragment(request: Request, session: TestSession, run) -> Response:
    keys = dict(
        await Field.filter(
            event_id__in=await SessionEvent.filter(session_id=session.id).values_list(
                "event_id", flat=True
            )
        ).values_list("id", "key")
    )
    names = {(c["event"], c["field"]): keys.get(c["field"], "") for c in
             (run.changes or {}).get("cells", [])}  # fmt: skip
    context = {"session_id": session.id, "run": run, "names": names}
    return render(request, "sessions/_rejudge.html", context)


async def rejudge(request: Request) -> Response:
    session = await get_session(request.path_params["session_id"], with_project=True)
    realtime = _realtime(request)
    run = await start_rejudge(realtime.bus, session, actor(request))
    realtime.index.invalidate(session.project_id)
    if not is_htmx(request):
        return _back_to(session.id)
    return await _rejudge_fragment(request, session, run)


async def rejudge_progress(request: Request) -> Response:
    session = await get_session(request.path_params["session_id"], with_project=True)
    run = await RejudgeRun.get_or_none(id=request.path_params["run_id"], session_id=session.id)
    if run is None:
        raise NotFound(f"no re-judge run {request.path_params['run_id']} of this session")
    return await _rejudge_fragment(request, session, run)


async def reset_event(request: Request) -> Response:
    session = await get_session(request.path_params["session_id"], with_project=True)
    form = await request.form()
    if not confirmations.confirmed(request, form):
        event = await Event.get_or_none(id=request.path_params["event_id"])
        name = event.name if event else f"event {request.path_params['event_id']}"
        ask = confirmations.reset_event(name)
        return confirmations.confirm_page(request, form, ask, f"/sessions/{session.id}")
    await actions.reset_event(
        _realtime(request).bus,
        session,
        request.path_params["event_id"],
        str(form.get("reason") or "reset from the session page"),
        actor(request),
        index=_realtime(request).index,
    )
    if is_htmx(request):
        event_id = request.path_params["event_id"]
        html = await _changed_regions(session, lambda key: key[0] == event_id)
        return Response(html, media_type="text/html")
    return _back_to(session.id)


routes = [
    Route("/sessions", sessions_list, methods=["GET"], name="sessions"),
    Route(
        "/projects/{project_id:int}/sessions/new",
        new_session_page,
        methods=["GET"],
        name="new_session",
    ),
    Route(
        "/projects/{project_id:int}/sessions", start_session, methods=["POST"], name="start_session"
    ),
    Route("/sessions/{session_id:int}", session_page, methods=["GET"], name="session"),
    Route(
        "/sessions/{session_id:int}/edit", edit_session_page, methods=["GET"], name="edit_session"
    ),
    Route("/sessions/{session_id:int}/edit", update_session, methods=["POST"]),
    Route("/sessions/{session_id:int}/logs", logs_window, methods=["GET"], name="session_logs"),
    Route("/sessions/{session_id:int}/logs/gap", log_gap, methods=["GET"], name="session_log_gap"),
    Route(
        "/sessions/{session_id:int}/logs/{log_id:int}",
        log_page,
        methods=["GET"],
        name="session_log",
    ),
    Route(
        "/sessions/{session_id:int}/cells/{event_id:int}/{field_id:int}/{platform}",
        cell_page,
        methods=["GET"],
        name="session_cell",
    ),
    Route("/sessions/{session_id:int}/stop", stop_session, methods=["POST"], name="stop_session"),
    Route("/sessions/{session_id:int}/clear", clear_logs, methods=["POST"], name="clear_logs"),
    Route("/sessions/{session_id:int}/rejudge", rejudge, methods=["POST"], name="rejudge"),
    Route(
        "/sessions/{session_id:int}/rejudge/{run_id:int}",
        rejudge_progress,
        methods=["GET"],
        name="rejudge_progress",
    ),
    Route(
        "/sessions/{session_id:int}/override", override_verdict, methods=["POST"], name="override"
    ),
    Route(
        "/sessions/{session_id:int}/events/{event_id:int}/reset",
        reset_event,
        methods=["POST"],
        name="reset_event",
    ),
]
