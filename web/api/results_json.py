"""The JSON shape of a session's results, beside its OpenAPI schema (`VerdictCell`).

The read model (trackmaster/sessions/view.py `SessionView`) speaks domain names; the
API's camelCase (`"from"`, `"logId"`, `"afterLogId"`, `"eventCounts"`) is made here,
for /api/v3, /api/v2 (web/api/v2) and the cell panel's override history; so are a
session's (`session_json`) and a caught log's (`log_json`, from
trackmaster/sessions/results.py `CaughtLog`).
"""

from __future__ import annotations

from typing import Any

from trackmaster.models import TestSession
from trackmaster.sessions.results import CaughtLog
from trackmaster.sessions.unplanned import unplanned_of_logs
from trackmaster.sessions.view import (
    PLATFORM_NAMES,
    CellResult,
    Override,
    SessionView,
    load_view,
    read_overrides,
)

CELL_SCHEMA = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": ["SUCCESS", "FAIL", "UNCERTAIN", "UNTESTED"]},
        "reason": {"type": "string"},
        "from": {"type": "string", "enum": ["log", "override", "reset", "none"]},
        "by": {"type": "string"},
        "at": {"type": "string", "format": "date-time", "nullable": True},
        "logId": {"type": "integer", "nullable": True},
    },
}


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def session_json(session: TestSession, counts: dict[str, int] | None = None) -> dict[str, Any]:
    """A session as /api/v3 answers it (`counts`: its accounts, events and logs)."""
    body = {
        "id": session.id,
        "project": session.project_id,
        "name": session.name,
        "status": str(session.status),
        "source": session.source,
        "jetFilterId": session.jet_filter_id,
        "startedAt": _iso(session.started_at),
        "expiresAt": _iso(session.expires_at),
        "stoppedAt": _iso(session.stopped_at),
        "stopReason": session.stop_reason,
        "createdBy": session.created_by,
        "revision": session.revision,
    }
    if counts is not None:
        body.update(counts)
    return body


def log_json(
    log: CaughtLog,
    *,
    good_or_bad: bool = False,
    unplanned: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A caught log as /api/v3 answers it; `good_or_bad` adds the CI endpoint's "verdict",
    `unplanned` its unplanned properties (trackmaster/sessions/unplanned.unplanned_of_logs)."""
    body: dict[str, Any] = {
        "id": log.id,
        "event": log.event_id,
        "name": log.name,
        "userId": log.user_id,
        "platform": log.platform,
        "source": log.source,
        "messageId": log.message_id,
        "sentAt": _iso(log.sent_at),
        "receivedAt": _iso(log.received_at),
        "payload": log.payload,
        "cleared": log.cleared,
        "fields": [
            {
                "id": f.field_id,
                "key": f.key,
                "found": f.found,
                "value": f.value,
                "verdict": f.verdict,
                "reason": f.reason,
                "code": f.code,
                "path": "$." + f.key.replace("$$", "."),
            }
            for f in log.fields
        ],
    }
    if good_or_bad:
        body["verdict"] = "bad" if log.bad else "good"
    if unplanned is not None:
        body["unplanned"] = unplanned
    return body


async def logs_json(
    session_id: int, logs: list[CaughtLog], *, good_or_bad: bool = False
) -> list[dict[str, Any]]:
    """Caught logs as /api/v3 answers them, each with its unplanned properties."""
    extra = await unplanned_of_logs(session_id, [(g.event_id, g.source, g.payload) for g in logs])
    return [
        log_json(g, good_or_bad=good_or_bad, unplanned=u) for g, u in zip(logs, extra, strict=True)
    ]


def override_json(o: Override) -> dict[str, Any]:
    return {
        "id": o.id,
        "kind": o.kind,
        "verdict": o.verdict,
        "reason": o.reason,
        "by": o.created_by,
        "at": _iso(o.created_at),
        "platform": o.platform,
        "afterLogId": o.after_log_id,
    }


def cell_json(cell: CellResult) -> dict[str, Any]:
    """One cell: its verdict over every event since the reset, the counts, and the override."""
    state = cell.state
    return {
        "verdict": state.verdict.value,
        "label": state.label,
        "code": state.code,
        "counts": dict(state.outstanding),
        "total": dict(state.total),
        "otherValues": state.other_values,
        "override": override_json(cell.override) if cell.override is not None else None,
        "by": cell.by,
        "at": _iso(cell.at),
        "logId": state.last_log_id or None,
        "reason": cell.reason,
        "from": cell.source,
    }


async def cell_overrides(
    session_id: int, event_id: int, field_id: int, platform: str
) -> list[dict[str, Any]]:
    """Who overrode or reset a cell, when and why, newest first (every one, kept forever)."""
    return [
        override_json(o)
        for o in reversed(await read_overrides(session_id))
        if o.event_id == event_id
        and o.field_id in (None, field_id)
        and o.platform in (None, platform)
    ]


def results_json(view: SessionView) -> list[dict[str, Any]]:
    """The view as the API answers it: events, their fields, each field's cell per platform."""
    events = []
    for event in view.events:
        fields = []
        for field in event.plan.fields:
            body: dict[str, Any] = {
                "id": field.field_id,
                "key": field.key,
                "values": list(field.allowed),
                "rules": field.typed.as_json(),
                "note": field.note,
                "results": {
                    p: cell_json(view.cell(event.id, field.field_id, p)) for p in PLATFORM_NAMES
                },
            }
            if field.field_id in view.coverage:
                body["coverage"] = view.coverage[field.field_id]
            fields.append(body)
        per_platform = {}
        for p in PLATFORM_NAMES:
            counts = view.counts_of(event.id, p)
            per_platform[p] = {"caught": counts.caught, "sinceReset": counts.since_reset,
                               **counts.by_verdict()}  # fmt: skip
        extra = view.unplanned.get(event.id, {})
        events.append(
            {"id": event.id, "name": event.name, "logs": view.caught(event.id),
             "eventCounts": per_platform, "fields": fields,
             "unplanned": extra.get("unplanned", []),
             "unplannedMore": extra.get("unplannedMore", 0),
             "expectedProperties": extra.get("expected", [])}
        )  # fmt: skip
    return events


async def session_results(session: TestSession) -> list[dict[str, Any]]:
    """Every watched event with its fields, each with its cell per platform (counts, verdict)."""
    return results_json(await load_view(session))
