"""What a tester reads: the caught logs with each field's value, and the current results.

Results are derived, never stored twice: for each watched event, field and
platform, the newest of (a) the verdict in the newest caught log of that
event and platform, and (b) the newest override or reset of that cell. "Newer"
compares positions in the session's log stream: an override made when the
newest log id was N is newer than logs up to N and older than log N+1.
Clearing logs hides them from the log list but keeps them in the results.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tortoise.functions import Count, Max

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
from trackmaster.sessions.plans import load_event_plans

PLATFORMS = (Platform.IOS, Platform.ANDROID, Platform.OTHER)


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
        verdict, reason = verdicts.get(field_id, [Verdict.UNTESTED.value, ""])
        fields.append(
            {
                "id": int(field_id),
                "key": keys.get(int(field_id), "(no longer in the plan)"),
                "found": value is not None,
                "value": value,
                "verdict": verdict,
                "reason": reason,
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
        "fields": fields,
    }


LOG_VALUES = (
    "id", "event_id", "name", "user_id", "platform", "source", "message_id", "sent_at",
    "received_at", "payload", "field_values", "verdicts",
)  # fmt: skip


async def uncleared_logs(
    session_id: int, offset: int, limit: int, *, after_id: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """Logs not yet cleared, newest first, with each field's value; and how many there are."""
    query = EventLog.filter(session_id=session_id, cleared=False)
    if after_id:
        query = query.filter(id__gt=after_id)
    total = await query.count()
    rows = await query.order_by("-id").offset(offset).limit(limit).values(*LOG_VALUES)
    keys = await _field_keys(row["event_id"] for row in rows)
    return [log_json(row, keys) for row in rows], total


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

    def applies(self, field_id: int, platform: str) -> bool:
        return self.field_id in (None, field_id) and self.platform in (None, platform)


def _cell(
    log: dict[str, Any] | None, overrides: list[_Override], field_id: int, platform: str
) -> dict[str, Any]:
    best_override = None
    for override in overrides:  # ordered by id: the last that applies is the newest
        if override.applies(field_id, platform):
            best_override = override
    if best_override and (log is None or best_override.after_log_id >= log["id"]):
        what = "reset" if best_override.kind == "reset" else "override"
        reason = best_override.reason or ("reset to UNTESTED" if what == "reset" else "set by hand")
        return {
            "verdict": best_override.verdict,
            "reason": reason,
            "from": what,
            "by": best_override.created_by,
            "at": _iso(best_override.created_at),
            "logId": None,
        }
    if log is None:
        return {"verdict": Verdict.UNTESTED.value, "reason": "no event caught yet", "from": "none",
                "by": "", "at": None, "logId": None}  # fmt: skip
    found = (log["verdicts"] or {}).get(str(field_id))
    if found is None:
        verdict, reason = Verdict.UNTESTED.value, "the field joined the plan after this log"
    else:
        verdict, reason = found
    return {"verdict": verdict, "reason": reason, "from": "log", "by": "",
            "at": _iso(log["received_at"]), "logId": log["id"]}  # fmt: skip


async def session_results(session: TestSession) -> list[dict[str, Any]]:
    """Every watched event with its fields, each with its newest verdict per platform."""
    watched = (
        await SessionEvent.filter(session_id=session.id)
        .order_by("name")
        .values_list("event_id", "name")
    )
    plans = await load_event_plans(event_id for event_id, _ in watched)
    newest_ids = (
        await EventLog.filter(session_id=session.id)
        .group_by("event_id", "platform")
        .annotate(newest=Max("id"))
        .values_list("newest", flat=True)
    )
    newest: dict[tuple[int, str], dict[str, Any]] = {}
    counts: dict[int, int] = {}
    if newest_ids:
        for row in await EventLog.filter(id__in=list(newest_ids)).values(
            "id", "event_id", "platform", "verdicts", "received_at"
        ):
            newest[(row["event_id"], str(row["platform"]))] = row
    for event_id, count in (
        await EventLog.filter(session_id=session.id)
        .group_by("event_id")
        .annotate(n=Count("id"))
        .values_list("event_id", "n")
    ):
        counts[event_id] = count
    overrides: dict[int, list[_Override]] = {}
    for row in await VerdictOverride.filter(session_id=session.id).order_by("id").values(
        "id", "event_id", "field_id", "platform", "kind", "verdict", "reason", "created_by",
        "created_at", "after_log_id",
    ):  # fmt: skip
        row["platform"] = str(row["platform"]) if row["platform"] is not None else None
        row["verdict"] = str(row["verdict"])
        overrides.setdefault(row["event_id"], []).append(_Override(**row))
    rules = [rule for plan in plans.values() for rule in plan.rules]
    coverage = Coverage.restore(
        rules,
        await CoverageValue.filter(session_id=session.id).values_list(
            "field_id", "platform", "value"
        ),
    )
    events = []
    for event_id, name in watched:
        plan = plans[event_id]
        event_overrides = overrides.get(event_id, [])
        fields = []
        for field in plan.fields:
            results = {
                platform.value: _cell(
                    newest.get((event_id, platform.value)), event_overrides, field.id,
                    platform.value,
                )
                for platform in PLATFORMS
            }  # fmt: skip
            body: dict[str, Any] = {
                "id": field.id,
                "key": field.key,
                "values": list(field.values),
                "note": field.note,
                "results": results,
            }
            if coverage.tracks(field.id):
                body["coverage"] = {
                    platform.value: coverage.summary(field.id, platform) for platform in PLATFORMS
                }
            fields.append(body)
        events.append(
            {"id": event_id, "name": name, "logs": counts.get(event_id, 0), "fields": fields}
        )
    return events
