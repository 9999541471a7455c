"""Draft a plan entry from an event the plan lacks: its observed properties as fields.

A tester sees an event their app sends that the plan does not know (the session page's
unmatched panel). For a plan kept in files, TrackMaster proposes the entry: one field per
property of the payload (nested objects flattened to dotted keys, SDK bookkeeping such
as `$os` left out), each with the JSON kind of its value and the value seen, which
becomes the expected value unless the field looks dynamic (an id or content, or a
long text). Saving applies the whole plan plus the entry as a normal plan import: a
recorded sync run with its diff.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from trackmaster.models import Project, SyncRun
from trackmaster.plan.changes import PlanChanges
from trackmaster.plan.export import plan_document
from trackmaster.plan.files import read_plan
from trackmaster.plan.sync import import_snapshot
from trackmaster.plan.values import escape_value

MAX_FIELDS = 100
MAX_FIXED_VALUE_CHARS = 40
# Keys that name the event or describe the device, not properties of the event.
_BOOKKEEPING = ("event", "event_info.event", "userId", "user_id", "anonymousId", "messageId")


@dataclass(frozen=True)
class DraftField:
    key: str
    kind: str  # string, number, boolean, null, list
    seen: str  # the value seen, as text
    fixed: bool  # proposed as the one expected value (else: any value)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "list"
    return "string"


def _flatten(payload: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if not isinstance(payload, dict):
        return []
    found: list[tuple[str, Any]] = []
    for raw_key, value in payload.items():
        key = str(raw_key).replace("$$", ".")  # web logs flatten nested keys with $$
        if not prefix and key.startswith("$"):
            continue  # SDK and device bookkeeping ($os, $app_version, ...)
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            found.extend(_flatten(value, f"{path}."))
        else:
            found.append((path, value))
    return found


def _dynamic(key: str, text: str) -> bool:
    lowered = key.lower()
    return "id" in lowered.split(".")[-1] or "content" in lowered or len(text) > 40


def propose_fields(payload: Any) -> list[DraftField]:
    """The fields a plan entry for this payload would have, in payload order."""
    fields = []
    for key, value in _flatten(payload):
        if key in _BOOKKEEPING:
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        kind = _kind(value)
        fixed = kind in ("string", "number", "boolean") and not _dynamic(key, text)
        fields.append(DraftField(key, kind, text, fixed))
    return fields[:MAX_FIELDS]


async def save_draft(
    project: Project,
    story_name: str,
    event_name: str,
    fields: list[DraftField],
    *,
    description: str = "",
    started_by: str = "",
    changes: PlanChanges | None = None,
) -> SyncRun:
    """Add the event (to `story_name`, made if new) to the plan as a recorded import."""
    document = await plan_document(project)
    entry: dict[str, Any] = {
        "name": event_name,
        "description": description,
        "fields": [
            {
                "key": field.key,
                "values": [escape_value(field.seen)] if field.fixed else [],
                "note": f"drafted from a caught event ({field.kind})",
            }
            for field in fields
        ],
    }
    story: dict[str, Any] | None = next(
        (s for s in document["stories"] if s["name"] == story_name), None
    )
    if story is None:
        story = {"name": story_name, "description": "", "events": []}
        document["stories"].append(story)
    story["events"].append(entry)
    # Through the file reader, so a draft is checked exactly as an uploaded file would be.
    snapshot = read_plan(json.dumps(document, ensure_ascii=False), "draft.json")
    return await import_snapshot(
        project, snapshot, trigger="draft", started_by=started_by, changes=changes
    )
