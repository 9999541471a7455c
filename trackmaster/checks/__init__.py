"""Checking a caught event against the plan: find each field's value, give a verdict and its reason.

Pure and fast on purpose (no I/O): a live session checks every caught event
of every tester here, so the work per field is a few dict lookups and one
comparison. The rules are written out, with examples, in docs/checks.md.

    lookup    find_value(payload, key, style): where a field's value is
    values    value_text(value): how a value is compared, stored and quoted
    verdicts  FieldRule, FieldCheck, check_field, check_event
    coverage  Coverage: allowed values seen per field and platform
"""

from trackmaster.checks.coverage import Coverage
from trackmaster.checks.lookup import LookupStyle, find_parts, find_value, key_parts
from trackmaster.checks.values import (
    REASON_QUOTE_CHARS,
    VALUE_CAP_CHARS,
    quote,
    value_text,
)
from trackmaster.checks.verdicts import (
    CACHED_CHECKS_PER_RULE,
    Code,
    FieldCheck,
    FieldRule,
    check_event,
    check_field,
    json_kind,
)

__all__ = [
    "CACHED_CHECKS_PER_RULE",
    "REASON_QUOTE_CHARS",
    "VALUE_CAP_CHARS",
    "Code",
    "Coverage",
    "FieldCheck",
    "FieldRule",
    "LookupStyle",
    "check_event",
    "check_field",
    "find_parts",
    "find_value",
    "json_kind",
    "key_parts",
    "quote",
    "value_text",
]
