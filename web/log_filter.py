"""Filtering caught events by event, platform, user, verdict and text.

The session page filters its live list in the browser (static/app.js); this is the same
filter on the server, for the logs page and browsers without JavaScript. Name and
platform are exact, user and text are substrings (text searches the raw payload),
verdict keeps events with at least one field of that verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import QueryParams

from trackmaster.models import EventLog
from web.session_view import (
    _LOG_COLUMNS,
    LOGS_PER_PAGE,
    PLATFORMS,
    VERDICTS,
    LogView,
    MatrixPlan,
    log_view,
    matrix_keys,
)

# Verdicts are in a JSON column: a verdict filter reads at most this many rows to fill a page.
VERDICT_SCAN_ROWS = 2000
MAX_TEXT_CHARS = 200


@dataclass(frozen=True)
class LogFilter:
    event: str = ""
    platform: str = ""
    user: str = ""
    verdict: str = ""
    q: str = ""

    @classmethod
    def from_query(cls, params: QueryParams) -> LogFilter:
        def text(name: str) -> str:
            return params.get(name, "").strip()[:MAX_TEXT_CHARS]

        platform = text("platform")
        verdict = text("verdict").upper()
        return cls(
            event=text("event"),
            platform=platform if platform in PLATFORMS else "",
            user=text("user"),
            verdict=verdict if verdict in VERDICTS else "",
            q=text("q"),
        )

    @property
    def active(self) -> bool:
        return any((self.event, self.platform, self.user, self.verdict, self.q))


async def filtered_logs(
    session_id: int,
    plan: MatrixPlan,
    wanted: LogFilter,
    *,
    before: int | None = None,
    limit: int = LOGS_PER_PAGE,
) -> tuple[list[LogView], bool]:
    """The newest caught events that pass `wanted` (older than `before`), and whether more do."""
    query = EventLog.filter(session_id=session_id, cleared=False)
    if before is not None:
        query = query.filter(id__lt=before)
    if wanted.event:
        query = query.filter(name=wanted.event)
    if wanted.platform:
        query = query.filter(platform=wanted.platform)
    if wanted.user:
        query = query.filter(user_id__icontains=wanted.user)
    if wanted.q:
        query = query.filter(payload__icontains=wanted.q)
    scan = VERDICT_SCAN_ROWS if wanted.verdict else limit + 1
    rows = await query.order_by("-id").limit(scan).values(*_LOG_COLUMNS)
    keys = matrix_keys(plan)
    views = [log_view(row, keys) for row in rows]
    if wanted.verdict:
        views = [view for view in views if view.verdict_counts.get(wanted.verdict)]
    return views[:limit], len(views) > limit
