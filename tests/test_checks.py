"""The field checks: where a value is found, how it is written, its verdict and reason, coverage.

Pure unit tests (no database): each table row is one rule of docs/checks.md.
"""

# The verdict table reads best one case per line, however long.
# ruff: noqa: E501

from __future__ import annotations

import math
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.json_strategies import json_objects, json_values
from trackmaster.checks import (
    VALUE_CAP_CHARS,
    Coverage,
    FieldCheck,
    FieldRule,
    check_event,
    check_field,
    find_value,
    value_text,
)
from trackmaster.models import Platform, Verdict

PAGES = ("home", "player", "search", "me")

# --- where a value is found ----------------------------------------------------------

RAW_LOG = {
    "$os": "iOS",
    "$app_version": "2.31.0",
    "event_info": {"event": "play_click", "current_page_name": "home"},
    "page_info": {"id": "63a1f0", "type": "EPISODE", "title": "Ep. 1"},
    "content_info": {"id": "c-9", "type": "EPISODE", "tags": [{"id": "t1"}, {"id": "t2"}]},
    "page_info$$section": "top",
    "a$$b": {"c": 1},
    "x": {"y$$z": 2},
    "dotted.key": "literal",
    "zero": 0,
    "no": False,
    "blank": "",
    "nothing": None,
    "text": "plain",
}


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("event_info.event", (True, "play_click")),
        ("page_info.id", (True, "63a1f0")),
        ("page_info", (True, RAW_LOG["page_info"])),
        ("$os", (True, "iOS")),
        # The web form flattens nested keys with "$$": either spelling finds either form.
        ("page_info.section", (True, "top")),
        ("page_info$$section", (True, "top")),
        ("page_info$$id", (True, "63a1f0")),
        # Partially flattened, at the start or further down.
        ("a.b.c", (True, 1)),
        ("a$$b.c", (True, 1)),
        ("x.y.z", (True, 2)),
        # A literal dot inside a key.
        ("dotted.key", (True, "literal")),
        # Arrays by index.
        ("content_info.tags.1.id", (True, "t2")),
        ("content_info.tags.2.id", (False, None)),
        ("content_info.tags.x", (False, None)),
        # Falsy values are found, JSON null is found as None.
        ("zero", (True, 0)),
        ("no", (True, False)),
        ("blank", (True, "")),
        ("nothing", (True, None)),
        # Absent.
        ("page_info.missing", (False, None)),
        ("text.deeper", (False, None)),
        ("nothing.deeper", (False, None)),
        ("PAGE_INFO.ID", (False, None)),  # keys are case-sensitive
        ("", (False, None)),
        ("a..c", (False, None)),
    ],
)
def test_find_value_log_style(key: str, expected: tuple) -> None:
    assert find_value(RAW_LOG, key, "log") == expected


def test_nested_form_wins_over_flattened_when_both_hold_the_key() -> None:
    payload = {"page_info": {"id": "nested"}, "page_info$$id": "flat"}
    assert find_value(payload, "page_info.id", "log") == (True, "nested")
    # ...and the flattened form is used when the nested object lacks the key.
    assert find_value({"page_info": {}, "page_info$$id": "flat"}, "page_info.id", "log") == (
        True,
        "flat",
    )


SDK_EVENT = {
    "event": "play_click",
    "userId": "u1",
    "where": "top level",
    "properties": {"where": "properties", "page": {"name": "home"}, "none": None},
    "event_properties": {"amp": "event_properties"},
    "user_properties": {"plan": "premium", "where_user": "user_properties"},
    "context": {"where": "context", "os": {"name": "iOS"}, "only_here": "ctx", "plan": "ctx"},
}


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("where", (True, "properties")),  # properties first...
        ("userId", (True, "u1")),  # ...then the top level...
        ("only_here", (True, "ctx")),  # ...then context
        ("os.name", (True, "iOS")),
        ("context.os.name", (True, "iOS")),  # a full path from the top works too
        ("page.name", (True, "home")),
        ("page$$name", (True, "home")),
        ("properties.where", (True, "properties")),
        ("none", (True, None)),
        ("amp", (True, "event_properties")),
        ("plan", (True, "premium")),  # user_properties before context
        ("absent", (False, None)),
    ],
)
def test_find_value_sdk_style(key: str, expected: tuple) -> None:
    assert find_value(SDK_EVENT, key, "sdk") == expected


def test_sdk_order_top_level_before_context() -> None:
    payload = {"where": "top", "context": {"where": "context"}}
    assert find_value(payload, "where", "sdk") == (True, "top")
    assert find_value({"context": {"where": "context"}}, "where", "sdk") == (True, "context")


def test_log_style_does_not_look_inside_properties() -> None:
    assert find_value({"properties": {"x": 1}}, "x", "log") == (False, None)
    assert find_value({"properties": {"x": 1}}, "x", "sdk") == (True, 1)


def test_sdk_sections_that_are_not_objects_are_skipped() -> None:
    payload = {"properties": "oops", "context": [1, 2], "x": 3}
    assert find_value(payload, "x", "sdk") == (True, 3)
    assert find_value(payload, "y", "sdk") == (False, None)


@pytest.mark.parametrize("payload", [None, [], "text", 3])
def test_find_value_on_a_non_object_is_not_found(payload: object) -> None:
    assert find_value(payload, "a", "log") == (False, None)  # type: ignore[arg-type]
    assert find_value(payload, "a", "sdk") == (False, None)  # type: ignore[arg-type]


# --- how a value is written ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("home", "home"),
        ("", ""),
        ("首页 ✓", "首页 ✓"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (1, "1"),
        (-7, "-7"),
        (10**20, "100000000000000000000"),
        (1.0, "1"),
        (-0.0, "0"),
        (1.5, "1.5"),
        (0.1, "0.1"),
        (1e16, "1e+16"),  # beyond exact integers: as Python prints the float
        (1e20, "1e+20"),
        (math.inf, "inf"),
        (math.nan, "nan"),
        (None, "null"),
        ({}, "{}"),
        ([], "[]"),
        ({"a": [1, 2], "b": None}, '{"a":[1,2],"b":null}'),
        ({"z": 1, "a": 2}, '{"z":1,"a":2}'),  # keys in the order received
        (["é", True], '["é",true]'),
    ],
)
def test_value_text(value: object, text: str) -> None:
    assert value_text(value) == text


def test_value_text_of_absurd_depth_or_size_still_gives_text() -> None:
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert value_text(deep) == "<nested too deeply to show>"
    assert check_field(rule(()), True, deep).verdict == Verdict.UNCERTAIN
    assert value_text(10**5000) == "<an integer of 16610 bits>"


def test_value_text_of_something_that_is_not_json_still_gives_text() -> None:
    assert value_text({"when": object}).startswith('{"when":')
    assert value_text({1: "a"}) == '{"1":"a"}'
    assert value_text({(1, 2): "a"}) == "{(1, 2): 'a'}"
    cycle: list = []
    cycle.append(cycle)
    assert value_text(cycle) == "[[...]]"


# --- verdicts ------------------------------------------------------------------------

MISSING = object()
LONG = "x" * 5000


def rule(allowed: tuple[str, ...] = (), key: str = "page_name") -> FieldRule:
    return FieldRule(field_id=7, key=key, allowed=allowed)


VERDICTS = [
    # several allowed values: membership; coverage is reported apart
    ("several: allowed", PAGES, "home", Verdict.SUCCESS, "'home' is one of the 4 allowed values", "home"),
    ("several: other", PAGES, "hme", Verdict.FAIL, "got 'hme'; allowed: home, player, search, me", "hme"),
    ("several: case", PAGES, "Home", Verdict.FAIL, "got 'Home'; allowed: home, player, search, me", "Home"),
    ("several: number as text", ("1", "2"), 1, Verdict.SUCCESS, "'1' is one of the 2 allowed values", "1"),
    ("several: float 1.0 is 1", ("1", "2"), 1.0, Verdict.SUCCESS, "'1' is one of the 2 allowed values", "1"),
    ("several: number not allowed", ("1", "2"), 3, Verdict.FAIL, "got '3' (number); allowed: 1, 2", "3"),
    ("several: string 1.0 is not 1", ("1", "2"), "1.0", Verdict.FAIL, "got '1.0'; allowed: 1, 2", "1.0"),
    ("several: boolean", ("true", "false"), False, Verdict.SUCCESS, "'false' is one of the 2 allowed values", "false"),
    ("several: boolean is not 0", ("0", "1"), False, Verdict.FAIL, "got 'false' (boolean); allowed: 0, 1", "false"),
    ("several: null", PAGES, None, Verdict.FAIL, "got null; allowed: home, player, search, me", "null"),
    ("several: null allowed", ("null", "home"), None, Verdict.SUCCESS, "'null' is one of the 2 allowed values", "null"),
    ("several: empty string allowed", ("", "home"), "", Verdict.SUCCESS, "'' is one of the 2 allowed values", ""),
    ("several: object", PAGES, {"a": 1}, Verdict.FAIL, "got '{\"a\":1}' (object); allowed: home, player, search, me", '{"a":1}'),
    ("several: unicode", ("首页", "播放"), "首页", Verdict.SUCCESS, "'首页' is one of the 2 allowed values", "首页"),
    ("several: missing", PAGES, MISSING, Verdict.FAIL, "not found", None),
    # one fixed value: equality
    ("one: equal", ("EPISODE",), "EPISODE", Verdict.SUCCESS, "equals 'EPISODE'", "EPISODE"),
    ("one: other case", ("EPISODE",), "episode", Verdict.FAIL, "expected 'EPISODE', got 'episode'", "episode"),
    ("one: number equals text", ("1",), 1, Verdict.SUCCESS, "equals '1'", "1"),
    ("one: text 01 is not 1", ("1",), "01", Verdict.FAIL, "expected '1', got '01'", "01"),
    ("one: number differs", ("1",), 2, Verdict.FAIL, "expected '1', got '2' (number)", "2"),
    ("one: null", ("EPISODE",), None, Verdict.FAIL, "expected 'EPISODE', got null", "null"),
    ("one: array", ("EPISODE",), ["EPISODE"], Verdict.FAIL, "expected 'EPISODE', got '[\"EPISODE\"]' (array)", '["EPISODE"]'),
    ("one: duplicates are one value", ("a", "a"), "a", Verdict.SUCCESS, "equals 'a'", "a"),
    ("one: missing", ("EPISODE",), MISSING, Verdict.FAIL, "not found", None),
    # no fixed value: a found value is dynamic, a person must look
    ("none: text", (), "63a1f0", Verdict.UNCERTAIN, "dynamic value '63a1f0'; a person must look", "63a1f0"),
    ("none: number", (), 42, Verdict.UNCERTAIN, "dynamic value '42'; a person must look", "42"),
    ("none: false", (), False, Verdict.UNCERTAIN, "dynamic value 'false'; a person must look", "false"),
    ("none: object", (), {"id": 1}, Verdict.UNCERTAIN, "dynamic value '{\"id\":1}'; a person must look", '{"id":1}'),
    ("none: null", (), None, Verdict.FAIL, "got null; expected a value (the plan gives no fixed value)", "null"),
    ("none: empty", (), "", Verdict.FAIL, "got an empty string; expected a value (the plan gives no fixed value)", ""),
    ("none: missing", (), MISSING, Verdict.FAIL, "not found", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("allowed", "value", "verdict", "reason", "text"),
    [row[1:] for row in VERDICTS],
    ids=[row[0] for row in VERDICTS],
)
@pytest.mark.parametrize("key", ["page_name", "page_info.id", "content_type", "Page_ID", "CONTENT"])
def test_verdict_table(
    key: str,
    allowed: tuple[str, ...],
    value: object,
    verdict: Verdict,
    reason: str,
    text: str | None,
) -> None:
    # The key's name (id/content or not, any case) never changes the verdict: a fixed list
    # decides when there is one, and with none every found value is dynamic anyway.
    found = value is not MISSING
    check = check_field(rule(allowed, key), found, None if value is MISSING else value)
    got = (check.field_id, check.found, check.value, check.verdict, check.reason)
    assert got == (7, found, text, verdict, reason)
    # Every verdict but SUCCESS carries a machine-readable code.
    assert bool(check.code) == (verdict is not Verdict.SUCCESS)


def test_long_values_are_cut_in_reasons_but_kept_in_the_value_up_to_the_cap() -> None:
    dynamic = check_field(rule(()), True, LONG)
    assert dynamic.verdict == Verdict.UNCERTAIN
    assert dynamic.value == "x" * VALUE_CAP_CHARS
    assert dynamic.reason == f"dynamic value '{'x' * 79}…'; a person must look"

    fixed = check_field(rule(("EPISODE",)), True, LONG)
    assert fixed.verdict == Verdict.FAIL
    assert fixed.reason == f"expected 'EPISODE', got '{'x' * 79}…'"

    exactly = "y" * 80
    assert (
        check_field(rule(()), True, exactly).reason
        == f"dynamic value '{exactly}'; a person must look"
    )


def test_a_long_value_is_compared_in_full_not_cut() -> None:
    allowed = ("a" * 2000, "b")
    assert check_field(rule(allowed), True, "a" * 2000).verdict == Verdict.SUCCESS
    assert check_field(rule(allowed), True, "a" * 1999).verdict == Verdict.FAIL


def test_a_long_allowed_list_is_shortened_in_the_reason() -> None:
    allowed = tuple(f"v{i}" for i in range(25))
    check = check_field(rule(allowed), True, "nope")
    shown = ", ".join(f"v{i}" for i in range(20))
    assert check.reason == f"got 'nope'; allowed: {shown} (+5 more)"


def test_rule_takes_a_list_and_keeps_plan_order_without_duplicates() -> None:
    field_rule = FieldRule(1, "k", ["b", "a", "b"])  # type: ignore[arg-type]
    assert field_rule.allowed == ("b", "a")
    assert field_rule == FieldRule(1, "k", ("b", "a"))


def test_a_rule_reused_for_many_events_gives_the_same_checks_as_a_fresh_one() -> None:
    # Rules keep the checks they made (enumerations repeat); the type is part of the key.
    reused = rule(("1", "2"))
    values = [1, "1", 1.0, True, "3", 3, None, "1", 1] + [f"v{i}" for i in range(400)]
    for value in values * 2:
        assert check_field(reused, True, value) == check_field(rule(("1", "2")), True, value)
    assert check_field(reused, True, "3").reason == "got '3'; allowed: 1, 2"
    assert check_field(reused, True, 3).reason == "got '3' (number); allowed: 1, 2"


def test_long_values_that_begin_alike_are_never_judged_as_each_other() -> None:
    # A rule remembers its checks per value: two values must never share one.
    allowed = "a" * 300
    reused = rule((allowed,))
    for _ in range(3):
        assert check_field(reused, True, allowed).verdict == Verdict.SUCCESS
        assert check_field(reused, True, allowed[:-1] + "b").verdict == Verdict.FAIL
        assert check_field(reused, True, allowed + "a").verdict == Verdict.FAIL
        assert check_field(reused, True, allowed).verdict == Verdict.SUCCESS


def test_check_event_on_the_raw_log_of_the_domain() -> None:
    rules = [
        FieldRule(1, "event_info.current_page_name", PAGES),
        FieldRule(2, "page_info.id", ()),
        FieldRule(3, "page_info.type", ("EPISODE",)),
        FieldRule(4, "content_info.type", ("EPISODE", "MOVIE")),
        FieldRule(5, "page_info.section", ("top", "bottom")),
        FieldRule(6, "page_info.duration", ()),
    ]
    checks = check_event(rules, RAW_LOG, "log")
    assert [(c.field_id, c.verdict, c.value) for c in checks] == [
        (1, Verdict.SUCCESS, "home"),
        (2, Verdict.UNCERTAIN, "63a1f0"),
        (3, Verdict.SUCCESS, "EPISODE"),
        (4, Verdict.SUCCESS, "EPISODE"),
        (5, Verdict.SUCCESS, "top"),
        (6, Verdict.FAIL, None),
    ]
    assert check_event([], RAW_LOG, "log") == []


@settings(max_examples=300, deadline=None)
@given(
    payload=json_values(),
    keys=st.lists(st.text(alphabet="ab.$_0", max_size=8), max_size=4),
    allowed=st.lists(st.text(max_size=4), max_size=3),
    style=st.sampled_from(["log", "sdk"]),
)
def test_check_event_never_raises_on_any_json(
    payload: object, keys: list[str], allowed: list[str], style: str
) -> None:
    rules = [FieldRule(i, key, tuple(allowed)) for i, key in enumerate(keys)]
    checks = check_event(rules, payload, style)  # type: ignore[arg-type]
    assert [c.field_id for c in checks] == list(range(len(keys)))
    for check in checks:
        assert (check.value is None) == (not check.found)
        assert check.reason
        assert check.verdict in (Verdict.SUCCESS, Verdict.FAIL, Verdict.UNCERTAIN)


@settings(max_examples=300, deadline=None)
@given(payload=json_objects(), key=st.sampled_from(["a", "a.b", "a$$b", "a.0", "a.b.c"]))
def test_whatever_is_found_is_checked_as_its_text(payload: dict, key: str) -> None:
    found, value = find_value(payload, key, "log")
    check = check_field(rule(("x", "y")), found, value)
    if found:
        text = value_text(value)
        assert check.value == text[:VALUE_CAP_CHARS]
        assert (check.verdict == Verdict.SUCCESS) == (text in ("x", "y"))
    else:
        assert check == FieldCheck(7, False, None, Verdict.FAIL, "not found", "not_found")


# --- coverage ------------------------------------------------------------------------

PLAN = [
    FieldRule(1, "page", PAGES),
    FieldRule(2, "type", ("EPISODE",)),  # one value: not tracked
    FieldRule(3, "id", ()),  # no value: not tracked
    FieldRule(4, "flag", ("true", "false")),
]


def test_coverage_counts_each_allowed_value_once_per_field_and_platform() -> None:
    cov = Coverage(PLAN)
    assert cov.add(1, Platform.IOS, "player") is True
    assert cov.add(1, Platform.IOS, "player") is False  # already seen
    assert cov.add(1, Platform.IOS, "home") is True
    assert cov.seen(1, Platform.IOS) == ["home", "player"]  # plan order, not arrival order
    assert cov.missing(1, Platform.IOS) == ["search", "me"]
    assert cov.summary(1, Platform.IOS) == {
        "seen": ["home", "player"],
        "missing": ["search", "me"],
        "covered": 2,
        "total": 4,
        "complete": False,
    }
    # Each platform separately.
    assert cov.seen(1, Platform.ANDROID) == []
    assert cov.missing(1, Platform.ANDROID) == list(PAGES)
    assert cov.add(1, Platform.ANDROID, "player") is True
    assert cov.seen(1, Platform.OTHER) == []


def test_coverage_completes_when_every_allowed_value_was_seen() -> None:
    cov = Coverage(PLAN)
    for value in PAGES:
        cov.add(1, Platform.ANDROID, value)
    summary = cov.summary(1, Platform.ANDROID)
    assert summary["complete"] is True
    assert (summary["covered"], summary["total"], summary["missing"]) == (4, 4, [])
    assert cov.summary(1, Platform.IOS)["complete"] is False


@pytest.mark.parametrize(
    ("field_id", "value"),
    [
        (1, "hme"),  # outside the allowed set: a FAIL, not coverage
        (1, "Home"),
        (2, "EPISODE"),  # one fixed value: nothing to cover
        (3, "63a1"),  # no fixed value
        (99, "home"),  # not in the plan
    ],
)
def test_coverage_ignores_what_is_not_an_allowed_value_of_an_enumeration(
    field_id: int, value: str
) -> None:
    cov = Coverage(PLAN)
    assert cov.add(field_id, Platform.IOS, value) is False
    assert value not in cov.seen(field_id, Platform.IOS)


def test_untracked_fields_have_an_empty_summary() -> None:
    cov = Coverage(PLAN)
    assert not cov.tracks(2) and not cov.tracks(99) and cov.tracks(1)
    empty = {"seen": [], "missing": [], "covered": 0, "total": 0, "complete": False}
    assert cov.summary(2, Platform.IOS) == empty
    assert cov.summary(99, Platform.IOS) == empty


def test_coverage_observes_the_checks_of_one_event() -> None:
    cov = Coverage(PLAN)
    payload = {"page": "home", "type": "EPISODE", "id": "x1", "flag": True}
    checks = check_event(PLAN, payload, "log")
    assert cov.observe(Platform.IOS, checks) == [(1, "home"), (4, "true")]
    assert cov.observe(Platform.IOS, checks) == []  # nothing new the second time
    missing_page = check_event(PLAN, {"flag": False}, "log")
    assert cov.observe(Platform.IOS, missing_page) == [(4, "false")]
    assert cov.summary(4, Platform.IOS)["complete"] is True


def test_coverage_restores_from_stored_rows() -> None:
    rows = [
        (1, Platform.IOS, "me"),
        (1, Platform.IOS, "home"),
        (1, Platform.IOS, "home"),  # duplicates are harmless
        (1, "Android", "search"),  # platforms as stored strings
        (1, Platform.IOS, "gone"),  # a value the plan no longer allows
        (42, Platform.IOS, "x"),  # a field that left the plan
    ]
    cov = Coverage.restore(PLAN, rows)
    assert cov.seen(1, Platform.IOS) == ["home", "me"]
    assert cov.seen(1, Platform.ANDROID) == ["search"]
    assert cov.add(1, Platform.IOS, "home") is False
    assert cov.add(1, Platform.IOS, "player") is True
    assert Coverage.restore(PLAN, []).seen(1, Platform.IOS) == []


def test_a_rule_fed_endless_distinct_values_keeps_its_memory_bounded() -> None:
    # A live session can see millions of distinct ids; the rule's memory of its
    # checks must stop growing (it used to be the cache-size assertion).
    reused = rule(("1", "2"))
    for number in range(1_000):
        check_field(reused, True, f"id-{number}")
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for number in range(1_000, 21_000):
            check_field(reused, True, f"id-{number}")
        grown_bytes = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown_bytes < 200_000, f"the rule kept {grown_bytes} bytes for 20,000 more values"
