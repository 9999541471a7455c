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
from typing import Any

import orjson

MAX_DEPTH = 64  # analytics payloads nest a handful of levels; storage gives up near 255
# A run of 20 ASCII digits anywhere (2**64 has 20), as re's rb"\d{20,}" would find it,
# several times faster on a large body: every digit becomes "0" and every other byte
# a space, then one substring search (the regex tried a match at each digit).
_DIGITS_TO_ZERO = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))  # "0" / " "
_TWENTY_ZEROS = b"0" * 20


def _has_long_digits(body: bytes) -> bool:
    return _TWENTY_ZEROS in body.translate(_DIGITS_TO_ZERO)


class JsonRefused(ValueError):
    """The body is not JSON we can keep; `too_deep` tells a limit (413) from bad input (400)."""

    def __init__(self, msg: str, *, too_deep: bool = False) -> None:
        super().__init__(msg)
        self.too_deep = too_deep


def loads(body: bytes, max_depth: int = MAX_DEPTH) -> Any:
    exact_needed = _has_long_digits(body)
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
    if strings:
        _check_strings(value, max_depth)
        return
    # One level at a time, and only containers go on to the next level: the leaves
    # (most of a payload) are looked at once, never copied into a work list.
    level: list[Any] = [value] if type(value) in (dict, list) else []
    depth = 1
    while level:
        if depth > max_depth:
            raise _too_deep(max_depth)
        below: list[Any] = []
        for item in level:
            for child in item.values() if type(item) is dict else item:
                if type(child) is dict or type(child) is list:
                    below.append(child)
        level = below
        depth += 1


def _check_strings(value: Any, max_depth: int) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
            for key in item:
                _unicode(key)
        elif isinstance(item, list):
            children = item
        else:
            if isinstance(item, str):
                _unicode(item)
            continue
        if depth > max_depth:
            raise _too_deep(max_depth)
        stack.extend((child, depth + 1) for child in children)


def _too_deep(max_depth: int) -> JsonRefused:
    return JsonRefused(
        f"the JSON nests deeper than {max_depth} levels; flatten the payload", too_deep=True
    )


def _unicode(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise JsonRefused(
            "the JSON holds a lone UTF-16 surrogate (\\ud800-\\udfff); send valid Unicode"
        ) from None
