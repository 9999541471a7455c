"""safejson bounds nesting from the bytes (`_nesting_fits`) exactly as the walk of the
parsed value does: the same refusals, whatever the strings hold (brackets, quotes,
backslashes, escapes), and the walk still decides when a string holds a bracket."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trackmaster import safejson

# Strings made of what could fool a reading of the bytes.
_TRICKY = st.text(alphabet='[]{}"\\/:,ab \n\u00e9\u2028', max_size=8)
_LEAF = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | _TRICKY
_JSON = st.recursive(
    _LEAF,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TRICKY, inner, max_size=3),
    max_leaves=30,
)


def depth(value: Any) -> int:
    """Containers nested around the deepest value (a scalar is 0, [] is 1)."""
    if type(value) is dict:
        return 1 + max((depth(v) for v in value.values()), default=0)
    if type(value) is list:
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def walk_refuses(value: Any, max_depth: int) -> bool:
    try:
        safejson._check(value, max_depth, strings=False)
    except safejson.JsonRefused:
        return True
    return False


@settings(max_examples=400, deadline=None)
@given(_JSON, st.integers(1, 6), st.booleans())
def test_bytes_judge_nesting_as_the_walk_does(value: Any, max_depth: int, ascii: bool) -> None:
    body = json.dumps(value, ensure_ascii=ascii).encode()
    fits = safejson._nesting_fits(body, max_depth)
    if fits is not None:
        assert fits == (depth(value) <= max_depth)
    assert walk_refuses(value, max_depth) == (depth(value) > max_depth)
    # What loads answers, whichever way it judged.
    if depth(value) > max_depth:
        with pytest.raises(safejson.JsonRefused) as refused:
            safejson.loads(body, max_depth)
        assert refused.value.too_deep
    else:
        assert safejson.loads(body, max_depth) == value


@pytest.mark.parametrize(
    ("body", "fits"),
    [
        (b'{"a":[1,{"b":2}]}', True),  # depth 3
        (b'{"a":[1,{"b":[]}]}', False),  # depth 4
        (b'{"a":"[[[[[[","b":1}', None),  # a bracket in a string: the walk decides
        (b'{"a\\"[[[":1}', None),  # an escaped quote, then brackets, inside a key
        (b'{"a\\\\":[[[]]]}', False),  # an escaped backslash ends the key: depth 4
        (b'["\\\\\\"[[["]', None),  # \\ then \" then [[[: all inside the string
        (b'{"s":"[["}', True),  # no more brackets than levels: fits, strings or not
        (b'"just a string"', True),
        (b"[[[]]]", True),
        (b"[[[[]]]]", False),
    ],
)
def test_bytes_judge_these_bodies(body: bytes, fits: bool | None) -> None:
    assert safejson._nesting_fits(body, 3) is fits
    refused = depth(json.loads(body)) > 3
    if refused:
        with pytest.raises(safejson.JsonRefused):
            safejson.loads(body, 3)
    else:
        assert safejson.loads(body, 3) == json.loads(body)


def test_a_deep_body_is_refused_as_too_deep_and_a_bracket_string_does_not_hide_it() -> None:
    deep = b'{"s":"]]]]]]]]]]","n":' + b"[" * 70 + b"]" * 70 + b"}"
    with pytest.raises(safejson.JsonRefused) as refused:
        safejson.loads(deep)
    assert refused.value.too_deep
    assert "nests deeper than 64 levels" in str(refused.value)
    fine = b'{"s":"]]]]]]]]]]","n":' + b"[" * 60 + b"]" * 60 + b"}"
    assert safejson.loads(fine)["s"] == "]" * 10


# Strings with quotes, backslashes and escapes but no bracket: the bytes alone decide.
_PLAIN = st.text(alphabet='"\\/:,ab \n\u00e9\u2028\t', max_size=6)
_DEEP = st.recursive(
    st.none() | st.integers(-5, 5) | _PLAIN,
    lambda inner: (
        st.lists(inner, min_size=1, max_size=3)
        | st.dictionaries(_PLAIN, inner, min_size=1, max_size=3)
    ),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(_DEEP, st.integers(1, 8), st.booleans())
def test_bytes_alone_judge_bodies_whose_strings_hold_no_bracket(
    value: Any, max_depth: int, ascii: bool
) -> None:
    body = json.dumps(value, ensure_ascii=ascii).encode()
    assert safejson._nesting_fits(body, max_depth) == (depth(value) <= max_depth)
