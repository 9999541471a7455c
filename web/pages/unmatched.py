"""The session page's unmatched panel: "watch this event", "add this account", and for
plans kept in files "draft a plan entry" (trackmaster/plan/draft.py).

Each changes the live session as the change form would (the stream then brings the new
matrix to every page of it) and answers with the panel, in which the fixed group is gone.
"""

from __future__ import annotations

import json

from markupsafe import escape
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from trackmaster.errors import AppError, BadRequest, NotFound, field_error
from trackmaster.found import get_session
from trackmaster.models import (
    Account,
    Event,
    SessionAccount,
    SessionEvent,
    Story,
    UnmatchedEvent,
)
from trackmaster.plan.accounts import add_account
from trackmaster.plan.draft import DraftField, propose_fields, save_draft
from web.params import actor, runtime_of
from web.session_fragments import partial
from web.templating import is_htmx, render
from web.unmatched_view import load_unmatched


async def _panel(request: Request, session, *, notice: str = "", error: str = "", status=200):
    context = {"session": session, "panel": await load_unmatched(session), "error": error}
    panel = bytes(render(request, "sessions/_unmatched.html", context).body).decode()
    # The buttons target the notice beside the panel, not the panel: the stream redraws
    # the panel after the change, often before this answer arrives, and a swap into a
    # panel already replaced would be lost. The panel comes along for pages without one.
    return Response(
        str(escape(notice or error)) + partial("unmatched", panel),
        status_code=status,
        media_type="text/html",
    )


async def _answer(request: Request, session, change) -> Response:
    try:
        notice = await change()
    except AppError as exc:
        if not is_htmx(request):
            raise
        return await _panel(request, session, error=exc.msg, status=exc.status)
    if not is_htmx(request):
        return RedirectResponse(f"/sessions/{session.id}#unmatched", status_code=303)
    return await _panel(request, session, notice=notice)


async def watch_event(request: Request) -> Response:
    session = await get_session(request.path_params["session_id"], with_project=True)
    form = await request.form()

    async def change() -> str:
        raw = str(form.get("event") or "")
        event = await Event.get_or_none(
            id=int(raw) if raw.isdigit() else 0, story__project_id=session.project_id
        )
        if event is None:
            raise field_error("event", f"no event {raw!r} in this project's plan")
        watched = await SessionEvent.filter(session_id=session.id).values_list(
            "event_id", flat=True
        )
        await runtime_of(request).realtime.lifecycle.update(
            session.id, events=sorted({*watched, event.id})
        )
        return f"Watching {event.name} now: its next events are checked."

    return await _answer(request, session, change)


async def add_session_account(request: Request) -> Response:
    session = await get_session(request.path_params["session_id"], with_project=True)
    form = await request.form()

    async def change() -> str:
        user_id = str(form.get("user_id") or "").strip()
        account = await Account.get_or_none(project_id=session.project_id, user_id=user_id)
        if account is None:
            account = await add_account(session.project, user_id, f"added in session #{session.id}")
        chosen = await SessionAccount.filter(session_id=session.id).values_list(
            "account_id", flat=True
        )
        await runtime_of(request).realtime.lifecycle.update(
            session.id, accounts=sorted({*chosen, account.id})
        )
        return f"{user_id} is an account of this session now: its next events are checked."

    return await _answer(request, session, change)


# --- draft a plan entry (plans kept in files) ---------------------------------------------


async def _draft_source(request: Request):
    session = await get_session(request.path_params["session_id"], with_project=True)
    row = await UnmatchedEvent.get_or_none(
        id=request.path_params["row_id"], project_id=session.project_id
    )
    if row is None:
        raise NotFound("that unmatched event is no longer kept (only the newest are)")
    if session.project.jet_id:
        raise BadRequest("this project's plan comes from Jet: add the event there")
    try:
        payload = json.loads(row.payload)
    except ValueError:
        payload = {}
    return session, row, propose_fields(payload)


async def draft_page(request: Request) -> Response:
    session, row, fields = await _draft_source(request)
    stories = await Story.filter(project_id=session.project_id, removed_at=None).order_by("name")
    return render(
        request,
        "sessions/draft.html",
        {"session": session, "row": row, "fields": fields, "stories": stories, "error": ""},
    )


async def save_draft_entry(request: Request) -> Response:
    session, row, proposed = await _draft_source(request)
    form = await request.form()
    include = set(form.getlist("include"))
    fixed = set(form.getlist("fixed"))
    fields = [
        DraftField(f.key, f.kind, f.seen, f.key in fixed) for f in proposed if f.key in include
    ]
    story = str(form.get("new_story") or "").strip() or str(form.get("story") or "").strip()
    name = str(form.get("name") or row.name).strip()
    if not story:
        raise field_error("story", "choose a story for the event, or name a new one")
    run = await save_draft(
        session.project,
        story,
        name,
        fields,
        description=str(form.get("description") or "").strip(),
        started_by=actor(request),
        changes=runtime_of(request).plan_changes,
    )
    return RedirectResponse(f"/projects/{session.project_id}/sync/{run.id}", status_code=303)


routes = [
    Route(
        "/sessions/{session_id:int}/unmatched/watch",
        watch_event,
        methods=["POST"],
        name="unmatched_watch",
    ),
    Route(
        "/sessions/{session_id:int}/unmatched/account",
        add_session_account,
        methods=["POST"],
        name="unmatched_account",
    ),
    Route(
        "/sessions/{session_id:int}/unmatched/{row_id:int}/draft",
        draft_page,
        methods=["GET"],
        name="unmatched_draft",
    ),
    Route(
        "/sessions/{session_id:int}/unmatched/{row_id:int}/draft",
        save_draft_entry,
        methods=["POST"],
        name="unmatched_draft_save",
    ),
]
