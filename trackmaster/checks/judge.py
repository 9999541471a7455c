"""One event plan's checks and unplanned-property detection, made ready once per plan.

`check_event` and `find_unplanned` (verdicts.py, unplanned.py) are the rules; this
module gives their exact answers for a caught event in one walk of its payload,
because ingest runs them for every event (docs/checks.md). What the walk follows is
made once per plan and root (`_Node`): the fields' keys as a tree, merged with the
tree of planned keys that unplanned detection follows. The walk picks up every
field's value found on the direct path in the first place an event keeps its data,
and tells whether that object holds only planned keys (then no property is
unplanned, and the detection's own walk is skipped). Everything else takes the
rules' own code: a field not found on the direct path (flattened keys, arrays, the
later SDK sections), and an event with any key the plan does not list.
tests/test_checks_judge.py holds both answers to the rules' for any payload.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from trackmaster.checks.lookup import MISSING, LookupStyle, sdk_sections, walk
from trackmaster.checks.unplanned import (
    MAX_NODES,
    PlannedKeys,
    PlannedNode,
    Root,
    Unplanned,
    find_unplanned,
)
from trackmaster.checks.verdicts import FieldCheck, FieldRule, _check_found


class _Node:
    """One object of the walk: the fields read from it, the objects below it to go into,
    and the keys it may hold with nothing unplanned (None: the plan covers it whole)."""

    __slots__ = ("allowed", "branches", "indexes", "leaves")

    def __init__(self) -> None:
        # (key, index of the rule, the checks that rule made for a string value: `_Hits`)
        self.leaves: list[tuple[str, int, dict[str, FieldCheck]]] = []
        # (key, node, whether unplanned detection goes into that key's object or array,
        # whether that node is a last level: only leaves, walked inline)
        self.branches: list[tuple[str, _Node, bool, bool]] = []
        self.allowed: Any = None  # the planned children's keys (a dict's keys view) or None
        self.indexes: tuple[int, ...] = ()  # the rules read at or below this node


def _merged(
    rules: Sequence[FieldRule], planned: PlannedNode | None, hits: Sequence[dict[str, FieldCheck]]
) -> _Node:
    """The fields' key tree over the planned tree (`planned`: None when not walked by it)."""
    by_key: dict[str, list[tuple[int, tuple[str, ...]]]] = {}
    node = _Node()
    for index, rest in _rule_paths(rules):
        if len(rest) == 1:
            node.leaves.append((rest[0], index, hits[index]))
        else:
            by_key.setdefault(rest[0], []).append((index, rest[1:]))
    return _build(node, by_key, planned, hits)


def _rule_paths(rules: Sequence[FieldRule]) -> list[tuple[int, tuple[str, ...]]]:
    return [(index, rule.parts) for index, rule in enumerate(rules) if rule.parts]


def _build(
    node: _Node,
    by_key: dict[str, list[tuple[int, tuple[str, ...]]]],
    planned: PlannedNode | None,
    hits: Sequence[dict[str, FieldCheck]],
) -> _Node:
    children = planned.children if planned is not None and not planned.planned else None
    keys = list(by_key)
    if children is not None:
        node.allowed = children.keys()
        keys += [k for k, child in children.items() if not child.planned and k not in by_key]
    indexes = [index for _, index, _ in node.leaves]
    for key in keys:
        below = children.get(key) if children is not None else None
        goes_in = below is not None and not below.planned
        child = _Node()
        grouped: dict[str, list[tuple[int, tuple[str, ...]]]] = {}
        for index, rest in by_key.get(key, ()):
            if len(rest) == 1:
                child.leaves.append((rest[0], index, hits[index]))
            else:
                grouped.setdefault(rest[0], []).append((index, rest[1:]))
        child = _build(child, grouped, below if goes_in else None, hits)
        node.branches.append((key, child, goes_in, not child.branches))
        indexes += child.indexes
    node.indexes = tuple(indexes)
    return node


def _size(node: PlannedNode) -> int:
    return sum(1 + _size(child) for child in node.children.values())


def _fill(
    obj: dict[str, Any],
    node: _Node,
    found: list[Any],
    checks: list[Any],
    missed: list[int],
    top: bool = False,
) -> bool:
    """Read each field below `node`: its check in `checks` when its rule already made one
    for that string (`_Hits`), else its value (or MISSING) in `found` and its index in
    `missed`. True when `obj` and what unplanned detection goes into below it hold only
    planned keys (and, `top`, SDK keys starting with "$", which the detection never
    reports there)."""
    allowed = node.allowed
    clean = allowed is None or obj.keys() <= allowed
    if not clean and top:
        clean = all(key[:1] == "$" for key in obj.keys() - allowed)
    get = obj.get
    # (where to read, what): this object's own fields, then those of each last level
    # below it (the common "group.leaf" key: no call for the group).
    reads = [(get, node.leaves)]
    for key, below, goes_in, last in node.branches:
        child: Any = get(key)
        kind = type(child)
        if kind is dict:
            if last:
                if goes_in and below.allowed is not None and not child.keys() <= below.allowed:
                    clean = False
                reads.append((child.get, below.leaves))
            elif not _fill(child, below, found, checks, missed) and goes_in:
                clean = False
        else:
            missed += below.indexes  # not on the direct path: found stays MISSING
            if kind is list and goes_in:
                clean = False  # arrays: the detection's own walk decides
    for read, leaves in reads:
        for key, index, hits in leaves:
            value = read(key, MISSING)
            check = hits.get(value) if type(value) is str else None
            if check is None:
                found[index] = value
                missed.append(index)
            else:
                checks[index] = check
    return clean


class EventJudge:
    """`check_event` and `find_unplanned` of one event plan, in one walk (module docstring).

    `_hits[i]`: the checks rule i keeps in its cache (FieldRule.cache) for string values,
    by the string alone, so that a field whose value the rule has judged before is one
    lookup where the walk finds it. A check goes in only once it is in the rule's cache
    under (str, that string), whose entries are never replaced: the same object
    `_check_found` would give.
    """

    __slots__ = ("_hits", "_last", "_planned", "_rules", "_template", "_trees")

    def __init__(self, rules: Sequence[FieldRule], planned: PlannedKeys) -> None:
        self._rules = tuple(rules)
        self._hits: tuple[dict[str, FieldCheck], ...] = tuple({} for _ in self._rules)
        # What a walk starts from: a rule with no key is never found; the others are
        # filled by the walk.
        self._template: list[FieldCheck | None] = [
            None if r.parts else r.not_found for r in self._rules
        ]
        self._planned = planned
        # Root -> (the walk's tree, whether "only planned keys" proves "nothing unplanned")
        self._trees: dict[Root, tuple[_Node, bool]] = {}
        # The root asked last and its tree: the roots are a few constants (root_for),
        # and identity is asked before the dataclass's hash.
        self._last: tuple[Root, tuple[_Node, bool]] | None = None

    def _tree(self, root: Root) -> tuple[_Node, bool]:
        last = self._last
        if last is not None and last[0] is root:
            return last[1]
        got = self._trees.get(root)
        if got is None:
            planned = self._planned.tree(root)
            # A payload of only planned keys has at most this many: under MAX_NODES, the
            # detection never reports "more properties than TrackMaster reads" for it.
            got = self._trees[root] = (
                _merged(self._rules, planned, self._hits),
                _size(planned) <= MAX_NODES,
            )
        self._last = (root, got)
        return got

    def judge(
        self, payload: Any, style: LookupStyle, root: Root
    ) -> tuple[list[FieldCheck], list[Unplanned]]:
        """(check_event(rules, payload, style), find_unplanned(planned, payload, root))."""
        rules = self._rules
        if type(payload) is not dict:
            return [rule.not_found for rule in rules], []
        if style == "sdk":
            first = payload.get("properties")
            if type(first) is not dict:
                first = payload.get("event_properties")
                if type(first) is not dict:
                    first = payload
        else:
            first = payload
        start = payload if root.section is None else payload.get(root.section)
        tree, provable = self._tree(root)
        found = [MISSING] * len(rules)
        checks: list[Any] = self._template.copy()
        missed: list[int] = []
        clean = _fill(first, tree, found, checks, missed, first is start)
        if first is start and clean and provable:
            unplanned: list[Unplanned] = []
        else:
            unplanned = find_unplanned(self._planned, payload, root)
        sections: list[dict[str, Any]] | tuple[dict[str, Any], ...] | None = None
        for index in missed:
            rule = rules[index]
            value = found[index]
            if value is MISSING:
                if sections is None:
                    sections = sdk_sections(payload) if style == "sdk" else (payload,)
                for inner in sections:
                    value = walk(inner, rule.parts)
                    if value is not MISSING:
                        break
                if value is MISSING:
                    checks[index] = rule.not_found
                    continue
            checks[index] = check = _check_found(rule, value)
            if type(value) is str and rule.cache.get((str, value)) is check:
                self._hits[index][value] = check
        return checks, unplanned
