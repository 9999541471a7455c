"""The session page's unplanned-properties panel: "Expected here" and "Show again".

Both go through the core (trackmaster/sessions/unplanned.py: checked, audited, told to
every live page) and answer the notice beside the panel, with the panel itself for pages
without a stream; without JavaScript they land back on the panel.
"""

from __future__ import annotations

from markupsafe import escape
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from trackmaster.errors import AppError
from trackmaster.found import get_session
from trackmaster.sessions import unplanned
from web import session_fragments as fragments
from web.params import runtime_of
from web.session_view import load_snapshot
from web.templating import is_htmx


def _event(raw: object) -> object:
    text = str(raw or "")
    return int(text) if text.isdigit() and len(text) < 12 else text


async def _answer(request: Request, expected: bool) -> Response:
    session = await get_session(request.path_params["session_id"], with_project=True)
    form = await request.form()
    bus = runtime_of(request).realtime.bus
    by = str(getattr(request.scope.get("user"), "username", "") or "")
    key = form.get("key")
    status, notice = 200, ""
    try:
        if expected:
            mark, _ = await unplanned.mark_expected(
                bus, session, _event(form.get("event")), key, form.get("reason") or None, by
            )
            notice = f"{mark['key']} is expected in this session: it is no longer listed."
        else:
            await unplanned.unmark_expected(bus, session, _event(form.get("event")), key, by)
            notice = f"{key} is listed again with every event that sent it."
    except AppError as exc:
        if not is_htmx(request):
            raise
        status, notice = exc.status, exc.msg
    if not is_htmx(request):
        return RedirectResponse(f"/sessions/{session.id}#unplanned-properties", status_code=303)
    snapshot = await load_snapshot(session)
    html = fragments.partial("unplanned-properties", fragments.unplanned_html(session.id, snapshot))
    return Response(str(escape(notice)) + html, status_code=status, media_type="text/html")


async def mark(request: Request) -> Response:
    return await _answer(request, expected=True)


async def unmark(request: Request) -> Response:
    return await _answer(request, expected=False)


routes = [
    Route("/sessions/{session_id:int}/unplanned/expected", mark, methods=["POST"]),
    Route("/sessions/{session_id:int}/unplanned/unexpected", unmark, methods=["POST"]),
]
