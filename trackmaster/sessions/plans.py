"""The plan of a session's watched events, as the checks need it: rules per event.

Loaded with two queries for all the events of a project's live sessions (the
events, then their fields), never per caught event.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from trackmaster.checks import FieldRule
from trackmaster.models import Field


@dataclass(frozen=True, slots=True)
class FieldPlan:
    id: int
    key: str
    values: tuple[str, ...]
    note: str


@dataclass(frozen=True, slots=True)
class EventPlan:
    event_id: int
    fields: tuple[FieldPlan, ...]
    rules: tuple[FieldRule, ...]

    @property
    def field_ids(self) -> tuple[int, ...]:
        return tuple(field.id for field in self.fields)


async def load_event_plans(event_ids: Iterable[int]) -> dict[int, EventPlan]:
    """The current fields of each event (fields removed from the plan are left out)."""
    wanted = sorted(set(event_ids))
    by_event: dict[int, list[FieldPlan]] = {event_id: [] for event_id in wanted}
    if wanted:
        rows = (
            await Field.filter(event_id__in=wanted, removed_at__isnull=True)
            .order_by("id")
            .values_list("id", "event_id", "key", "values", "note")
        )
        for field_id, event_id, key, values, note in rows:
            by_event[event_id].append(FieldPlan(field_id, key, tuple(values or ()), note))
    return {
        event_id: EventPlan(
            event_id,
            tuple(fields),
            tuple(FieldRule(f.id, f.key, f.values) for f in fields),
        )
        for event_id, fields in by_event.items()
    }
