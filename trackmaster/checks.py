"""Checking a caught event against the plan: find each field's value, give a verdict and its reason.

Pure and fast on purpose (no I/O): a live session checks every caught event
of every tester here, so the work per field is a few dict lookups and one
comparison. The rules are written out, with examples, in docs/checks.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from trackmaster.models import Platform, Verdict

LookupStyle = Literal["log", "sdk"]

# A found value is stored up to this many characters (a field value is not a
# document); reasons quote at most REASON_QUOTE_CHARS of it.
VALUE_CAP_CHARS = 1000
REASON_QUOTE_CHARS = 80
# A reason lists at most this many allowed values, then says how many more.
REASON_LIST_VALUES = 20

_MISSING = object()
# Where an SDK-shaped event keeps its data, in search order; None = the top level.
_SDK_ORDER = ("properties", "event_properties", None, "user_properties", "context")


@lru_cache(maxsize=4096)
def key_parts(key: str) -> tuple[str, ...]:
    """A field key as path parts: "a.b", "a$$b" and "a$$b.c" all name the same nested value."""
    return tuple(key.replace("$$", ".").split("."))


def _walk(obj: Any, parts: tuple[str, ...]) -> Any:
    """The value at `parts` below obj, or _MISSING; the common case is plain nested dicts."""
    cur = obj
    for part in parts:
        if type(cur) is dict:
            cur = cur.get(part, _MISSING)
            if cur is _MISSING:
                break
        elif type(cur) is list and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            cur = _MISSING
            break
    if cur is not _MISSING:
        return cur
    return _walk_joined(obj, parts, 0) if len(parts) > 1 else _MISSING


def _walk_joined(obj: Any, parts: tuple[str, ...], start: int) -> Any:
    """Slow path: some levels are flattened into one key ("a$$b", or a literal "a.b").

    Tries, at each level, the longest joined key first so that a fully
    flattened web log ("page_info$$id") is one lookup. The recursion depth is
    bounded by the number of parts of the key, never by the payload's depth.
    """
    if start == len(parts):
        return obj
    if type(obj) is list:
        part = parts[start]
        if part.isdigit() and int(part) < len(obj):
            return _walk_joined(obj[int(part)], parts, start + 1)
        return _MISSING
    if type(obj) is not dict:
        return _MISSING
    for end in range(len(parts), start, -1):
        chunk = parts[start:end]
        names = (chunk[0],) if len(chunk) == 1 else ("$$".join(chunk), ".".join(chunk))
        for name in names:
            child = obj.get(name, _MISSING)
            if child is not _MISSING:
                found = _walk_joined(child, parts, end)
                if found is not _MISSING:
                    return found
    return _MISSING


def find_value(payload: dict, key: str, style: LookupStyle) -> tuple[bool, Any]:
    """(found, value) of a field key in a caught event's payload.

    "log" (a Jet/raw app log): the key is a path from the top of the payload.
    "sdk" (Segment, Amplitude, the generic collect shape): the path is looked
    up in "properties", then "event_properties", then the top level, then
    "user_properties", then "context"; the first place that has it wins.
    A found JSON null is found (value None); absent is (False, None).
    """
    if type(payload) is not dict or not key:
        return False, None
    parts = key_parts(key)
    if style == "sdk":
        for section in _SDK_ORDER:
            inner = payload if section is None else payload.get(section)
            if type(inner) is dict:
                value = _walk(inner, parts)
                if value is not _MISSING:
                    return True, value
        return False, None
    value = _walk(payload, parts)
    return (False, None) if value is _MISSING else (True, value)


def value_text(value: Any) -> str:
    """How a found value is compared with the plan and shown.

    Strings as they are; true/false; integral numbers without ".0" (1.0 -> "1",
    as plans write them); other numbers as Python prints them (1.5, 1e+100,
    inf, nan); null -> "null"; objects and arrays as compact JSON (keys in the
    order received, non-ASCII kept).
    """
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if value is None:
        return "null"
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except (ValueError, TypeError, RecursionError):
        # Not JSON after all (NaN inside, odd keys, absurd depth): still show something.
        return str(value)[:VALUE_CAP_CHARS]


def quote(text: str, limit: int = REASON_QUOTE_CHARS) -> str:
    """A value as a reason quotes it: in single quotes, cut to `limit` characters with "…"."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"'{text}'"


@dataclass(frozen=True, slots=True)
class FieldRule:
    """What the plan expects of one field of an event."""

    field_id: int
    key: str
    # Field.values (enum names already); () = no fixed value. Duplicates are dropped, order kept.
    allowed: tuple[str, ...]
    allowed_set: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        allowed = tuple(dict.fromkeys(str(v) for v in self.allowed))
        object.__setattr__(self, "allowed", allowed)
        object.__setattr__(self, "allowed_set", frozenset(allowed))


@dataclass(frozen=True, slots=True)
class FieldCheck:
    field_id: int
    found: bool
    value: str | None  # value_text of the found value, cut to VALUE_CAP_CHARS; None when not found
    verdict: Verdict
    reason: str  # in words: expected, got, what is missing


def _allowed_list(allowed: tuple[str, ...]) -> str:
    shown = ", ".join(quote(v, 40)[1:-1] for v in allowed[:REASON_LIST_VALUES])
    more = len(allowed) - REASON_LIST_VALUES
    return f"{shown} (+{more} more)" if more > 0 else shown


def check_field(rule: FieldRule, found: bool, value: Any) -> FieldCheck:
    """The verdict on one field's value, with its reason (the table in docs/checks.md).

    A fixed list of values always decides, even for an id/content field; the
    key's name only matters when the plan gives no value (then any non-empty
    value is UNCERTAIN: dynamic, a person must look).
    """
    fid = rule.field_id
    if not found:
        return FieldCheck(fid, False, None, Verdict.FAIL, "not found")
    text = value_text(value)
    stored = text if len(text) <= VALUE_CAP_CHARS else text[:VALUE_CAP_CHARS]
    allowed = rule.allowed
    if len(allowed) >= 2:
        if text in rule.allowed_set:
            reason = f"{quote(text)} is one of the {len(allowed)} allowed values"
            return FieldCheck(fid, True, stored, Verdict.SUCCESS, reason)
        reason = f"got {_got(value, text)}; allowed: {_allowed_list(allowed)}"
        return FieldCheck(fid, True, stored, Verdict.FAIL, reason)
    if len(allowed) == 1:
        if text == allowed[0]:
            return FieldCheck(fid, True, stored, Verdict.SUCCESS, f"equals {quote(text)}")
        reason = f"expected {quote(allowed[0])}, got {_got(value, text)}"
        return FieldCheck(fid, True, stored, Verdict.FAIL, reason)
    if value is None or text == "":
        what = "null" if value is None else "an empty string"
        reason = f"got {what}; expected a value (the plan gives no fixed value)"
        return FieldCheck(fid, True, stored, Verdict.FAIL, reason)
    reason = f"dynamic value {quote(text)}; a person must look"
    return FieldCheck(fid, True, stored, Verdict.UNCERTAIN, reason)


def _got(value: Any, text: str) -> str:
    # A number or boolean where the plan has a string reads differently from the string itself.
    if value is None:
        return "null"
    if type(value) is str:
        return quote(text)
    kind = {bool: "boolean", int: "number", float: "number", dict: "object", list: "array"}
    return f"{quote(text)} ({kind.get(type(value), type(value).__name__)})"


def check_event(rules: Sequence[FieldRule], payload: dict, style: LookupStyle) -> list[FieldCheck]:
    """Every rule checked against one caught event's payload, in the rules' order."""
    return [check_field(rule, *find_value(payload, rule.key, style)) for rule in rules]


class Coverage:
    """Which allowed values of each enumerated field a session has seen, per platform.

    Only fields with at least two allowed values are tracked; a value outside
    the allowed set is not coverage (its check FAILs). Kept in memory and
    updated incrementally; `restore` rebuilds it from stored CoverageValue rows.
    """

    __slots__ = ("_allowed", "_seen")

    def __init__(self, rules: Sequence[FieldRule]) -> None:
        self._allowed: dict[int, tuple[tuple[str, ...], frozenset[str]]] = {
            r.field_id: (r.allowed, r.allowed_set) for r in rules if len(r.allowed) >= 2
        }
        self._seen: dict[tuple[int, Platform], set[str]] = {}

    def tracks(self, field_id: int) -> bool:
        return field_id in self._allowed

    def add(self, field_id: int, platform: Platform, value: str) -> bool:
        """True when `value` is allowed and newly seen for this field and platform."""
        plan = self._allowed.get(field_id)
        if plan is None or value not in plan[1]:
            return False
        seen = self._seen.setdefault((field_id, Platform(platform)), set())
        if value in seen:
            return False
        seen.add(value)
        return True

    def observe(self, platform: Platform, checks: Iterable[FieldCheck]) -> list[tuple[int, str]]:
        """Add every found value of one checked event; returns the (field_id, value) newly seen."""
        return [
            (c.field_id, c.value)
            for c in checks
            if c.value is not None and self.add(c.field_id, platform, c.value)
        ]

    def seen(self, field_id: int, platform: Platform) -> list[str]:
        plan = self._allowed.get(field_id)
        if plan is None:
            return []
        seen = self._seen.get((field_id, Platform(platform)), set())
        return [v for v in plan[0] if v in seen]

    def missing(self, field_id: int, platform: Platform) -> list[str]:
        plan = self._allowed.get(field_id)
        if plan is None:
            return []
        seen = self._seen.get((field_id, Platform(platform)), set())
        return [v for v in plan[0] if v not in seen]

    def summary(self, field_id: int, platform: Platform) -> dict:
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
