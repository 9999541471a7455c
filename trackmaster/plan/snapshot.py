"""A tracking plan as one source saw it, before it touches the database.

Jet answers and plan files are both parsed into these; `apply` compares a
snapshot with what a project holds. `ext_id` is the source's own id (Jet's
id, or the optional `id` of a file entry); rows are matched by it first and
by name (story, event) or key (field) second.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class PlanEnumValue:
    name: str
    ext_id: str | None = None
    description: str = ""
    deprecated: bool = False


@dataclass
class PlanEnumType:
    name: str
    values: list[PlanEnumValue] = field(default_factory=list)
    ext_id: str | None = None
    status: str = ""


@dataclass
class PlanField:
    key: str
    # The enum type's name or ext id ("" when the field is not enumerated), and its shown name.
    type_ref: str = ""
    type_name: str = ""
    raw_values: list[str] = field(default_factory=list)
    note: str = ""
    ext_id: str | None = None
    # Typed rules (trackmaster/checks/rules.py) as the source wrote them, already checked;
    # None: the source cannot describe rules (Jet), so a sync leaves the stored ones alone.
    rules: dict[str, Any] | None = None


@dataclass
class PlanEvent:
    name: str
    description: str = ""
    fields: list[PlanField] = field(default_factory=list)
    ext_id: str | None = None


@dataclass
class PlanStory:
    name: str
    description: str = ""
    events: list[PlanEvent] = field(default_factory=list)
    ext_id: str | None = None


@dataclass
class PlanSnapshot:
    enum_types: list[PlanEnumType] = field(default_factory=list)
    stories: list[PlanStory] = field(default_factory=list)
    # True: the snapshot is the whole plan, so stories missing from it left the plan.
    # False (Jet's "N most recent stories"): stories missing from it are left alone.
    complete: bool = True
    # True when the source cannot describe enum types (CSV): the project keeps its own.
    keeps_enum_types: bool = False

    def count(self) -> dict[str, int]:
        events = [event for story in self.stories for event in story.events]
        return {
            "enum_type": len(self.enum_types),
            "story": len(self.stories),
            "event": len(events),
            "field": sum(len(event.fields) for event in events),
        }


def _repeats(items: list[Any], natural: str, where: str, kind: str) -> list[tuple[Any, str]]:
    """Items a sync could not tell apart: the same source id, or no id and the same name."""
    problems: list[tuple[Any, str]] = []
    seen_ids: set[str] = set()
    seen_names: set[str] = set()
    for item in items:
        name = getattr(item, natural)
        if item.ext_id:
            if item.ext_id in seen_ids:
                problems.append((item, f"{where}{kind} id {item.ext_id!r} appears twice"))
            seen_ids.add(item.ext_id)
        elif name:  # a missing name is reported as missing, not as a repeat
            if name in seen_names:
                problems.append((item, f"{where}{kind} {name!r} appears twice"))
            seen_names.add(name)
    return problems


def snapshot_problems(snapshot: PlanSnapshot) -> list[str]:
    """What makes a snapshot ambiguous to apply; empty when it can be applied."""
    return [problem for _, problem in repeated_items(snapshot)]


def repeated_items(snapshot: PlanSnapshot) -> list[tuple[Any, str]]:
    """Each item that repeats an earlier one (its second and later copies), with why."""
    problems = _repeats(snapshot.enum_types, "name", "", "enum type")
    for enum_type in snapshot.enum_types:
        problems += _repeats(enum_type.values, "name", f"enum type {enum_type.name!r}: ", "value")
    problems += _repeats(snapshot.stories, "name", "", "story")
    for story in snapshot.stories:
        problems += _repeats(story.events, "name", f"story {story.name!r}: ", "event")
        for event in story.events:
            where = f"story {story.name!r}, event {event.name!r}: "
            problems += _repeats(event.fields, "key", where, "field")
    return problems
