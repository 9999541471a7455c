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
from dataclasses import dataclass
from typing import Any

from trackmaster.checks import Coverage
from trackmaster.models import (
    CoverageValue,
    EventLog,
    Field,
    Platform,
    SessionEvent,
    TestSession,
    Verdict,
    VerdictOverride,
)
from trackmaster.sessions import cell_store
from trackmaster.sessions.cells import CellState
from trackmaster.sessions.plans import load_event_plans
from trackmaster.sessions.unplanned import load_unplanned


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


@dataclass(frozen=True)
class _Override:
    id: int
    event_id: int
    field_id: int | None
    platform: str | None
    kind: str
    verdict: str
    reason: str
    created_by: str
    created_at: Any
    after_log_id: int

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "verdict": self.verdict,
            "reason": self.reason,
            "by": self.created_by,
            "at": _iso(self.created_at),
            "platform": self.platform,
            "afterLogId": self.after_log_id,
        }


def cell_json(
    state: CellState,
    override: _Override | None,
    reset: _Override | None,
    caught_at: dict[int, Any] | None = None,
) -> dict[str, Any]:
    """One cell: its verdict over every event since the reset, the counts, and the override."""
    body: dict[str, Any] = {
        "verdict": state.verdict.value,
        "label": state.label,
        "code": state.code,
        "counts": dict(state.outstanding),
        "total": dict(state.total),
        "otherValues": state.other_values,
        "override": override.as_json() if override is not None else None,
        "by": "",
        "at": None,
        "logId": state.last_log_id or None,
    }
    if state.from_override and override is not None:
        body.update(
            reason=override.reason or "set by hand", by=override.created_by,
            at=_iso(override.created_at),
        )  # fmt: skip
        body["from"] = "override"
    elif state.verdict is Verdict.UNTESTED:
        if reset is not None:
            body.update(
                reason=reset.reason or "reset to UNTESTED", by=reset.created_by,
                at=_iso(reset.created_at),
            )  # fmt: skip
            body["from"] = "reset"
        else:
            body.update(reason="no event caught yet")
            body["from"] = "none"
    else:
        n, of = state.outstanding[state.verdict.value], state.outstanding_total
        since = " since the override" if override is not None else ""
        body["reason"] = f"{state.verdict.value} in {n} of {of} events{since}: {state.reason}"
        body["from"] = "log"
        # When the newest event the cell counts was caught.
        body["at"] = _iso((caught_at or {}).get(state.last_log_id))
    return body


async def _overrides(session_id: int) -> list[_Override]:
    rows = await VerdictOverride.filter(session_id=session_id).order_by("id").values(
        "id", "event_id", "field_id", "platform", "kind", "verdict", "reason", "created_by",
        "created_at", "after_log_id",
    )  # fmt: skip
    found = []
    for row in rows:
        row["platform"] = str(row["platform"]) if row["platform"] is not None else None
        row["verdict"] = str(row["verdict"])
        found.append(_Override(**row))
    return found


async def cell_overrides(
    session_id: int, event_id: int, field_id: int, platform: str
) -> list[dict[str, Any]]:
    """Who overrode or reset a cell, when and why, newest first (every one, kept forever)."""
    return [
        o.as_json()
        for o in reversed(await _overrides(session_id))
        if o.event_id == event_id
        and o.field_id in (None, field_id)
        and o.platform in (None, platform)
    ]


async def session_results(session: TestSession) -> list[dict[str, Any]]:
    """Every watched event with its fields, each with its cell per platform (counts, verdict)."""
    watched = (
        await SessionEvent.filter(session_id=session.id)
        .order_by("name")
        .values_list("event_id", "name")
    )
    plans = await load_event_plans(event_id for event_id, _ in watched)
    states, event_rows = await cell_store.load_cells(session.id)
    overrides = await _overrides(session.id)
    by_id = {o.id: o for o in overrides}
    resets: dict[int, _Override] = {}
    for o in overrides:
        if o.kind == "reset":
            resets[o.event_id] = o  # ordered by id: the newest wins
    rules = [rule for plan in plans.values() for rule in plan.rules]
    coverage = Coverage.restore(
        rules,
        await CoverageValue.filter(session_id=session.id).values_list(
            "field_id", "platform", "value"
        ),
    )
    unplanned = await load_unplanned(session.id)
    untested = CellState.untested()
    newest_ids = sorted({s.last_log_id for s in states.values() if s.last_log_id})
    caught_at = (
        dict(await EventLog.filter(id__in=newest_ids).values_list("id", "received_at"))
        if newest_ids
        else {}
    )
    events = []
    for event_id, name in watched:
        plan = plans[event_id]
        reset = resets.get(event_id)
        fields = []
        for field in plan.fields:
            results = {}
            for platform in Platform:
                state = states.get((event_id, field.id, platform.value), untested)
                override = by_id.get(state.override_id) if state.override_id else None
                results[platform.value] = cell_json(state, override, reset, caught_at)
            body: dict[str, Any] = {
                "id": field.id,
                "key": field.key,
                "values": list(field.values),
                "rules": field.typed.as_json(),
                "note": field.note,
                "results": results,
            }
            if coverage.tracks(field.id):
                body["coverage"] = {
                    platform.value: coverage.summary(field.id, platform) for platform in Platform
                }
            fields.append(body)
        per_platform = {
            p.value: event_rows.get(
                (event_id, p.value),
                {"caught": 0, "sinceReset": 0, "SUCCESS": 0, "FAIL": 0, "UNCERTAIN": 0},
            )
            for p in Platform
        }
        caught = sum(row["caught"] for row in per_platform.values())
        extra = unplanned.get(event_id, {})
        events.append(
            {"id": event_id, "name": name, "logs": caught, "eventCounts": per_platform,
             "fields": fields, "unplanned": extra.get("unplanned", []),
             "unplannedMore": extra.get("unplannedMore", 0),
             "expectedProperties": extra.get("expected", [])}
        )  # fmt: skip
    return events
