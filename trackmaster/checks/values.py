"""How a found value is written: compared with the plan, stored, and quoted in reasons."""

from __future__ import annotations

import json
import math
from typing import Any, cast

# A found value is stored up to this many characters (a field value is not a
# document); reasons quote at most REASON_QUOTE_CHARS of it.
VALUE_CAP_CHARS = 1000
REASON_QUOTE_CHARS = 80
# A reason lists at most this many allowed values, then says how many more.
REASON_LIST_VALUES = 20


def value_text(value: Any) -> str:
    """How a found value is compared with the plan and shown.

    Strings as they are; true/false; integral numbers without ".0" (1.0 -> "1",
    as plans write them); other numbers as Python prints them (1.5, 1e+100,
    inf, nan); null -> "null"; objects and arrays as compact JSON (keys in the
    order received, non-ASCII kept).
    """
    kind = type(value)
    if kind is str:
        return cast(str, value)  # an exact-type test: mypy narrows isinstance only
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        try:
            return str(value)
        except ValueError:  # over Python's 4,300-digit limit; json.loads refuses those anyway
            return f"<an integer of {value.bit_length()} bits>"
    if kind is float:
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if value is None:
        return "null"
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except RecursionError:
        return "<nested too deeply to show>"
    except (ValueError, TypeError):
        pass  # not JSON after all (a Python caller's tuple keys, a cycle): still show something
    try:
        return str(value)[:VALUE_CAP_CHARS]
    except Exception:  # a foreign object whose str() fails must not stop the checks
        return f"<{type(value).__name__}>"


def quote(text: str, limit: int = REASON_QUOTE_CHARS) -> str:
    """A value as a reason quotes it: in single quotes, cut to `limit` characters with "…"."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"'{text}'"
