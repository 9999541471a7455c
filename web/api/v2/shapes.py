"""The original's JSON objects, key for key, built from the core's rows and read models.

Key names and casing are what the Go service really wrote, not what its
swagger.yaml claims: structs without a json tag were written under the Go
field name, so a story's events are `Events`, an event's fields `Fields` and
results `Results`, a log's field logs `FieldLogs`, and `RecordIDs`/`Records`
are always null. A field's expected values are one string joined with `|`.
Keys this layer adds (`sessionID`, `verdict`, `reason`, `reasons`) are extra
keys an old client never reads.
"""

from __future__ import annotations

import json
from typing import Any

from trackmaster.models import (
    Account,
    EnumType,
    Event,
    Field,
    Project,
    Schedule,
    Story,
    TestSession,
)
from trackmaster.sessions.results import CaughtLog
from web.api.v2._base import go_time, plan_id, record_id

SCHEDULE_NAME_SUFFIX = "_定期更新需求"  # the original named a schedule "<project>_定期更新需求"
_NS_PER_S = 1_000_000_000  # a Go time.Duration is written as nanoseconds
_PLATFORM_KEYS = {"iOS": "ios", "Android": "android", "Other": "other"}
# Worst first: the verdict an event shows on a platform is the worst of its fields'.
_SEVERITY = ("FAIL", "UNCERTAIN", "UNTESTED", "SUCCESS")


def project_json(project: Project) -> dict[str, Any]:
    return {
        "id": plan_id(project.jet_id, project.id),
        "name": project.name,
        "createdAt": go_time(project.created_at),
        "updatedAt": go_time(project.updated_at),
    }


def account_json(account: Account, project: Project) -> dict[str, Any]:
    return {
        "projectID": plan_id(project.jet_id, project.id),
        "id": account.user_id,
        "description": account.description,
        "createdAt": go_time(account.created_at),
        "updatedAt": go_time(account.created_at),  # accounts are never edited
    }


def story_json(story: Story, project: Project, events: list[Any] | None) -> dict[str, Any]:
    return {
        "projectID": plan_id(project.jet_id, project.id),
        "id": plan_id(story.jet_id, story.id),
        "name": story.name,
        "description": story.description,
        "createdAt": go_time(story.created_at),
        "updatedAt": go_time(story.updated_at),
        "Events": events,
    }


def field_json(
    field: Field, event: Event, story: Story, type_ids: dict[int, str], results: list | None
) -> dict[str, Any]:
    enum_type_id = field.enum_type_id
    return {
        "eventID": plan_id(event.jet_id, event.id),
        "id": plan_id(field.jet_id, field.id),
        "type": field.type_name,
        "typeID": type_ids.get(enum_type_id, "") if enum_type_id else "",
        "key": field.key,
        "value": "|".join(field.values),
        "description": field.note,
        # Events and fields carry no times of their own here: their story's.
        "createdAt": go_time(story.created_at),
        "updatedAt": go_time(story.updated_at),
        "Results": results,
    }


def event_json(
    event: Event, story: Story, fields: list[Any] | None, results: list | None
) -> dict[str, Any]:
    return {
        "storyID": plan_id(story.jet_id, story.id),
        "id": plan_id(event.jet_id, event.id),
        "name": event.name,
        "description": event.description,
        "onTrail": False,
        "createdAt": go_time(story.created_at),
        "updatedAt": go_time(story.updated_at),
        "Fields": fields,
        "Results": results,
        "RecordIDs": None,
        "Records": None,
    }


async def enum_type_ids(fields: list[Field]) -> dict[int, str]:
    """{enum type row id: its original id} for the fields' `typeID`."""
    wanted = {f.enum_type_id for f in fields if f.enum_type_id}
    if not wanted:
        return {}
    rows = await EnumType.filter(id__in=sorted(wanted)).values_list("id", "jet_id")
    return {row_id: plan_id(jet_id, row_id) for row_id, jet_id in rows}


async def events_json(event_ids: list[int], *, with_fields: bool) -> list[dict[str, Any]]:
    """Events as the original listed a record's, with their fields (no results) or without."""
    events = await Event.filter(id__in=event_ids).select_related("story").order_by("id")
    if not with_fields:
        return [event_json(e, e.story, None, None) for e in events]
    fields = await Field.filter(event_id__in=event_ids, removed_at=None).order_by("id")
    type_ids = await enum_type_ids(fields)
    by_event: dict[int, list[Field]] = {}
    for field in fields:
        by_event.setdefault(field.event_id, []).append(field)
    return [
        event_json(
            e,
            e.story,
            [field_json(f, e, e.story, type_ids, None) for f in by_event.get(e.id, [])],
            None,
        )
        for e in events
    ]


def record_json(
    session: TestSession,
    project: Project,
    events: list[Any] | None,
    logs: list[Any] | None,
) -> dict[str, Any]:
    return {
        "id": record_id(session.id),
        "sessionID": session.id,
        "name": session.name,
        "status": str(session.status),
        "filter": session.jet_filter_id or "",
        "Events": events,
        "eventLogs": logs,
        "projectID": plan_id(project.jet_id, project.id),
        "createdAt": go_time(session.started_at),
        "updatedAt": go_time(session.stopped_at or session.started_at),
    }


def _value_text(value: Any) -> str:
    """A found value as the original stored it (text), or its `not found`."""
    if value is None or value == "":
        return "not found"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def event_log_json(
    log: CaughtLog, record: str, event_ids: dict[int, str], field_ids: dict[int, str]
) -> dict[str, Any]:
    """A caught log as the original's EventLog with its FieldLogs."""
    log_id = log.message_id if log.source == "jet" and log.message_id else str(log.id)
    at = log.received_at.isoformat() if log.received_at is not None else None
    field_logs = [
        {
            "eventLogID": log_id,
            "fieldID": field_ids.get(field.field_id, str(field.field_id)),
            "id": f"{log.id:016x}{field.field_id:016x}",
            "key": field.key,
            "value": _value_text(field.value),
            "used": False,
            "tested": False,
            "platform": log.platform,
            "createdAt": at,
            "updatedAt": at,
            "verdict": field.verdict,
            "reason": field.reason,
        }
        for field in log.fields
    ]
    return {
        "recordID": record,
        "eventID": event_ids.get(log.event_id, str(log.event_id)),
        "id": log_id,
        "name": log.name,
        "userId": log.user_id,
        "used": log.cleared,
        "tested": True,  # judged when it was stored
        "platform": log.platform,
        "raw": log.payload,
        "content": "{}",  # the original's podcast content lookups are not part of TrackMaster
        "createdAt": at,
        "updatedAt": at,
        "FieldLogs": field_logs,
    }


async def plan_ids_of_logs(logs: list[CaughtLog]) -> tuple[dict[int, str], dict[int, str]]:
    """The original ids of the events and fields these logs name."""
    event_rows = await Event.filter(id__in={log.event_id for log in logs}).values_list(
        "id", "jet_id"
    )
    field_rows = await Field.filter(
        id__in={field.field_id for log in logs for field in log.fields}
    ).values_list("id", "jet_id")
    return (
        {row_id: plan_id(jet_id, row_id) for row_id, jet_id in event_rows},
        {row_id: plan_id(jet_id, row_id) for row_id, jet_id in field_rows},
    )


def result_id(session_id: int, row_id: int) -> str:
    return f"{session_id:016x}{row_id:016x}"


def field_results(
    session: TestSession, field_original_id: str, field_id: int, cells: dict[str, Any]
) -> list[dict[str, Any]]:
    """The field's current verdicts as the original's newest FieldResult; [] if never judged."""
    if all(cell["from"] == "none" for cell in cells.values()):
        return []
    at = max((cell["at"] for cell in cells.values() if cell["at"]), default=None)
    row: dict[str, Any] = {
        "id": result_id(session.id, field_id),
        "recordID": record_id(session.id),
        "fieldID": field_original_id,
    }
    row.update({key: cells[platform]["verdict"] for platform, key in _PLATFORM_KEYS.items()})
    row["createdAt"] = row["updatedAt"] = go_time(at)
    row["reasons"] = {key: cells[platform]["reason"] for platform, key in _PLATFORM_KEYS.items()}
    return [row]


def event_results(
    session: TestSession, event_original_id: str, event_id: int, fields: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The event's verdict per platform (the worst of its fields') as one EventResult."""
    rows = [row for field in fields for row in (field["Results"] or [])]
    if not rows:
        return []
    row: dict[str, Any] = {
        "id": result_id(session.id, event_id),
        "recordID": record_id(session.id),
        "eventID": event_original_id,
    }
    for key in _PLATFORM_KEYS.values():
        seen = {r[key] for r in rows} | ({"UNTESTED"} if len(rows) < len(fields) else set())
        row[key] = next(verdict for verdict in _SEVERITY if verdict in seen)
    row["createdAt"] = row["updatedAt"] = max(r["updatedAt"] for r in rows)
    return [row]


def schedule_json(project: Project, schedule: Schedule) -> dict[str, Any]:
    return {
        "projectID": plan_id(project.jet_id, project.id),
        "interval": schedule.interval_s * _NS_PER_S,
        "name": project.name + SCHEDULE_NAME_SUFFIX,
        "status": schedule.enabled,
        "lastExecuted": go_time(schedule.last_run_at),
    }
