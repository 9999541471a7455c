"""What a tester reads: the caught logs with each field's value, and the current results.

Results are the stored cells (trackmaster/sessions/cells.py): per watched
event, field and platform, the counts per verdict of every event caught
since the cell's last reset, kept up to date by the ingest transaction, and
the override that covers the events caught before it. A page reads them with
a few queries per session, never by going through the logs. Clearing logs
hides them from the log list but keeps them in the results.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from trackmaster.models import EventLog, Field, TestSession, Verdict
from trackmaster.sessions.view import (
    PLATFORM_NAMES,
    CellResult,
    Override,
    SessionView,
    load_view,
    read_overrides,
)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def session_json(session: TestSession, counts: dict[str, int] | None = None) -> dict[str, Any]:
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


# --- logs ------------------------------------------------------------------------------


async def _field_keys(event_ids: Iterable[int]) -> dict[int, str]:
    """Keys of every field of these events, removed ones included (old logs name them)."""
    rows = await Field.filter(event_id__in=sorted(set(event_ids))).values_list("id", "key")
    return dict(rows)


def log_json(row: dict[str, Any], keys: dict[int, str]) -> dict[str, Any]:
    values = row["field_values"] or {}
    verdicts = row["verdicts"] or {}
    fields = []
    for field_id, value in values.items():
        got = verdicts.get(field_id) or [Verdict.UNTESTED.value, ""]
        key = keys.get(int(field_id), "(no longer in the plan)")
        fields.append(
            {
                "id": int(field_id),
                "key": key,
                "found": value is not None,
                "value": value,
                "verdict": got[0],
                "reason": got[1],
                # Logs stored before codes existed have none.
                "code": got[2] if len(got) > 2 else "",
                "path": "$." + key.replace("$$", "."),
            }
        )
    return {
        "id": row["id"],
        "event": row["event_id"],
        "name": row["name"],
        "userId": row["user_id"],
        "platform": str(row["platform"]),
        "source": row["source"],
        "messageId": row["message_id"],
        "sentAt": _iso(row["sent_at"]),
        "receivedAt": _iso(row["received_at"]),
        "payload": row["payload"],
        "cleared": row["cleared"],
        "fields": fields,
    }


LOG_VALUES = (
    "id", "event_id", "name", "user_id", "platform", "source", "message_id", "sent_at",
    "received_at", "payload", "field_values", "verdicts", "cleared",
)  # fmt: skip


async def session_logs(
    session_id: int,
    offset: int,
    limit: int | None,
    *,
    after_id: int = 0,
    with_cleared: bool = False,
) -> tuple[list[dict[str, Any]], int]:
    """Caught logs, newest first, with each field's value; and how many there are.

    Cleared logs only `with_cleared`; `limit` None reads them all (the original API's
    answers held every log: its compatibility layer needs that, v3 pages).
    """
    query = EventLog.filter(session_id=session_id)
    if not with_cleared:
        query = query.filter(cleared=False)
    if after_id:
        query = query.filter(id__gt=after_id)
    total = await query.count()
    ordered = query.order_by("-id").offset(offset)
    rows = await (ordered if limit is None else ordered.limit(limit)).values(*LOG_VALUES)
    keys = await _field_keys(row["event_id"] for row in rows)
    return [log_json(row, keys) for row in rows], total


async def uncleared_logs(
    session_id: int, offset: int, limit: int, *, after_id: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """Logs not yet cleared, newest first, with each field's value; and how many there are."""
    return await session_logs(session_id, offset, limit, after_id=after_id)


# --- results ---------------------------------------------------------------------------


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
                "id": field.id,
                "key": field.key,
                "values": list(field.values),
                "rules": field.typed.as_json(),
                "note": field.note,
                "results": {p: cell_json(view.cell(event.id, field.id, p)) for p in PLATFORM_NAMES},
            }
            if field.id in view.coverage:
                body["coverage"] = view.coverage[field.id]
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
