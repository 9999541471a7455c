"""EventJudge gives exactly check_event's checks and find_unplanned's properties.

The judge (trackmaster/checks/judge.py) reads every field in one walk and skips
unplanned detection's own walk when the payload holds only planned keys; the
rules' code is the reference. For any payload and plan, first time and every time
after (caches filled), both answers must be the same, in the same order.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from trackmaster.checks import FieldRule, check_event
from trackmaster.checks.judge import EventJudge
from trackmaster.checks.rules import parse_rules
from trackmaster.checks.unplanned import PROPERTY_ROOTS, PlannedKeys, Root, find_unplanned, root_for

# Keys near each other, flattened and dotted, $-keys, indexes, SDK sections, envelopes.
PARTS = [
    "page", "name", "id", "nmae", "items", "sku", "a", "b", "0", "1", "$os", "event",
    "properties", "event_properties", "context", "user_properties", "distinct_id", "x",
]  # fmt: skip
KEY_TEXT = st.lists(st.sampled_from([*PARTS, "page$$id", "a.b", ""]), min_size=1, max_size=3).map(
    ".".join
)
KEYS = st.sampled_from([*PARTS, "page$$id", "page.name", "a.b", "Page", "[]"])
VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-5, 5),
        st.floats(allow_nan=False),
        st.sampled_from(["home", "x", "", "1", "true", "id-1-2"]),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=20,
)
PAYLOADS = st.one_of(
    st.dictionaries(KEYS, VALUES, max_size=6),
    # Most events: an SDK message whose properties hold the planned keys.
    st.fixed_dictionaries(
        {"event": st.just("e"), "properties": st.dictionaries(KEYS, VALUES, max_size=6)},
        optional={"context": st.dictionaries(KEYS, VALUES, max_size=3), "$os": st.just("iOS")},
    ),
    VALUES,
)
TYPED = st.sampled_from(
    [
        None,
        {"type": "string"},
        {"type": "number", "min": 0},
        {"pattern": "id-[0-9]+"},
        {"required": False},
    ]
)
ALLOWED = st.sampled_from([(), ("home",), ("home", "x"), ("1", "true")])
ROOTS = st.sampled_from([*PROPERTY_ROOTS.values(), root_for("jet", "log"), Root("properties")])


def answer(found: list[Any]) -> list[tuple[str, str, str, str]]:
    return [(u.key, u.path, u.suggestion, u.digest) for u in found]


@settings(max_examples=500, deadline=None)
@given(
    keys=st.lists(KEY_TEXT, max_size=6),
    allowed=st.lists(ALLOWED, min_size=6, max_size=6),
    typed=st.lists(TYPED, min_size=6, max_size=6),
    payloads=st.lists(PAYLOADS, min_size=1, max_size=4),
    style=st.sampled_from(["log", "sdk"]),
    root=ROOTS,
)
def test_the_judge_answers_as_the_rules(
    keys: list[str], allowed: list[tuple], typed: list, payloads: list, style: str, root: Root
) -> None:
    rules = [FieldRule(i + 1, key, allowed[i], parse_rules(typed[i])) for i, key in enumerate(keys)]
    planned = PlannedKeys(tuple(keys))
    judge = EventJudge(rules, planned)
    reference = PlannedKeys(tuple(keys))
    for payload in [*payloads, *payloads]:  # the second round meets filled caches
        checks, unplanned = judge.judge(payload, style, root)  # type: ignore[arg-type]
        assert checks == check_event(rules, payload, style)  # type: ignore[arg-type]
        assert answer(unplanned) == answer(find_unplanned(reference, payload, root))


def test_an_event_of_planned_keys_only_skips_the_detection_and_is_still_checked() -> None:
    rules = [FieldRule(1, "page.name", ("home", "me")), FieldRule(2, "page.id", ())]
    judge = EventJudge(rules, PlannedKeys(("page.name", "page.id")))
    root = root_for("segment", "sdk")
    clean = {"event": "e", "properties": {"page": {"name": "home", "id": "p-1"}}}
    checks, unplanned = judge.judge(clean, "sdk", root)
    assert [c.verdict.value for c in checks] == ["SUCCESS", "UNCERTAIN"]
    assert unplanned == []
    misspelt = {"event": "e", "properties": {"page": {"nmae": "home", "id": "p-1"}}}
    checks, unplanned = judge.judge(misspelt, "sdk", root)
    assert [c.code for c in checks] == ["not_found", "needs_review"]
    assert [(u.key, u.suggestion) for u in unplanned] == [("page.nmae", "page.name")]


def test_a_field_elsewhere_than_the_first_section_is_still_found() -> None:
    rules = [FieldRule(1, "os.name", ("iOS",)), FieldRule(2, "page$$id", ())]
    judge = EventJudge(rules, PlannedKeys(("os.name", "page$$id")))
    payload = {"properties": {"page$$id": "p"}, "context": {"os": {"name": "iOS"}}}
    checks, _ = judge.judge(payload, "sdk", root_for("segment", "sdk"))
    assert [(c.found, c.value) for c in checks] == [(True, "iOS"), (True, "p")]


def test_sdk_dollar_keys_are_skipped_at_the_top_only_as_the_detection_skips_them(
    monkeypatch,
) -> None:
    from trackmaster.checks import judge as module

    rules = [FieldRule(1, "page.name", ("home",))]
    planned = PlannedKeys(("page.name",))
    judge = EventJudge(rules, planned)
    root = root_for("mixpanel", "sdk")
    top = {"event": "e", "properties": {"$os": "iOS", "distinct_id": "u", "page": {"name": "home"}}}
    nested = {"event": "e", "properties": {"page": {"name": "home", "$x": 1}}}
    assert answer(judge.judge(nested, "sdk", root)[1]) == answer(
        find_unplanned(planned, nested, root)
    )
    assert [u.key for u in judge.judge(nested, "sdk", root)[1]] == ["page.$x"]

    def never(*args: object) -> list:
        raise AssertionError("the detection's own walk ran for planned keys and $-keys only")

    monkeypatch.setattr(module, "find_unplanned", never)
    checks, unplanned = judge.judge(top, "sdk", root)
    assert (checks[0].verdict.value, unplanned) == ("SUCCESS", [])


def _nest(keys: list[str], leaves: list[Any]) -> dict[str, Any]:
    """An object holding a value at each key's path (the last writer of a path wins)."""
    made: dict[str, Any] = {}
    for key, leaf in zip(keys, leaves, strict=False):
        parts = [p for p in key.replace("$$", ".").split(".") if p]
        if not parts:
            continue
        node = made
        for part in parts[:-1]:
            child = node.get(part)
            if type(child) is not dict:
                child = node[part] = {}
            node = child
        node[parts[-1]] = leaf
    return made


@settings(max_examples=400, deadline=None)
@given(
    keys=st.lists(KEY_TEXT, min_size=1, max_size=6),
    leaves=st.lists(VALUES, min_size=6, max_size=6),
    extra=st.one_of(st.none(), st.tuples(KEY_TEXT, VALUES)),
    dollar=st.booleans(),
    style=st.sampled_from(["log", "sdk"]),
    root=ROOTS,
)
def test_the_judge_answers_as_the_rules_for_events_of_planned_keys(
    keys: list[str], leaves: list, extra: Any, dollar: bool, style: str, root: Root
) -> None:
    """Payloads built from the plan's own keys (the shortcut's case), with at most one key
    more and perhaps a $-key at the top, where random payloads seldom go."""
    rules = [FieldRule(i + 1, key, ("home", "x"), parse_rules(None)) for i, key in enumerate(keys)]
    planned = PlannedKeys(tuple(keys))
    judge = EventJudge(rules, planned)
    properties = _nest(keys, leaves)
    if extra is not None:
        properties = {**_nest([extra[0]], [extra[1]]), **properties}
    if dollar:
        properties["$lib"] = "web"
    for payload in (
        {"event": "e", "properties": properties},
        properties,
        {"event": "e", "event_properties": properties},
    ):
        for _ in range(2):
            checks, unplanned = judge.judge(payload, style, root)  # type: ignore[arg-type]
            assert checks == check_event(rules, payload, style)  # type: ignore[arg-type]
            assert answer(unplanned) == answer(find_unplanned(planned, payload, root))


def test_a_string_judged_before_is_the_rules_cached_check_and_other_kinds_are_not_it() -> None:
    """The judge keeps, per rule, the checks of strings the rule's cache holds: a string met
    again gives that very object (what check_event gives), and a number or boolean whose
    text is the same string is still judged as itself (the type first)."""
    rules = [
        FieldRule(1, "page.name", ("home", "1", "true"), parse_rules({"type": "string"})),
        FieldRule(2, "n", ("1", "2")),
        FieldRule(3, "page.id", ()),  # dynamic: never cached, so never kept
    ]
    judge = EventJudge(rules, PlannedKeys(tuple(r.key for r in rules)))
    root = root_for("segment", "sdk")
    strings = {"properties": {"page": {"name": "1", "id": "p-1"}, "n": "1"}}
    others = {"properties": {"page": {"name": 1, "id": "p-1"}, "n": 1}}
    booleans = {"properties": {"page": {"name": True, "id": "p-1"}, "n": True}}
    first, _ = judge.judge(strings, "sdk", root)
    for _ in range(2):
        again, _ = judge.judge(strings, "sdk", root)
        assert again[0] is first[0] is rules[0].cache[(str, "1")]
        assert again[1] is first[1] is rules[1].cache[(str, "1")]
        assert again[2] is not first[2] and again[2] == first[2]
        assert again == check_event(rules, strings, "sdk")
        for payload in (others, booleans):
            checks, _ = judge.judge(payload, "sdk", root)
            assert checks == check_event(rules, payload, "sdk")
            assert checks[0].verdict.value == "FAIL" and checks[0].code == "type_mismatch"
            assert checks[1] is not first[1] and checks[1].kind != "string"
