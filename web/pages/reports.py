"""A session's report at /sessions/{id}/report (page), report.csv and report.xml (JUnit)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from trackmaster.found import get_session
from trackmaster.reports.build import build_report
from web.reports import report_response


def _links(session_id: int) -> dict[str, str]:
    base = f"/sessions/{session_id}"
    return {
        "csv": f"{base}/report.csv",
        "junit": f"{base}/report.xml",
        "session": base,
        "share": f"{base}/share",
    }


async def _report(request: Request, fmt: str) -> Response:
    session = await get_session(request.path_params["session_id"], with_project=True)
    report = await build_report(session)
    return report_response(request, report, fmt, _links(session.id))


async def report_page(request: Request) -> Response:
    return await _report(request, "html")


async def report_csv(request: Request) -> Response:
    return await _report(request, "csv")


async def report_junit(request: Request) -> Response:
    return await _report(request, "junit")


routes = [
    Route("/sessions/{session_id:int}/report", report_page, methods=["GET"], name="report"),
    Route("/sessions/{session_id:int}/report.csv", report_csv, methods=["GET"], name="report_csv"),
    Route(
        "/sessions/{session_id:int}/report.xml", report_junit, methods=["GET"], name="report_junit"
    ),
]
