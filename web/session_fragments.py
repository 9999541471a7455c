"""The HTML a live session page receives: partials, and the updates that wrap them.

Rendered without a request, because a stream renders each update once for
every browser watching the session in this process. Every piece is a
template of templates/sessions/ (autoescaped); an update wraps pieces in
`<hx-partial hx-target="#id" hx-swap="...">` so that htmx 4 swaps each into
its place (unnamed SSE messages only: htmx 4 does not swap named ones).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from trackmaster.models import TestSession
from web import cell_markup
from web.session_view import (
    LOGS_PER_PAGE,
    PLATFORMS,
    VERDICTS,
    Cell,
    CoverageRow,
    LogGap,
    LogView,
    Snapshot,
)
from web.templating import environment


def piece(template: str, **context: Any) -> str:
    context.setdefault("platforms", PLATFORMS)
    context.setdefault("verdicts", VERDICTS)
    context.setdefault("csrf_token", "")
    return environment.get_template(f"sessions/{template}").render(**context)


def partial(target_id: str, html: str, swap: str = "outerHTML") -> str:
    # target_id is ours (digits, letters, dashes), never user text.
    return f'<hx-partial hx-target="#{target_id}" hx-swap="{swap}">{html}</hx-partial>'


def cell_html(session_id: int, cell: Cell) -> str:
    return cell_markup.cell_html(session_id, cell)


def cell_swaps_html(session_id: int, cells: list[Cell]) -> str:
    """Each cell as the out-of-band swap that replaces it (web/cell_markup.py: no template)."""
    return "".join([cell_markup.cell_html(session_id, cell, oob=True) for cell in cells])


def matrix_html(session_id: int, snapshot: Snapshot, **extra: Any) -> str:
    return piece(
        "_matrix.html", session_id=session_id, plan=snapshot.plan, cells=snapshot.cells, **extra
    )


def counts_html(snapshot: Snapshot) -> str:
    return piece("_counts.html", counts=snapshot.counts)


def coverage_html(snapshot: Snapshot) -> str:
    return piece("_coverage.html", coverage=snapshot.coverage)


def unplanned_html(session_id: int, snapshot: Snapshot) -> str:
    return piece("_unplanned_props.html", session_id=session_id, panel=snapshot.unplanned)


def coverage_row_html(row: CoverageRow) -> str:
    return piece("_coverage_row.html", row=row)


def parity_html(parity: list[Any]) -> str:
    return piece("_parity.html", parity=parity)


def unmatched_html(session: TestSession, panel: Any, **extra: Any) -> str:
    return piece("_unmatched.html", session=session, panel=panel, **extra)


def controls_html(session: TestSession, **extra: Any) -> str:
    return piece("_controls.html", session=session, **extra)


def logs_html(
    session_id: int, logs: list[LogView], has_older: bool, before: int | None = None
) -> str:
    return piece(
        "_logs.html",
        session_id=session_id,
        logs=logs,
        has_older=has_older,
        before=before,
        window=LOGS_PER_PAGE,
    )


def log_rows_html(session_id: int, logs: Iterable[LogView]) -> str:
    return "".join(piece("_log.html", session_id=session_id, log=log) for log in logs)


def log_skipped_html(session_id: int, skipped: int, shown: int, before: int) -> str:
    """The mark where a live frame left out the `skipped` rows older than log `before`."""
    return piece(
        "_log_skipped.html", session_id=session_id, skipped=skipped, shown=shown, before=before
    )


def log_gap_html(session_id: int, gap: LogGap) -> str:
    """The rows a reconnected page missed below its window, as the partial that fills #log-gap."""
    return partial("log-gap", piece("_log_gap.html", session_id=session_id, gap=gap))


def log_gap_rows_html(session_id: int, gap: LogGap) -> str:
    """The next rows of a gap and the button for the ones after (the answer to that button)."""
    return piece("_log_gap_rows.html", session_id=session_id, gap=gap)


def live_line(session: TestSession) -> str:
    """The main content of every update: swapped into #live, the page's connection line."""
    at = datetime.now(UTC).strftime("%H:%M:%S")
    if str(session.status) == "ON":
        return f'<span class="live-dot"></span> live · updated {at} UTC'
    return f"stopped · {at} UTC"


def full_refresh(
    session: TestSession, snapshot: Snapshot, logs: list[LogView], has_older: bool
) -> str:
    """Every live region at once: after a reconnect that missed too much, or a plan change."""
    sid = session.id
    return "".join(
        (
            live_line(session),
            partial("controls", controls_html(session)),
            partial("counts", counts_html(snapshot)),
            partial("matrix", matrix_html(sid, snapshot)),
            partial("coverage", coverage_html(snapshot)),
            partial("unplanned-properties", unplanned_html(sid, snapshot)),
            partial("logs", logs_html(sid, logs, has_older)),
        )
    )


def changes(
    session: TestSession,
    before: Snapshot,
    after: Snapshot,
    new_logs: list[LogView],
    *,
    status_changed: bool,
    logs_window: tuple[list[LogView], bool] | None = None,
    logs_skipped: int = 0,
) -> str:
    """Only what changed between two snapshots: cells, coverage rows, counts, new log rows.

    `logs_window` (the newest logs, and whether older exist) replaces the whole
    list instead of inserting `new_logs`: after logs were cleared. `logs_skipped`:
    new logs older than `new_logs` that the frame leaves out, marked below them.
    """
    sid = session.id
    parts = [live_line(session)]
    if status_changed:
        parts.append(partial("controls", controls_html(session)))
    if after.counts != before.counts:
        parts.append(partial("counts", counts_html(after)))
    if after.plan.signature != before.plan.signature:
        # Events or fields came or went: the rows themselves change.
        parts.append(partial("matrix", matrix_html(sid, after)))
        parts.append(partial("coverage", coverage_html(after)))
    else:
        swaps = [cell for key, cell in after.cells.items() if before.cells.get(key) != cell]
        if swaps:
            parts.append(cell_swaps_html(sid, swaps))
        old_rows = {row.dom_id: row.key() for row in before.coverage}
        for row in after.coverage:
            if old_rows.get(row.dom_id) != row.key():
                parts.append(partial(row.dom_id, coverage_row_html(row)))
    if after.unplanned != before.unplanned:
        parts.append(partial("unplanned-properties", unplanned_html(sid, after)))
    if logs_window is not None:
        parts.append(partial("logs", logs_html(sid, *logs_window)))
    elif new_logs:
        rows = log_rows_html(sid, new_logs)
        if logs_skipped > 0:
            rows += log_skipped_html(sid, logs_skipped, len(new_logs), new_logs[-1].id)
        parts.append(partial("log-list", rows, swap="afterbegin"))
    return "".join(parts)
