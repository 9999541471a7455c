"""JSON from the open internet, parsed exactly or refused with a reason.

orjson is fast but quietly turns integers beyond 64 bits into floats (a
user id of 23 digits would be stored wrong), refuses lone surrogates while
`json` accepts them (and then nothing can store them), and both parse
nesting far deeper than anything can be stored or shown. So: orjson when the
body cannot hold such integers, `json` otherwise; then the nesting is bounded
(from orjson's bytes, `_nesting_fits`, or one walk of the parsed value) and,
after `json`, strings that are not valid Unicode are refused.
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


# Every byte but quotes and brackets, deleted by translate; "[" and "]" become "{" and "}"
# (nesting does not care which kind of container it is).
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_BRACKETS_AS_BRACES = bytes.maketrans(b"[]", b"{}")
# Up to this size counting the brackets is cheaper than reading the structure; above it,
# a body holds more brackets than levels anyway (a batch of events).
_SMALL_BODY_BYTES = 4096


def _nesting_fits(body: bytes, max_depth: int) -> bool | None:
    """Whether valid JSON `body` nests at most `max_depth` containers deep, judged from
    its bytes at C speed (the walk of the parsed value cost as much as parsing it);
    None when a string holds a bracket, and only the walk can tell.

    Escapes go first (an escaped backslash, then an escaped quote: after that every
    quote left opens or closes a string); then everything but quotes and brackets.
    A string without brackets is now `""`, and removing those, left to right, leaves a
    quote exactly when some string held a bracket (its opening quote has a bracket
    after it and a removed pair before it): so the pairs found, counted the same way,
    are all the quotes there are exactly when no string held one. What remains without
    the quotes is the containers alone, and one pass removing every empty pair `{}`
    takes off exactly one level: the innermost containers are the empty pairs, and
    what held them is not empty until the next pass.

    A bracket before an escaped quote (`{\\"`, `[\\"`) is JSON text inside a string
    (Snowplow's `ue_pr`, `co`): valid JSON has a quote, a space or a closing bracket
    after an opening one, never a backslash, so such a string holds a bracket and the
    answer is None at once, without removing every escape of the embedded text first.
    """
    if len(body) <= _SMALL_BODY_BYTES and body.count(b"{") + body.count(b"[") <= max_depth:
        return True  # no more brackets than levels (those in strings only add to the count)
    if b"\\" in body:
        if b'{\\"' in body or b'[\\"' in body:
            return None
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    structure = body.translate(None, _NOT_STRUCTURE)
    quotes = structure.count(b'"')
    if quotes != 2 * structure.count(b'""'):
        return None
    if len(structure) - quotes <= max_depth:
        return True
    structure = structure.translate(_BRACKETS_AS_BRACES, b'"')
    for _ in range(max_depth):
        if not structure:
            return True
        structure = structure.replace(b"{}", b"")
    return not structure


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
    fits = None if exact_needed else _nesting_fits(body, max_depth)
    if fits is None:
        _check(value, max_depth, strings=exact_needed)
    elif not fits:
        raise _too_deep(max_depth)
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
