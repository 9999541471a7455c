"""The three shapes of a session report over HTTP: an HTML page, CSV and JUnit XML.

Shared by the session's own report URLs, the share links and /api/v3. CSV
and JUnit are streamed: the report (a few rows per watched field) is built,
then written out line by line as the client reads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from trackmaster.models import PLATFORMS
from trackmaster.reports.csv_out import csv_lines
from trackmaster.reports.junit import junit_chunks
from trackmaster.reports.model import VERDICT_ORDER, Report
from web.templating import render

FORMATS = ("html", "csv", "junit")


async def _lines(chunks: Iterator[str]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk.encode("utf-8")


def _filename(report: Report, ext: str) -> str:
    return f"trackmaster-session-{report.session_id}-report.{ext}"


def report_response(
    request: Request, report: Report, fmt: str, links: dict[str, str], *, private: bool = False
) -> Response:
    """The report as `fmt` (html, csv or junit)."""
    headers = {"Cache-Control": "no-store"} if private else {}
    if fmt == "csv":
        headers["Content-Disposition"] = f'attachment; filename="{_filename(report, "csv")}"'
        return StreamingResponse(
            _lines(csv_lines(report)), media_type="text/csv; charset=utf-8", headers=headers
        )
    if fmt == "junit":
        headers["Content-Disposition"] = f'attachment; filename="{_filename(report, "xml")}"'
        return StreamingResponse(
            _lines(junit_chunks(report)), media_type="application/xml", headers=headers
        )
    cells = {(c.event_id, c.field_id, c.platform): c for c in report.cells}
    return render(
        request,
        "reports/report.html",
        {
            "report": report,
            "cells": cells,
            "platforms": PLATFORMS,
            "verdict_order": VERDICT_ORDER,
            "links": links,
        },
        headers=headers,
    )
