"""find_unplanned's remembered levels give exactly the answer of the key-by-key walk.

The fast walk judges each object's keys once per node of the planned tree and
shape (trackmaster/checks/unplanned.py, `_Level`); the plain walk (`_walk`)
judges every key of every payload. Both must report the same keys, paths and
suggestions in the same order, for any payload, first time and every time after.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from trackmaster.checks import unplanned as module
from trackmaster.checks.unplanned import PlannedKeys, Root, find_unplanned

PLAN = PlannedKeys(
    ("page.name", "page.id", "content_info.currency", "items.0.sku", "page_info$$id", "a.b.c")
)
ROOTS = [
    Root(None, frozenset({("event",), ("userId",)})),
    Root("properties"),
    Root("properties", frozenset({("distinct_id",)})),
]
# Keys near the planned ones, flattened and dotted keys, $-keys, array-like keys.
KEYS = st.sampled_from([
    "page", "name", "id", "nmae", "content_info", "currency", "curency", "items", "sku", "a",
    "b", "c", "page_info$$id", "page.name", "a.b", "a.x", "$os", "[]", "0", "extra", "Page",
    "properties", "event", "userId", "distinct_id",
])  # fmt: skip
VALUES = st.recursive(
    st.one_of(st.none(), st.integers(), st.text(max_size=3)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=5)),
    max_leaves=25,
)
PAYLOADS = st.dictionaries(KEYS, VALUES, max_size=6).map(
    lambda d: d if "properties" in d else {**d, "properties": dict(d)}
)


def answer(found: list[Any]) -> list[tuple[str, str, str, str]]:
    return [(u.key, u.path, u.suggestion, u.digest) for u in found]


@settings(max_examples=200, deadline=None)
@given(payloads=st.lists(PAYLOADS, min_size=1, max_size=4), root=st.sampled_from(ROOTS))
def test_remembered_levels_answer_as_the_plain_walk(payloads: list[dict], root: Root) -> None:
    plan = PlannedKeys(PLAN.keys)
    for payload in [*payloads, *payloads]:  # the second round meets remembered levels
        start = payload if root.section is None else payload.get(root.section)
        plain = module._walk(plan, start, root) if isinstance(start, dict) and start else []
        assert answer(find_unplanned(plan, payload, root)) == answer(plain)


def test_a_level_seen_before_is_remembered_and_still_reported() -> None:
    plan = PlannedKeys(("page.name",))
    root = Root("properties")
    payload = {"properties": {"page": {"name": "x", "nmae": "y"}, "extra": 1}}
    first = answer(find_unplanned(plan, payload, root))
    tree = plan.tree(root)
    assert ("page", "extra") in tree.levels  # the top level's keys, remembered
    assert answer(find_unplanned(plan, payload, root)) == first
    assert [key for key, *_ in first] == ["extra", "page.nmae"]


def test_remembered_levels_are_bounded_per_node() -> None:
    plan = PlannedKeys(("page.name",))
    root = Root("properties")
    for n in range(module.LEVELS_PER_NODE * 3):
        found = find_unplanned(plan, {"properties": {f"k{n}": 1, "page": {"name": 1}}}, root)
        assert [u.key for u in found] == [f"k{n}"]
    assert len(plan.tree(root).levels) == module.LEVELS_PER_NODE


def test_over_max_nodes_the_plain_walk_says_so() -> None:
    plan = PlannedKeys(("page.name",))
    root = Root("properties")
    wide = {f"g{n}": {f"k{m}": m for m in range(40)} for n in range(60)}  # 2,460 keys
    plan_keys = PlannedKeys(tuple(f"g{n}.k0" for n in range(60)))
    found = find_unplanned(plan_keys, {"properties": wide}, root)
    assert found[-1].key == module.TOO_MANY_KEY
    assert answer(found) == answer(module._walk(plan_keys, wide, root))
    assert find_unplanned(plan, {"properties": {"page": {"name": 1}}}, root) == []
