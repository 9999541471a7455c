"""JSON from the open internet, parsed exactly or refused with a reason.

orjson is fast but quietly turns integers beyond 64 bits into floats (a
user id of 23 digits would be stored wrong), refuses lone surrogates while
`json` accepts them (and then nothing can store them), and both parse
nesting far deeper than anything can be stored or shown. So: orjson when the
body cannot hold such integers, `json` otherwise, then one walk that bounds
the nesting and refuses strings that are not valid Unicode.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

MAX_DEPTH = 64  # analytics payloads nest a handful of levels; storage gives up near 255
_LONG_DIGITS = re.compile(rb"\d{20,}")  # 2**64 has 20 digits


class JsonRefused(ValueError):
    """The body is not JSON we can keep; `too_deep` tells a limit (413) from bad input (400)."""

    def __init__(self, msg: str, *, too_deep: bool = False) -> None:
        super().__init__(msg)
        self.too_deep = too_deep


def loads(body: bytes, max_depth: int = MAX_DEPTH) -> Any:
    exact_needed = _LONG_DIGITS.search(body) is not None
    value: Any
    if not exact_needed:
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError:
            exact_needed = True  # NaN, Infinity: let json decide, with the same checks
    if exact_needed:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonRefused(
                f"the body is not valid UTF-8 ({exc.reason} at byte {exc.start})"
            ) from None
        try:
            value = json.loads(text, parse_constant=_refuse_constant)
        except RecursionError:
            raise JsonRefused(
                f"the JSON nests deeper than {max_depth} levels", too_deep=True
            ) from None
        except JsonRefused:
            raise
        except ValueError as exc:
            raise JsonRefused(f"the body is not valid JSON: {exc}") from None
    _check(value, max_depth, strings=exact_needed)
    return value


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; json takes them, and nothing downstream can store them.
    raise JsonRefused(f"the body holds {name}, which is not JSON; send a number or null")


def _check(value: Any, max_depth: int, *, strings: bool) -> None:
    """Bound the nesting; with `strings`, refuse lone surrogates (orjson already does)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
            if strings:
                for key in item:
                    _unicode(key)
        elif isinstance(item, list):
            children = item
        else:
            if strings and isinstance(item, str):
                _unicode(item)
            continue
        if depth > max_depth:
            raise JsonRefused(
                f"the JSON nests deeper than {max_depth} levels; flatten the payload",
                too_deep=True,
            )
        stack.extend((child, depth + 1) for child in children)


def _unicode(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise JsonRefused(
            "the JSON holds a lone UTF-16 surrogate (\\ud800-\\udfff); send valid Unicode"
        ) from None
