"""Typed rules of a field: what its value must be when the plan gives no fixed value.

A field may declare (docs/checks.md, "Typed rules"):

    type        string | number | integer | boolean | object | array
    required    true (default: a missing field fails) or false (missing is fine)
    pattern     a regular expression the whole string must match (RE2 syntax)
    min, max    bounds of a number (inclusive)
    min_length, max_length   bounds of a string's length, in Unicode code points

Patterns run on RE2 (google-re2), whose matching time is linear in the text:
no pattern can make a check take long, so none needs a time budget. A pattern
RE2 cannot compile (a back-reference, a look-around, bad syntax) or longer
than MAX_PATTERN_CHARS is refused when the plan is read, with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import re2

TYPES = ("string", "number", "integer", "boolean", "object", "array")
KEYS = ("type", "required", "pattern", "min", "max", "min_length", "max_length")
MAX_PATTERN_CHARS = 500
# RE2's memory for one compiled pattern; a pattern that needs more is refused.
PATTERN_MAX_MEM_BYTES = 1 << 20
# Bounds are stored as JSON, whose encoder here (orjson) takes integers of 64 bits.
MAX_BOUND = 2**63 - 1


class RuleError(ValueError):
    """A rule the plan gives cannot be used; `key` names the offending rule."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _options() -> re2.Options:
    options = re2.Options()
    options.max_mem = PATTERN_MAX_MEM_BYTES
    options.log_errors = False
    return options


_OPTIONS = _options()


@dataclass(frozen=True, slots=True)
class TypedRules:
    """Parsed, checked rules of one field (empty: none declared)."""

    type: str | None = None
    required: bool = True
    pattern: str | None = None
    min: int | float | None = None
    max: int | float | None = None
    min_length: int | None = None
    max_length: int | None = None
    compiled: Any = field(default=None, compare=False, repr=False)
    # True when the rules decide a found value (SUCCESS/FAIL) instead of a person. Made
    # once here: every check of every field of every caught event asks it.
    judges: bool = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        judges = any(
            v is not None
            for v in (self.type, self.pattern, self.min, self.max, self.min_length, self.max_length)
        )
        object.__setattr__(self, "judges", judges)

    def as_json(self) -> dict[str, Any]:
        """The rules as a plan file writes them (only those declared)."""
        body: dict[str, Any] = {}
        for key in KEYS:
            value = getattr(self, key)
            if key == "required":
                if not value:
                    body[key] = False
            elif value is not None:
                body[key] = value
        return body


NO_RULES = TypedRules()


def _bound(raw: Any, key: str) -> int | float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise RuleError(key, f"must be a number, got {raw!r}")
    if isinstance(raw, float) and not math.isfinite(raw):
        raise RuleError(key, "must be a finite number")
    if abs(raw) > MAX_BOUND:
        raise RuleError(key, f"must be between -{MAX_BOUND} and {MAX_BOUND}")
    return raw


def _length(raw: Any, key: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise RuleError(key, f"must be a whole number of characters (0 or more), got {raw!r}")
    if raw > MAX_BOUND:
        raise RuleError(key, f"must be at most {MAX_BOUND}")
    return raw


def compile_pattern(pattern: Any) -> Any:
    """The compiled RE2 pattern, or RuleError saying why it cannot be used."""
    if not isinstance(pattern, str) or not pattern:
        raise RuleError("pattern", f"must be a non-empty text, got {pattern!r}")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise RuleError(
            "pattern", f"is {len(pattern)} characters long; at most {MAX_PATTERN_CHARS}"
        )
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        why = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise RuleError(
            "pattern",
            f"is not a usable regular expression ({why}); RE2 syntax, without "
            "back-references or look-arounds",
        ) from None


def parse_rules(raw: Mapping[str, Any] | None) -> TypedRules:
    """Check and parse a field's rules; RuleError on the first one that cannot be used."""
    if not raw:
        return NO_RULES
    if not isinstance(raw, Mapping):
        raise RuleError("rules", "must be a mapping of rule names to values")
    unknown = [k for k in raw if k not in KEYS]
    if unknown:
        raise RuleError(str(unknown[0]), f"unknown rule (one of {', '.join(KEYS)})")
    kind = raw.get("type")
    if kind is not None and kind not in TYPES:
        raise RuleError("type", f"must be one of {', '.join(TYPES)}, got {kind!r}")
    required = raw.get("required", True)
    if not isinstance(required, bool):
        raise RuleError("required", f"must be true or false, got {required!r}")
    pattern = raw.get("pattern")
    compiled = compile_pattern(pattern) if pattern is not None else None
    low = _bound(raw["min"], "min") if raw.get("min") is not None else None
    high = _bound(raw["max"], "max") if raw.get("max") is not None else None
    if low is not None and high is not None and low > high:
        raise RuleError("min", f"min ({low}) is above max ({high})")
    short = _length(raw["min_length"], "min_length") if raw.get("min_length") is not None else None
    long = _length(raw["max_length"], "max_length") if raw.get("max_length") is not None else None
    if short is not None and long is not None and short > long:
        raise RuleError("min_length", f"min_length ({short}) is above max_length ({long})")
    numeric = low is not None or high is not None
    textual = pattern is not None or short is not None or long is not None
    if numeric and kind not in (None, "number", "integer"):
        raise RuleError("min" if low is not None else "max", f"applies to numbers, not {kind}")
    if textual and kind not in (None, "string"):
        key = next(k for k in ("pattern", "min_length", "max_length") if raw.get(k) is not None)
        raise RuleError(key, f"applies to strings, not {kind}")
    if numeric and textual:
        raise RuleError("min", "a field cannot have both number bounds and string rules")
    if kind is None:
        kind = "number" if numeric else "string" if textual else None
    return TypedRules(kind, required, pattern, low, high, short, long, compiled)


def merged(base: Mapping[str, Any] | None, overlay: Mapping[str, Any] | None) -> dict[str, Any]:
    """The rules in force: the plan's, with the local overlay's keys on top (null removes one)."""
    rules = dict(base or {})
    for key, value in (overlay or {}).items():
        if value is None:
            rules.pop(key, None)
        else:
            rules[key] = value
    return rules


def describe(rules: Mapping[str, Any] | None) -> str:
    """The rules in a few words, for plan pages and the session matrix: "number, 0 to 100"."""
    if not rules:
        return ""
    parts = []
    if rules.get("type"):
        parts.append(str(rules["type"]))
    low, high = rules.get("min"), rules.get("max")
    if low is not None and high is not None:
        parts.append(f"{low} to {high}")
    elif low is not None:
        parts.append(f">= {low}")
    elif high is not None:
        parts.append(f"<= {high}")
    short, long = rules.get("min_length"), rules.get("max_length")
    if short is not None or long is not None:
        parts.append(
            f"{short if short is not None else 0}..{long if long is not None else ''} chars"
        )
    if rules.get("pattern"):
        parts.append(f"matching {rules['pattern']}")
    if rules.get("required") is False:
        parts.append("optional")
    return ", ".join(parts)
