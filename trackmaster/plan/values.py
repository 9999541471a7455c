"""Expected values of a field: split alternatives, then resolve enum ids to names.

The rule (docs/plans.md):
- every value the plan gives is split on `|` and `,`;
- it is split on `/` too, unless it contains `://` (a URL stays one value);
- a backslash keeps the next character literal: `a\\/b` is the one value `a/b`;
- parts are stripped of surrounding spaces; empty parts and repeats are dropped;
- a part that is the id of a value of the field's enum type becomes that value's name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

SEPARATORS = "|,"
SLASH = "/"


def split_alternatives(raw: str) -> list[str]:
    """One plan value as its list of alternatives (see the module's rule)."""
    separators = SEPARATORS if "://" in raw else SEPARATORS + SLASH
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in raw:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in separators:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if escaped:  # a trailing backslash is kept as it is
        current.append("\\")
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


def expected_values(
    raw_values: Iterable[str], enum_names: Mapping[str, str] | None = None
) -> list[str]:
    """The allowed values of a field: alternatives split, enum ids replaced by names, no repeats."""
    names = enum_names or {}
    seen: dict[str, None] = {}
    for raw in raw_values:
        for part in split_alternatives(str(raw)):
            seen.setdefault(names.get(part, part), None)
    return list(seen)


def escape_value(value: str) -> str:
    """Write one allowed value so that `split_alternatives` reads it back as that one value."""
    specials = "\\" + SEPARATORS + ("" if "://" in value else SLASH)
    return "".join(f"\\{char}" if char in specials else char for char in value)
