"""Write a project's current plan as a plan file (YAML, JSON or CSV) that imports back the same.

Values are written as the names testers see (enum ids already resolved),
each escaped so that its `|` `,` `/` stay literal on the way back in. Ids
from Jet are written too, so a file exported from a Jet project re-imports
onto the same rows. Rows removed from the plan are not exported.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import yaml

from trackmaster.models import EnumType, Event, Field, Project, Story
from trackmaster.plan.csvcells import neutralise
from trackmaster.plan.files import (
    CSV_COLUMNS,
    CSV_ID_COLUMNS,
    CSV_RULE_COLUMNS,
    FORMAT,
    FORMATS,
)
from trackmaster.plan.values import escape_value, expected_values

CONTENT_TYPES = {"yaml": "application/yaml", "json": "application/json", "csv": "text/csv"}


def _with_id(entry: dict[str, Any], jet_id: str | None) -> dict[str, Any]:
    return {"id": jet_id, **entry} if jet_id else entry


async def plan_document(project: Project) -> dict[str, Any]:
    """The project's plan in the file format's structure (docs/plans.md)."""
    enum_types = await EnumType.filter(project=project).order_by("name", "id")
    await EnumType.fetch_for_list(enum_types, "values")
    stories = await Story.filter(project=project, removed_at=None).order_by("id")
    events = await Event.filter(story__project_id=project.id, removed_at=None).order_by("id")
    fields = await Field.filter(
        event__story__project_id=project.id, removed_at=None, event__removed_at=None
    ).order_by("id")
    fields_by_event: dict[int, list[Field]] = {}
    for field in fields:
        fields_by_event.setdefault(field.event_id, []).append(field)
    events_by_story: dict[int, list[Event]] = {}
    for event in events:
        events_by_story.setdefault(event.story_id, []).append(event)
    return {
        "format": FORMAT,
        "enum_types": [
            _with_id(
                {
                    "name": enum_type.name,
                    "values": [
                        _with_id(
                            {
                                "name": value.name,
                                "description": value.description,
                                "deprecated": value.deprecated,
                            },
                            value.jet_id,
                        )
                        for value in sorted(enum_type.values, key=lambda v: v.id)
                    ],
                },
                enum_type.jet_id,
            )
            for enum_type in enum_types
        ],
        "stories": [
            _with_id(
                {
                    "name": story.name,
                    "description": story.description,
                    "events": [
                        _with_id(
                            {
                                "name": event.name,
                                "description": event.description,
                                "fields": [
                                    _field_entry(field)
                                    for field in fields_by_event.get(event.id, [])
                                ],
                            },
                            event.jet_id,
                        )
                        for event in events_by_story.get(story.id, [])
                    ],
                },
                story.jet_id,
            )
            for story in stories
        ],
    }


def _field_entry(field: Field) -> dict[str, Any]:
    entry: dict[str, Any] = {"key": field.key}
    if field.type_name:
        entry["type"] = field.type_name
    # The plan's own text when it was literal (an exact round trip); the names when the
    # plan gave enum ids, which mean nothing outside the source they came from.
    literal = expected_values(field.raw_values) == field.values
    entry["values"] = (
        list(field.raw_values) if literal else [escape_value(value) for value in field.values]
    )
    if field.note:
        entry["note"] = field.note
    if field.rules:
        entry["rules"] = dict(field.rules)
    return _with_id(entry, field.jet_id)


def dump(document: dict[str, Any], fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "json":
        return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if fmt == "yaml":
        return yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=100)
    return _csv(document)


def _csv(document: dict[str, Any]) -> str:
    """One row per field; an event without fields, or a story without events, gets one row."""
    rows: list[dict[str, str]] = []
    for story in document["stories"]:
        base = {
            "story": story["name"],
            "story_description": story["description"],
            "story_id": story.get("id", ""),
        }
        if not story["events"]:
            rows.append(base)
        for event in story["events"]:
            with_event = {
                **base,
                "event": event["name"],
                "event_description": event["description"],
                "event_id": event.get("id", ""),
            }
            if not event["fields"]:
                rows.append(with_event)
            for field in event["fields"]:
                rows.append(
                    {
                        **with_event,
                        "field": field["key"],
                        "type": field.get("type", ""),
                        "values": "|".join(field["values"]),
                        "note": field.get("note", ""),
                        "field_id": field.get("id", ""),
                        **_csv_rule_cells(field.get("rules") or {}),
                    }
                )
    with_ids = any(row.get(column) for row in rows for column in CSV_ID_COLUMNS)
    with_rules = any(row.get(column) for row in rows for column in CSV_RULE_COLUMNS)
    columns = list(CSV_COLUMNS) + (list(CSV_ID_COLUMNS) if with_ids else [])
    columns += list(CSV_RULE_COLUMNS) if with_rules else []
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(
        {column: neutralise(str(value)) for column, value in row.items()} for row in rows
    )
    return out.getvalue()


def _csv_rule_cells(rules: dict[str, Any]) -> dict[str, str]:
    cells = {}
    for key, value in rules.items():
        column = "value_type" if key == "type" else key
        cells[column] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return cells


async def export_plan(project: Project, fmt: str) -> str:
    return dump(await plan_document(project), fmt)
