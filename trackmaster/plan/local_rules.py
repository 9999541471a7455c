"""A local rule overlay on a field: typed rules set in TrackMaster that no sync overwrites.

Fields synced from Jet carry no typed rules (Jet has none), so without an
overlay they stay UNCERTAIN forever. The overlay's keys sit on top of the
plan's rules (`null` removes a plan rule); the merged rules are checked as a
whole before anything is stored, so a bad overlay changes nothing.
"""

from __future__ import annotations

from typing import Any

from tortoise.transactions import in_transaction

from trackmaster.auth import audit
from trackmaster.checks.rules import KEYS, RuleError, merged, parse_rules
from trackmaster.errors import NotFound, field_error
from trackmaster.models import Field
from trackmaster.plan.changes import PlanChanges, tell


async def set_local_rules(
    field_id: int, raw: Any, by: str, changes: PlanChanges | None = None
) -> Field:
    """Replace a field's overlay with `raw` (a mapping; {} removes it); returns the field."""
    if not isinstance(raw, dict):
        raise field_error("rules", "must be a mapping of rule names to values ({} removes them)")
    unknown = [key for key in raw if key not in KEYS]
    if unknown:
        raise field_error(f"rules.{unknown[0]}", f"unknown rule (one of {', '.join(KEYS)})")
    field = await Field.get_or_none(id=field_id).prefetch_related("event__story")
    if field is None:
        raise NotFound(f"no field with id {field_id}")
    try:
        parse_rules(merged(field.rules, raw))
    except RuleError as exc:
        raise field_error(f"rules.{exc.key}", str(exc)) from None
    async with in_transaction():
        field.local_rules = dict(raw)
        await field.save(update_fields=["local_rules"])
        await audit.record(by or None, "field.local_rules", f"field:{field.id}", rules=raw)
    tell(changes, field.event.story.project_id)
    return field
