"""The report as JSON, for /api/v3 and `trackmaster check`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from trackmaster.reports.model import Report, ReportCell


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def counts_json(report: Report) -> dict[str, Any]:
    """Snowplow Micro's all/good/bad, for events and for cells; and what was never seen."""
    cells = report.cell_counts
    return {
        "session": report.session_id,
        "status": report.status,
        "verdict": str(report.verdict),
        "reason": report.verdict_reason,
        "events": {
            "all": report.event_counts.all,
            "good": report.event_counts.good,
            "bad": report.event_counts.bad,
        },
        "cells": {
            "all": len(report.cells),
            "good": cells.get("SUCCESS", 0),
            "bad": cells.get("FAIL", 0),
            "uncertain": cells.get("UNCERTAIN", 0),
            "untested": cells.get("UNTESTED", 0),
        },
        "watched": [event.name for event in report.events],
        "unseen": report.unseen,
    }


def _cell(cell: ReportCell) -> dict[str, Any]:
    return {
        "event": cell.event,
        "field": cell.key,
        "platform": cell.platform,
        "verdict": cell.verdict,
        "reason": cell.reason,
        "from": cell.source,
        "by": cell.by,
        "at": _iso(cell.at),
        "counts": cell.counts,
        "wrongValues": [
            {
                "value": w.value,
                "count": w.count,
                "reason": w.reason,
                "exampleLogId": w.example_log_id,
            }
            for w in cell.wrong
        ],
        "wrongValuesMore": cell.wrong_more,
    }


def report_json(report: Report) -> dict[str, Any]:
    return {
        **counts_json(report),
        "name": report.session_name,
        "project": {"id": report.project_id, "name": report.project},
        "planVersion": report.plan_version,
        "createdBy": report.created_by,
        "startedAt": _iso(report.started_at),
        "stoppedAt": _iso(report.stopped_at),
        "accounts": list(report.accounts),
        "cells": [_cell(cell) for cell in report.cells],
        "cellCounts": counts_json(report)["cells"],
        "coverage": [
            {
                "event": c.event,
                "field": c.key,
                "platform": c.platform,
                "seen": list(c.seen),
                "missing": list(c.missing),
            }
            for c in report.coverage
        ],
        "unplanned": [
            {
                "event": u.event,
                "platform": u.platform,
                "key": u.key,
                "count": u.count,
                "suggestion": u.suggestion,
                "path": u.path,
                "code": u.code,
                "verdict": "UNCERTAIN",
            }
            for u in report.unplanned
        ],
        "overrides": [
            {
                "kind": o.kind,
                "event": o.event,
                "field": o.key,
                "platform": o.platform,
                "verdict": o.verdict,
                "reason": o.reason,
                "by": o.by,
                "at": _iso(o.at),
            }
            for o in report.overrides
        ],
        "generatedAt": _iso(report.generated_at),
    }
