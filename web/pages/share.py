"""Share links: made and revoked on /sessions/{id}/share; read at /share/{token} without login.

A share link's pages answer 404 for a token that is unknown, revoked or
expired, the same for each, so the answer tells an outsider nothing; they
show only the report of the link's own session, and are never cached.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from trackmaster.errors import InvalidParams, NotFound
from trackmaster.found import get_session
from trackmaster.models import ShareLink, TestSession
from trackmaster.reports import share
from trackmaster.reports.build import build_report
from web import confirmations
from web.params import actor
from web.reports import report_response
from web.templating import render


async def _page(request: Request, session: TestSession, **extra) -> Response:
    links = [(link, share.state(link)) for link in await share.links_of(session.id)]
    context = {
        "session": session,
        "links": links,
        "max_days": share.MAX_DAYS,
        "default_days": share.DEFAULT_DAYS,
        **extra,
    }
    status = 400 if extra.get("error") else 200
    return render(
        request, "reports/share.html", context, status_code=status,
        headers={"Cache-Control": "no-store"},
    )  # fmt: skip


async def share_page(request: Request) -> Response:
    session = await get_session(request.path_params["session_id"], with_project=True)
    return await _page(request, session)


async def create_link(request: Request) -> Response:
    session = await get_session(request.path_params["session_id"], with_project=True)
    form = await request.form()
    try:
        created = await share.create_link(
            session, days=form.get("days"), note=str(form.get("note") or ""), by=actor(request)
        )
    except InvalidParams as exc:
        return await _page(request, session, error=exc.msg)
    url = str(request.base_url).rstrip("/") + f"/share/{created.token}"
    return await _page(request, session, created=created, created_url=url)


async def revoke_link(request: Request) -> Response:
    session = await get_session(request.path_params["session_id"], with_project=True)
    form = await request.form()
    if not confirmations.confirmed(request, form):
        link = await ShareLink.get_or_none(id=request.path_params["link_id"], session_id=session.id)
        if link is None:
            raise NotFound(f"no share link {request.path_params['link_id']} of this session")
        ask = confirmations.revoke_share_link(session.id, link.id, link.note)
        return confirmations.confirm_page(request, form, ask, f"/sessions/{session.id}/share")
    await share.revoke(session.id, request.path_params["link_id"], by=actor(request))
    return RedirectResponse(f"/sessions/{session.id}/share", status_code=303)


async def _shared(request: Request, fmt: str) -> Response:
    token = request.path_params["token"]
    link = await share.resolve(token)
    if link is None:
        raise NotFound("this share link does not exist, was revoked or has expired")
    session = await TestSession.get(id=link.session_id)
    report = await build_report(session)
    base = f"/share/{token}"
    links = {"csv": f"{base}/report.csv", "junit": f"{base}/report.xml", "session": ""}
    response = report_response(request, report, fmt, links, private=True)
    response.headers["X-Robots-Tag"] = "noindex"
    return response


async def shared_report(request: Request) -> Response:
    return await _shared(request, "html")


async def shared_csv(request: Request) -> Response:
    return await _shared(request, "csv")


async def shared_junit(request: Request) -> Response:
    return await _shared(request, "junit")


routes = [
    Route("/sessions/{session_id:int}/share", share_page, methods=["GET"], name="share"),
    Route("/sessions/{session_id:int}/share", create_link, methods=["POST"]),
    Route(
        "/sessions/{session_id:int}/share/{link_id:int}/revoke",
        revoke_link,
        methods=["POST"],
        name="share_revoke",
    ),
    Route("/share/{token}", shared_report, methods=["GET"], name="shared_report"),
    Route("/share/{token}/report.csv", shared_csv, methods=["GET"]),
    Route("/share/{token}/report.xml", shared_junit, methods=["GET"]),
]
