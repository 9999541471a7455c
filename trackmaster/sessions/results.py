"""What a tester reads: the caught logs with each field's value (the results: view.py).

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
