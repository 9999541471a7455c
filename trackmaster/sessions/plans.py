"""The plan of a session's watched events, as the checks need it: rules per event.

Loaded with two queries for all the events of a project's live sessions (the
events, then their fields), never per caught event.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.expressions import Q

from trackmaster.checks import FieldRule
from trackmaster.checks.judge import EventJudge
from trackmaster.checks.rules import NO_RULES, RuleError, TypedRules, merged, parse_rules
from trackmaster.checks.unplanned import PlannedKeys
from trackmaster.models import Field

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EventPlan:
    event_id: int
    fields: tuple[FieldRule, ...]  # what the checks judge, and what the matrix shows
    # The planned keys ready for unplanned-property detection, built once per plan load.
    planned: PlannedKeys
    # Both, in one walk of each caught event (trackmaster/checks/judge.py).
    judge: EventJudge = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "judge", EventJudge(self.fields, self.planned))

    @property
    def field_ids(self) -> tuple[int, ...]:
        return tuple(field.field_id for field in self.fields)


async def _fields_by_event(
    event_ids: list[int], *, removed: bool, only: Q | None = None
) -> dict[int, list[FieldRule]]:
    """The fields of these events in the plan (or, `removed`, those that left it; `only`
    those that match it too), by id."""
    by_event: dict[int, list[FieldRule]] = {event_id: [] for event_id in event_ids}
    if event_ids:
        query = Field.filter(event_id__in=event_ids, removed_at__isnull=not removed)
        if only is not None:
            query = query.filter(only)
        rows = await query.order_by("id").values_list(
            "id", "event_id", "key", "values", "note", "rules", "local_rules"
        )
        for field_id, event_id, key, values, note, rules, local in rows:
            typed = field_rules(field_id, rules, local)
            by_event[event_id].append(FieldRule(field_id, key, tuple(values or ()), typed, note))
    return by_event


async def load_event_plans(event_ids: Iterable[int]) -> dict[int, EventPlan]:
    """The current fields of each event (fields removed from the plan are left out)."""
    by_event = await _fields_by_event(sorted(set(event_ids)), removed=False)
    return {
        event_id: EventPlan(event_id, tuple(fields), PlannedKeys(tuple(f.key for f in fields)))
        for event_id, fields in by_event.items()
    }


async def load_removed_fields(
    event_ids: Iterable[int], *, used_since: datetime, judged: Collection[int] = ()
) -> dict[int, tuple[FieldRule, ...]]:
    """The fields of these events that left the plan while a session that began at
    `used_since` could use them (or that it judged, `judged` field ids): that session keeps
    them (marked removed, with their verdicts); nothing judges them any more. A field gone
    before the session began was never one of its columns (docs/plans.md)."""
    used = Q(removed_at__gt=used_since)
    if judged:
        used |= Q(id__in=sorted(set(judged)))
    by_event = await _fields_by_event(sorted(set(event_ids)), removed=True, only=used)
    return {event_id: tuple(fields) for event_id, fields in by_event.items() if fields}


def field_rules(
    field_id: int, rules: dict[str, Any] | None, local: dict[str, Any] | None
) -> TypedRules:
    """The rules in force for a field: the plan's with the local overlay on top.

    Rules are checked when they are written, so a failure here means a row
    changed behind TrackMaster's back: the field is then judged without rules
    (values alone, UNCERTAIN at best), never passed.
    """
    try:
        return parse_rules(merged(rules, local))
    except RuleError as exc:
        log.warning(
            "field %s: its stored rules cannot be used (%s): judged without them", field_id, exc
        )
        return NO_RULES
