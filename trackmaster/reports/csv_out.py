"""The report as CSV: one row per cell (event x field x platform), written row by row,
then one row per unplanned property (event x key x platform; `source` unplanned_property,
`verdict` UNCERTAIN, `judged` and `uncertain` the events that sent it, `reason` with the
JSON path and "did you mean").

Every text cell that a spreadsheet would read as a formula (it starts with
`=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading apostrophe:
payload values and plan names are untrusted, and `=HYPERLINK(...)` in a
value must stay text when a developer opens the file (OWASP's advice).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from trackmaster.reports.model import Report, ReportCell, UnplannedLine

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
HEADER = (
    "session", "project", "session_verdict", "event", "field", "platform", "verdict",
    "reason", "source", "by", "at", "judged", "success", "fail", "uncertain", "untested",
    "wrong_values", "wrong_values_more", "example_log_id", "example_payload",
)  # fmt: skip


def neutralise(value: Any) -> Any:
    """Text that cannot start a formula; numbers and None pass as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _row(report: Report, cell: ReportCell) -> list[Any]:
    first = cell.wrong[0] if cell.wrong else None
    return [
        report.session_id,
        report.project,
        str(report.verdict),
        cell.event,
        cell.key,
        cell.platform,
        cell.verdict,
        cell.reason,
        cell.source,
        cell.by,
        cell.at.isoformat() if cell.at else "",
        cell.judged,
        cell.counts.get("SUCCESS", 0),
        cell.counts.get("FAIL", 0),
        cell.counts.get("UNCERTAIN", 0),
        cell.counts.get("UNTESTED", 0),
        " | ".join(f"{w.value} x{w.count}" for w in cell.wrong),
        cell.wrong_more,
        first.example_log_id if first else "",
        first.example_payload if first else "",
    ]


def _unplanned_row(report: Report, line: UnplannedLine) -> list[Any]:
    reason = f"{line.reason or 'not in the plan of this event'} ({line.path})"
    return [
        report.session_id, report.project, str(report.verdict), line.event, line.key,
        line.platform, "UNCERTAIN", reason, line.code, "", "", line.count, 0, 0, line.count, 0,
        "", 0, "", "",
    ]  # fmt: skip


def csv_lines(report: Report) -> Iterator[str]:
    """The CSV text, one line (header, then one per cell) at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def line(values: list[Any] | tuple[Any, ...]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([neutralise(v) for v in values])
        return buffer.getvalue()

    yield line(HEADER)
    for cell in report.cells:
        yield line(_row(report, cell))
    for unplanned in report.unplanned:
        yield line(_unplanned_row(report, unplanned))
