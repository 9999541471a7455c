"""The verdict on each field of a caught event, with its reason in words (docs/checks.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from trackmaster.checks.lookup import MISSING, LookupStyle, key_parts, sdk_sections, walk
from trackmaster.checks.rules import NO_RULES, TypedRules
from trackmaster.checks.typed import passing_reason, type_failure, value_failure
from trackmaster.checks.values import (
    REASON_LIST_VALUES,
    REASON_QUOTE_CHARS,
    VALUE_CAP_CHARS,
    quote,
    value_text,
)
from trackmaster.kinds import Verdict

# Checks of enumerated and fixed fields repeat (the same few values over and
# over), and a FieldCheck is immutable: each rule keeps the ones it made, up
# to this many, instead of building the same reason again for every event.
CACHED_CHECKS_PER_RULE = 256
_CACHED_TEXT_CHARS = 200
_KINDS = {bool: "boolean", int: "number", float: "number", dict: "object", list: "array"}
# The JSON kind of a found value: the check of "1" and of 1 may differ, so a
# cell's distinct values tell them apart by it.
_JSON_KINDS = {str: "string", type(None): "null", **_KINDS}


def json_kind(value: Any) -> str:
    return _JSON_KINDS.get(type(value), "string")


class Code:
    """Machine-readable violation codes, beside the reason in words (docs/checks.md)."""

    NOT_FOUND = "not_found"
    UNEXPECTED_VALUE = "unexpected_value"
    EMPTY_VALUE = "empty_value"
    NEEDS_REVIEW = "needs_review"  # UNCERTAIN: a dynamic value, a person must look
    TYPE_MISMATCH = "type_mismatch"
    PATTERN_MISMATCH = "pattern_mismatch"
    OUT_OF_RANGE = "out_of_range"
    TOO_LONG = "too_long"
    TOO_SHORT = "too_short"
    UNPLANNED_PROPERTY = "unplanned_property"


@dataclass(frozen=True, slots=True)
class FieldRule:
    """What the plan expects of one field of an event: what the checks judge by, and what
    the session's matrix, report and API show of it (one type for both: docs/architecture.md)."""

    field_id: int
    key: str
    # Field.values (enum names already); () = no fixed value. Duplicates are dropped, order kept.
    allowed: tuple[str, ...]
    # Typed rules (trackmaster/checks/rules.py); NO_RULES: today's judgement by values alone.
    typed: TypedRules = NO_RULES
    note: str = ""  # the plan's words for a tester; the checks never read it
    allowed_set: frozenset[str] = field(init=False, repr=False, compare=False)
    parts: tuple[str, ...] = field(init=False, repr=False, compare=False)
    not_found: FieldCheck = field(init=False, repr=False, compare=False)
    # No fixed value and no typed rule: any non-empty value is UNCERTAIN (the common case).
    dynamic: bool = field(init=False, repr=False, compare=False)
    # (type of the value, its text) -> the check made for it; see CACHED_CHECKS_PER_RULE.
    cache: dict[tuple[type, str], FieldCheck] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        allowed = tuple(dict.fromkeys(str(v) for v in self.allowed))
        object.__setattr__(self, "allowed", allowed)
        object.__setattr__(self, "allowed_set", frozenset(allowed))
        object.__setattr__(self, "parts", key_parts(self.key) if self.key else ())
        if self.typed.required:
            not_found = FieldCheck(
                self.field_id, False, None, Verdict.FAIL, "not found", Code.NOT_FOUND, ""
            )
        else:
            reason = "not sent; the field is optional"
            not_found = FieldCheck(self.field_id, False, None, Verdict.SUCCESS, reason, "", "")
        object.__setattr__(self, "not_found", not_found)
        object.__setattr__(self, "cache", {})
        object.__setattr__(self, "dynamic", not allowed and not self.typed.judges)


@dataclass(frozen=True, slots=True)
class FieldCheck:
    field_id: int
    found: bool
    value: str | None  # value_text of the found value, cut to VALUE_CAP_CHARS; None when not found
    verdict: Verdict
    reason: str  # in words: expected, got, what is missing
    code: str = ""  # a Code for every verdict but SUCCESS
    kind: str = ""  # json_kind of the found value; "" when not found
    # How a stored log writes this check (sessions/cells.py log_columns), made the first
    # time it is written: a cached check is written for many events.
    stored_json: tuple[str, str] | None = field(default=None, init=False, repr=False, compare=False)


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
    return _check_found(rule, value) if found else rule.not_found


def _check_found(rule: FieldRule, value: Any) -> FieldCheck:
    text = value if type(value) is str else value_text(value)
    if rule.dynamic:
        if text and value is not None and len(text) <= REASON_QUOTE_CHARS:
            # The most common case of all (ids, titles): no quoting or cutting needed.
            reason = f"dynamic value '{text}'; a person must look"
            return FieldCheck(
                rule.field_id, True, text, Verdict.UNCERTAIN, reason, Code.NEEDS_REVIEW,
                json_kind(value),
            )  # fmt: skip
        return _judge(rule, value, text)
    key = (type(value), text)
    check = rule.cache.get(key)
    if check is None:
        check = _judge(rule, value, text)
        if len(text) <= _CACHED_TEXT_CHARS and len(rule.cache) < CACHED_CHECKS_PER_RULE:
            rule.cache[key] = check
    return check


def _judge(rule: FieldRule, value: Any, text: str) -> FieldCheck:
    fid = rule.field_id
    stored = text if len(text) <= VALUE_CAP_CHARS else text[:VALUE_CAP_CHARS]
    kind = json_kind(value)
    typed = rule.typed
    if typed.judges:
        # The type first: 1 is not "1" when the plan says string, even if "1" is allowed.
        failure = type_failure(typed, value, text)
        if failure is None and not rule.allowed:
            failure = value_failure(typed, value, text)
            if failure is None:
                reason = passing_reason(typed, text)
                return FieldCheck(fid, True, stored, Verdict.SUCCESS, reason, "", kind)
        if failure is not None:
            return FieldCheck(fid, True, stored, Verdict.FAIL, failure[1], failure[0], kind)
    allowed = rule.allowed
    if len(allowed) >= 2:
        if text in rule.allowed_set:
            reason = f"{quote(text)} is one of the {len(allowed)} allowed values"
            return FieldCheck(fid, True, stored, Verdict.SUCCESS, reason, "", kind)
        reason = f"got {_got(value, text)}; allowed: {_allowed_list(allowed)}"
        return FieldCheck(fid, True, stored, Verdict.FAIL, reason, Code.UNEXPECTED_VALUE, kind)
    if len(allowed) == 1:
        if text == allowed[0]:
            return FieldCheck(fid, True, stored, Verdict.SUCCESS, f"equals {quote(text)}", "", kind)
        reason = f"expected {quote(allowed[0])}, got {_got(value, text)}"
        return FieldCheck(fid, True, stored, Verdict.FAIL, reason, Code.UNEXPECTED_VALUE, kind)
    if value is None or text == "":
        what = "null" if value is None else "an empty string"
        reason = f"got {what}; expected a value (the plan gives no fixed value)"
        return FieldCheck(fid, True, stored, Verdict.FAIL, reason, Code.EMPTY_VALUE, kind)
    reason = f"dynamic value {quote(text)}; a person must look"
    return FieldCheck(fid, True, stored, Verdict.UNCERTAIN, reason, Code.NEEDS_REVIEW, kind)


def _got(value: Any, text: str) -> str:
    # A number or boolean where the plan has a string reads differently from the string itself.
    if value is None:
        return "null"
    if type(value) is str:
        return quote(text)
    return f"{quote(text)} ({_KINDS.get(type(value), type(value).__name__)})"


def check_event(
    rules: Sequence[FieldRule], payload: dict[str, Any], style: LookupStyle
) -> list[FieldCheck]:
    """Every rule checked against one caught event's payload, in the rules' order."""
    if type(payload) is not dict:
        return [rule.not_found for rule in rules]
    # find_parts per rule, with the places to look in found once per event, not per field.
    sections = sdk_sections(payload) if style == "sdk" else (payload,)
    checks: list[FieldCheck] = []
    append = checks.append
    for rule in rules:
        parts = rule.parts
        if parts:
            for inner in sections:
                value = walk(inner, parts)
                if value is not MISSING:
                    append(_check_found(rule, value))
                    break
            else:
                append(rule.not_found)
        else:
            append(rule.not_found)
    return checks
