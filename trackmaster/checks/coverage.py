"""Coverage of enumerated fields: which allowed values a session has seen, per platform."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from trackmaster.checks.verdicts import FieldCheck, FieldRule
from trackmaster.kinds import Platform


class Coverage:
    """Which allowed values of each enumerated field a session has seen, per platform.

    Only fields with at least two allowed values are tracked; a value outside
    the allowed set is not coverage (its check FAILs). Kept in memory and
    updated incrementally; `restore` rebuilds it from stored CoverageValue rows.
    """

    __slots__ = ("_allowed", "_allowed_sets", "_seen")

    def __init__(self, rules: Sequence[FieldRule]) -> None:
        self._allowed: dict[int, tuple[tuple[str, ...], frozenset[str]]] = {
            r.field_id: (r.allowed, r.allowed_set) for r in rules if len(r.allowed) >= 2
        }
        # field_id -> its allowed values as a set (what `observe` asks of every field).
        self._allowed_sets = {field_id: plan[1] for field_id, plan in self._allowed.items()}
        self._seen: dict[tuple[int, Platform], set[str]] = {}

    def tracks(self, field_id: int) -> bool:
        return field_id in self._allowed

    def add(self, field_id: int, platform: Platform, value: str) -> bool:
        """True when `value` is allowed and newly seen for this field and platform."""
        plan = self._allowed.get(field_id)
        if plan is None or value not in plan[1]:
            return False
        # Platform is a StrEnum: a stored "iOS" and Platform.IOS are the same key.
        seen = self._seen.setdefault((field_id, platform), set())
        if value in seen:
            return False
        seen.add(value)
        return True

    def observe(self, platform: Platform, checks: Iterable[FieldCheck]) -> list[tuple[int, str]]:
        """Add every found value of one checked event; returns the (field_id, value) newly seen.

        `add` inlined: this runs for every field of every caught event.
        """
        allowed_sets = self._allowed_sets
        seen_by_field = self._seen
        new: list[tuple[int, str]] = []
        for c in checks:
            allowed = allowed_sets.get(c.field_id)
            # A value outside the allowed set, or not found (None), is no coverage.
            if allowed is None or not c.found or c.value not in allowed:
                continue
            value = c.value
            key = (c.field_id, platform)
            seen = seen_by_field.get(key)
            if seen is None:
                seen = seen_by_field[key] = set()
            elif value in seen:
                continue
            seen.add(value)
            new.append((c.field_id, value))
        return new

    def seen(self, field_id: int, platform: Platform) -> list[str]:
        plan = self._allowed.get(field_id)
        if plan is None:
            return []
        seen = self._seen.get((field_id, platform), set())
        return [v for v in plan[0] if v in seen]

    def missing(self, field_id: int, platform: Platform) -> list[str]:
        plan = self._allowed.get(field_id)
        if plan is None:
            return []
        seen = self._seen.get((field_id, platform), set())
        return [v for v in plan[0] if v not in seen]

    def summary(self, field_id: int, platform: Platform) -> dict[str, Any]:
        """{"seen", "missing", "covered", "total", "complete"}; total 0 for an untracked field."""
        seen = self.seen(field_id, platform)
        missing = self.missing(field_id, platform)
        total = len(seen) + len(missing)
        return {
            "seen": seen,
            "missing": missing,
            "covered": len(seen),
            "total": total,
            "complete": total > 0 and not missing,
        }

    @classmethod
    def restore(
        cls, rules: Sequence[FieldRule], rows: Iterable[tuple[int, Platform, str]]
    ) -> Coverage:
        """Rebuild from stored (field_id, platform, value) rows; skips values no longer allowed."""
        coverage = cls(rules)
        for field_id, platform, value in rows:
            coverage.add(field_id, platform, value)
        return coverage
