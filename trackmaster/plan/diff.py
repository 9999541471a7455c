"""What a sync or import changed: counts per kind, and the first few hundred changes by name."""

from __future__ import annotations

from typing import Any

KINDS = ("project", "enum_type", "enum_value", "story", "event", "field")
PLURALS = {
    "project": "projects", "enum_type": "enum types", "enum_value": "enum values",
    "story": "stories", "event": "events", "field": "fields",
}  # fmt: skip
ACTIONS = ("created", "updated", "removed")
# A first sync of a big plan creates 100,000 rows; the run keeps counts of all, names of some.
MAX_ITEMS = 300


class Diff:
    def __init__(self) -> None:
        self.counts: dict[str, dict[str, int]] = {action: {} for action in ACTIONS}
        self.items: list[dict[str, Any]] = []
        self.items_left_off = 0

    def add(
        self,
        action: str,
        kind: str,
        name: str,
        *,
        where: str = "",
        changes: list[str] | None = None,
        restored: bool = False,
    ) -> None:
        """Count one change; `restored` is a row that came back into the plan (counted created)."""
        counts = self.counts[action]
        counts[kind] = counts.get(kind, 0) + 1
        if len(self.items) >= MAX_ITEMS:
            self.items_left_off += 1
            return
        item: dict[str, Any] = {"action": "restored" if restored else action, "kind": kind}
        item["name"] = name
        if where:
            item["where"] = where
        if changes:
            item["changes"] = changes
        self.items.append(item)

    @property
    def changed(self) -> bool:
        return any(self.counts[action] for action in ACTIONS)

    def summary(self) -> str:
        return summarize(self.as_dict())

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {action: dict(self.counts[action]) for action in ACTIONS}
        body["items"] = list(self.items)
        if self.items_left_off:
            body["items_left_off"] = self.items_left_off
        return body


def summarize(diff: dict[str, Any]) -> str:
    """ "2 stories created, 1 field removed" (or "no change") from a stored diff."""
    parts = []
    for action in ACTIONS:
        for kind in KINDS:
            count = (diff.get(action) or {}).get(kind, 0)
            if count:
                label = kind.replace("_", " ") if count == 1 else PLURALS[kind]
                parts.append(f"{count} {label} {action}")
    return ", ".join(parts) if parts else "no change"
