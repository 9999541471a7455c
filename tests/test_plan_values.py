"""Expected values: the split rule for `|` `,` `/`, URLs, escapes, and enum id resolution."""

from __future__ import annotations

import pytest

from trackmaster.plan.values import expected_values, split_alternatives


@pytest.mark.parametrize(
    ("raw", "parts"),
    [
        ("home|player", ["home", "player"]),
        ("full, mini", ["full", "mini"]),
        ("yes/no", ["yes", "no"]),
        ("a|b,c/d", ["a", "b", "c", "d"]),
        # A URL keeps its slashes; `|` and `,` still separate URLs.
        ("https://example.com/a/b", ["https://example.com/a/b"]),
        ("https://a.io/x|https://b.io/y", ["https://a.io/x", "https://b.io/y"]),
        # A backslash keeps the next character literal.
        (r"1\,000", ["1,000"]),
        (r"and\/or|either", ["and/or", "either"]),
        (" spaced |  ", ["spaced"]),
        ("", []),
        ("单个", ["单个"]),
        ("trailing\\", ["trailing\\"]),
    ],
)
def test_split_alternatives(raw: str, parts: list[str]) -> None:
    assert split_alternatives(raw) == parts


def test_enum_ids_become_names_and_repeats_go() -> None:
    names = {"v1": "home", "v2": "player"}
    assert expected_values(["v1|v2", "v1", "literal"], names) == ["home", "player", "literal"]


def test_no_values_means_no_fixed_value() -> None:
    assert expected_values([]) == []
    assert expected_values(["", " | "]) == []


@pytest.mark.parametrize(
    "value", ["plain", "a/b", "1,000", "x|y", "back\\slash", "https://e.com/a,b", "a\\/b", "单/个"]
)
def test_escaped_values_read_back_as_one_value(value: str) -> None:
    from trackmaster.plan.values import escape_value

    assert split_alternatives(escape_value(value)) == [value]
