"""Judging a found value by a field's typed rules: a failure with its code, or why it passes."""

from __future__ import annotations

import math
from typing import Any

from trackmaster.checks.rules import TypedRules
from trackmaster.checks.values import quote

# json kind -> how a reason names it
_NAMES = {
    "string": "a string", "number": "a number", "boolean": "a boolean", "null": "null",
    "object": "an object", "array": "an array",
}  # fmt: skip

_CONTAINERS: dict[type[Any], str] = {dict: "object", list: "array"}


def _kind(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return "string"
    if kind is bool:
        return "boolean"
    if kind is int or kind is float:
        return "number"
    if value is None:
        return "null"
    return _CONTAINERS.get(kind, "string")


def is_number(value: Any) -> bool:
    """A JSON number: not a boolean (True is an int in Python), and finite."""
    kind = type(value)
    return kind is int or (kind is float and math.isfinite(value))


def has_type(value: Any, wanted: str) -> bool:
    if wanted == "string":
        return type(value) is str
    if wanted == "number":
        return is_number(value)
    if wanted == "integer":
        # JSON has one number type: 3.0 is the integer 3 as far as a sender is concerned.
        return type(value) is int or (is_number(value) and float(value).is_integer())
    if wanted == "boolean":
        return type(value) is bool
    if wanted == "object":
        return type(value) is dict
    return type(value) is list  # "array"


def type_failure(rules: TypedRules, value: Any, text: str) -> tuple[str, str] | None:
    """(code, reason) when the value is not of the declared type; None when it is."""
    if rules.type is None or has_type(value, rules.type):
        return None
    got = _kind(value)
    if got == "number" and type(value) is float and not math.isfinite(value):
        shown = f"{text} (not a finite number)"
    elif got == "null":
        shown = "null"
    else:
        shown = f"{_NAMES[got]} {quote(text)}"
    wanted = "an integer" if rules.type == "integer" else _NAMES.get(rules.type, rules.type)
    return "type_mismatch", f"expected {wanted}, got {shown}"


def _bounds(rules: TypedRules) -> str:
    if rules.min is not None and rules.max is not None:
        return f"between {rules.min} and {rules.max}"
    return f">= {rules.min}" if rules.min is not None else f"<= {rules.max}"


def value_failure(rules: TypedRules, value: Any, text: str) -> tuple[str, str] | None:
    """(code, reason) when the value breaks a pattern, bound or length; None when it passes."""
    if type(value) is str:
        n = len(value)
        if n == 0 and rules.min_length is None:
            return "empty_value", "got an empty string; expected a value (min_length: 0 allows it)"
        if rules.min_length is not None and n < rules.min_length:
            return "too_short", f"{quote(text)} is {n} characters long; at least {rules.min_length}"
        if rules.max_length is not None and n > rules.max_length:
            return "too_long", f"{quote(text)} is {n} characters long; at most {rules.max_length}"
        if rules.compiled is not None and rules.compiled.fullmatch(value) is None:
            return "pattern_mismatch", f"{quote(text)} does not match {quote(rules.pattern or '')}"
    elif rules.min is not None or rules.max is not None:
        if not is_number(value):
            return "type_mismatch", f"expected a number {_bounds(rules)}, got {quote(text)}"
        # int and float compare exactly in Python, so 10**30 is above max 10**18.
        if (rules.min is not None and value < rules.min) or (
            rules.max is not None and value > rules.max
        ):
            return "out_of_range", f"{text} is not {_bounds(rules)}"
    elif rules.compiled is not None or rules.min_length is not None or rules.max_length is not None:
        return "type_mismatch", f"expected a string, got {_NAMES[_kind(value)]} {quote(text)}"
    return None


def passing_reason(rules: TypedRules, text: str) -> str:
    """Why a value passes its rules, in words."""
    parts = []
    if rules.type == "integer":
        parts.append("an integer")
    elif rules.type is not None:
        parts.append(_NAMES.get(rules.type, rules.type))
    if rules.pattern is not None:
        parts.append(f"matches {quote(rules.pattern)}")
    if rules.min is not None or rules.max is not None:
        parts.append(_bounds(rules))
    if rules.min_length is not None or rules.max_length is not None:
        low = rules.min_length if rules.min_length is not None else 0
        high = rules.max_length if rules.max_length is not None else "any"
        parts.append(f"{low} to {high} characters")
    return f"{quote(text)}: {', '.join(parts)}"
