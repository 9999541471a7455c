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
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from trackmaster.models import EventLog, Field, Verdict

# --- logs ------------------------------------------------------------------------------

# The key shown for a field a log names that left the plan (and whose row is gone).
GONE_KEY = "(no longer in the plan)"


@dataclass(frozen=True, slots=True)
class LoggedField:
    """One planned field of a caught log: its value (None when not found) and verdict."""

    field_id: int
    key: str
    value: Any
    verdict: str
    reason: str
    code: str  # "" for logs stored before codes existed

    @property
    def found(self) -> bool:
        return self.value is not None


@dataclass(frozen=True, slots=True)
class CaughtLog:
    """A caught event as stored, with each planned field's value and verdict."""

    id: int
    event_id: int
    name: str
    user_id: str
    platform: str
    source: str
    message_id: str | None
    sent_at: datetime | None
    received_at: datetime | None
    payload: Any
    cleared: bool
    fields: tuple[LoggedField, ...]
    bad: bool  # a field's verdict is FAIL (the stored verdicts, all of them)


async def keys_of_fields(event_ids: Iterable[int]) -> dict[int, str]:
    """Keys of every field of these events, removed ones included (old logs name them)."""
    ids = sorted(set(event_ids))
    if not ids:
        return {}
    return dict(await Field.filter(event_id__in=ids).values_list("id", "key"))


def is_bad(verdicts: dict[str, Any] | None) -> bool:
    return any(got and got[0] == "FAIL" for got in (verdicts or {}).values())


def caught_log(row: dict[str, Any], keys: dict[int, str]) -> CaughtLog:
    """A log from its LOG_VALUES row; `keys` names its fields (keys_of_fields)."""
    values = row["field_values"] or {}
    verdicts = row["verdicts"] or {}
    fields = []
    for field_id, value in values.items():
        got = verdicts.get(field_id) or [Verdict.UNTESTED.value, ""]
        fields.append(
            LoggedField(
                int(field_id), keys.get(int(field_id), GONE_KEY), value, got[0], got[1],
                got[2] if len(got) > 2 else "",
            )
        )  # fmt: skip
    return CaughtLog(
        row["id"], row["event_id"], row["name"], row["user_id"], str(row["platform"]),
        row["source"], row["message_id"], row["sent_at"], row["received_at"], row["payload"],
        row["cleared"], tuple(fields), is_bad(verdicts),
    )  # fmt: skip


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
) -> tuple[list[CaughtLog], int]:
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
    keys = await keys_of_fields(row["event_id"] for row in rows)
    return [caught_log(row, keys) for row in rows], total


async def uncleared_logs(
    session_id: int, offset: int, limit: int, *, after_id: int = 0
) -> tuple[list[CaughtLog], int]:
    """Logs not yet cleared, newest first, with each field's value; and how many there are."""
    return await session_logs(session_id, offset, limit, after_id=after_id)
