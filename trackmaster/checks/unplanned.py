"""Unplanned properties: what a caught event sends that the plan does not list for it.

Pure and cheap, because it runs for every caught event: `PlannedKeys` is built
once per event plan (when a live snapshot loads the plan), and finding the
unplanned properties of a payload is one walk of its properties object that
stops at every planned key. The rules, with examples, are in docs/checks.md
("Unplanned properties").

- **What is a property** depends on the source (`PROPERTY_ROOTS`): the whole
  raw log for Jet and `/collect` raw logs (minus Jet's `$`-keys and the keys
  the event's name, user and time are read from); `properties` for Segment,
  `/collect` in the SDK shape, Mixpanel, PostHog, GA4 (its params) and
  Snowplow; `event_properties` for Amplitude. The rest of an SDK message is
  its envelope (Segment's `context.*`, `integrations`, ids and times;
  Amplitude's device fields and `user_properties`) and is never reported.
  Keys starting with `$` (Jet, Mixpanel and PostHog SDK keys) never are either.
- **The highest unplanned key** is reported, not every leaf under it: an object
  `extra: {...}` that no planned key goes into is one property, `extra`.
- **Arrays**: a planned key walks into arrays by index (`items.0.sku`); an
  unplanned key inside an array is written with `[]` (`items[].sku`), its JSON
  path with `[*]` (`$.items[*].sku`).
- **Did you mean**: a planned key beside it (same parent) that differs only in
  case or separators (`Screen_Name`, `screenName` for `screen_name`), or is
  a small edit away (`curency` for `currency`: 1 edit for names of 4 to 8
  characters, 2 from 9).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from trackmaster.checks.lookup import key_parts

ARRAY = "[]"  # the path part of "any element of an array"
# Properties read per event at most (nodes visited); a bigger payload gets one more entry
# saying so, never a silent pass.
MAX_NODES = 2000
TOO_MANY_KEY = "(more properties than TrackMaster reads)"
# Names shorter than this get no edit-distance suggestion ("id" vs "ip" is no near miss).
MIN_EDIT_CHARS = 4
# A key (and its path) is kept to this many characters; its identity (the digest) is
# of the whole key, so two long keys that begin alike stay two properties.
MAX_KEY_CHARS = 1000
# Suggestions remembered per event plan (unplanned keys repeat: the same misspelling
# arrives with every event).
MEMO_SIZE = 4096


@dataclass(frozen=True, slots=True)
class Root:
    """Where a source keeps its properties, and which of its keys are the envelope."""

    section: str | None  # None: the top level of the payload
    envelope: frozenset[tuple[str, ...]] = frozenset()


_LOG_ENVELOPE = frozenset(
    key_parts(k)
    for k in (
        "event_info.event", "event", "user_id", "userId", "time", "timestamp", "id",
        "messageId", "writeKey", "os", "platform", "os_name",
    )
)  # fmt: skip
_LOG = Root(None, _LOG_ENVELOPE)
_PROPERTIES = Root("properties")
PROPERTY_ROOTS: dict[str, Root] = {
    "jet": _LOG,
    "collect": _PROPERTIES,
    "segment": _PROPERTIES,
    "amplitude": Root("event_properties"),
    # Mixpanel's SDKs add mp_lib and friends beside the $-keys; distinct_id, time and
    # token are where the parser reads the user, the time and the project.
    "mixpanel": Root(
        "properties",
        frozenset(
            (k,) for k in ("distinct_id", "time", "token", "mp_lib", "mp_processing_time_ms")
        ),
    ),
    "posthog": Root("properties", frozenset((k,) for k in ("distinct_id", "token", "api_key"))),
    # The parameters every GA4 tag sends, whichever the event, and those the platform is
    # read from (GA4 has no other place for it).
    "ga4": Root(
        "properties",
        frozenset(
            (k,)
            for k in (
                "session_id",
                "engagement_time_msec",
                "debug_mode",
                "platform",
                "os",
                "os_name",
            )
        ),
    ),
    "snowplow": Root("properties", frozenset({("action",)})),  # a structured event's name
}


def root_for(source: str, style: str) -> Root:
    """The root of a caught event's properties from its source and lookup style."""
    if style == "log":
        return _LOG
    return PROPERTY_ROOTS.get(source, _PROPERTIES)


@dataclass(frozen=True, slots=True)
class Unplanned:
    """One unplanned property of one caught event."""

    key: str  # "content_info.curency", "items[].sku"
    path: str  # its JSON path below where field keys are looked up: "$.content_info.curency"
    suggestion: str = ""  # the planned key it may be a misspelling of
    digest: str = ""  # key_digest(key), made once per plan with the rest

    code = "unplanned_property"

    @property
    def reason(self) -> str:
        if self.key == TOO_MANY_KEY:
            return f"the event has more than {MAX_NODES} properties; the rest were not read"
        hint = f"; did you mean {self.suggestion}?" if self.suggestion else ""
        return f"not in the plan of this event{hint}"


def key_digest(key: str) -> str:
    """The identity of an unplanned property's key, exact on any collation."""
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def key_text(parts: Iterable[str]) -> str:
    text = ""
    for part in parts:
        text += part if part == ARRAY else (f".{part}" if text else part)
    return text


def json_path(parts: Iterable[str]) -> str:
    path = "$"
    for part in parts:
        if part == ARRAY:
            path += "[*]"
        elif _IDENT.fullmatch(part):
            path += f".{part}"
        else:
            path += "['" + part.replace("\\", "\\\\").replace("'", "\\'") + "']"
    return path


def _cut(text: str) -> str:
    return text if len(text) <= MAX_KEY_CHARS else text[: MAX_KEY_CHARS - 1] + "…"


def _split(key: str) -> tuple[str, ...]:
    return key_parts(key) if ("." in key or "$$" in key) else (key,)


def _folded(text: str) -> str:
    return text.casefold().replace("_", "").replace("-", "").replace(" ", "")


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (adjacent swaps count 1), or limit + 1 beyond limit."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = ca != cb
            best = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                best = min(best, previous2[j - 2] + 1)
            current[j] = best
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def _edit_limit(name: str) -> int:
    if len(name) < MIN_EDIT_CHARS:
        return 0
    return 1 if len(name) <= 8 else 2


# Levels remembered per node of the planned tree (see _Level), and the most keys a
# remembered level may have: payloads of one event mostly have the same few shapes.
LEVELS_PER_NODE = 64
MAX_LEVEL_KEYS = 64


class _Node:
    """A step of a planned path: `planned` covers it and everything below it."""

    __slots__ = ("children", "levels", "planned")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.planned = False
        # The object keys met at this node (in order) -> what the walk does with them.
        self.levels: dict[tuple[str, ...], _Level] = {}


class _Level:
    """What the walk does with one object's keys at one node: the same for every payload
    with those keys in that order, whatever their values (but whether a value to go
    into is an object or an array, which the walk still asks of each value)."""

    __slots__ = ("into", "reports")

    def __init__(
        self, reports: list[tuple[str, ...]], into: list[tuple[str, _Node, tuple[str, ...]]]
    ) -> None:
        self.reports = reports  # unplanned paths, relative to the object, in the order met
        self.into = into  # (key, node, relative path) to walk below when the value is a container


def _level(tree: _Node, keys: tuple[str, ...], top: bool) -> _Level:
    """One object's keys judged at `tree`, as the walk in find_unplanned judges them."""
    reports: dict[tuple[str, ...], None] = {}
    into: list[tuple[str, _Node, tuple[str, ...]]] = []
    children = tree.children
    for key in keys:
        if top and key[:1] == "$":
            continue  # Jet's, Mixpanel's and PostHog's SDK keys
        if "." in key or "$$" in key:
            # A flattened web-log key ("page_info$$id") or a literal dot: step by step.
            split = key_parts(key)
            node: _Node | None = tree
            for end, part in enumerate(split, 1):
                node = node.children.get(part) if node is not None else None
                if node is None:
                    reports.setdefault(split[:end], None)
                    break
                if node.planned:
                    break
            else:
                if node is not None:
                    into.append((key, node, split))
            continue
        child = children.get(key)
        if child is None:
            reports.setdefault((key,), None)
        elif not child.planned:
            into.append((key, child, (key,)))
        # A scalar where the plan wants an object: the field's own check fails.
    return _Level(list(reports), into)


PlannedNode = _Node  # what PlannedKeys.tree gives (trackmaster/checks/judge.py walks it)


@dataclass(eq=False)
class PlannedKeys:
    """The planned keys of one event, ready for the walk (built once per plan snapshot)."""

    keys: tuple[str, ...]
    _variants: dict[Root, _Node] = field(default_factory=dict, repr=False)
    _siblings: dict[tuple[str, ...], list[tuple[str, ...]]] = field(
        default_factory=dict, repr=False
    )
    _memo: dict[tuple[str, ...], str] = field(default_factory=dict, repr=False)
    _made: dict[tuple[str, ...], Unplanned] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for parts in self._planned_parts():
            for end in range(1, len(parts) + 1):
                node = parts[:end]
                siblings = self._siblings.setdefault(node[:-1], [])
                if node not in siblings:
                    siblings.append(node)

    def _planned_parts(self) -> list[tuple[str, ...]]:
        found: list[tuple[str, ...]] = []
        for key in self.keys:
            parts = key_parts(key)
            if not key or not all(parts):
                continue
            found.append(parts)
            # An index in a planned key ("items.0.sku") also plans every element's key.
            if any(p.isdigit() for p in parts):
                found.append(tuple(ARRAY if p.isdigit() else p for p in parts))
        return found

    def tree(self, root: Root) -> _Node:
        """The planned paths (and the source's envelope) as a tree, built once per root."""
        got = self._variants.get(root)
        if got is None:
            got = self._variants[root] = _Node()
            for parts in [*self._planned_parts(), *root.envelope]:
                node = got
                for part in parts:
                    if node.planned:
                        break  # a planned object covers everything below it
                    node = node.children.setdefault(part, _Node())
                else:
                    node.planned, node.children = True, {}
        return got

    def unplanned(self, parts: tuple[str, ...]) -> Unplanned:
        """The report of an unplanned path, made once per plan (the same keys keep coming)."""
        made = self._made.get(parts)
        if made is None:
            if parts == (TOO_MANY_KEY,):
                made = Unplanned(TOO_MANY_KEY, "$", "", key_digest(TOO_MANY_KEY))
            else:
                key = key_text(parts)
                made = Unplanned(
                    _cut(key), _cut(json_path(parts)), self.suggestion(parts), key_digest(key)
                )
            if len(self._made) >= MEMO_SIZE:
                self._made.clear()
            self._made[parts] = made
        return made

    def suggestion(self, parts: tuple[str, ...]) -> str:
        """The planned key (beside it, same parent) `parts` is probably a misspelling of."""
        memo = self._memo
        found = memo.get(parts)
        if found is not None:
            return found
        found = ""
        name = parts[-1]
        candidates = self._siblings.get(parts[:-1], ())
        folded = _folded(name)
        limit = _edit_limit(name)
        best = limit + 1
        for candidate in candidates:
            other = candidate[-1]
            if other == name:
                continue
            if _folded(other) == folded:
                found = key_text(candidate)
                break
            if limit:
                distance = edit_distance(name.casefold(), other.casefold(), limit)
                if distance < best:
                    best, found = distance, key_text(candidate)
        if len(memo) >= MEMO_SIZE:
            memo.clear()
        memo[parts] = found
        return found


def find_unplanned(planned: PlannedKeys, payload: Any, root: Root) -> list[Unplanned]:
    """The unplanned properties of one payload, in the order met (each key once).

    One walk that follows the tree of planned keys: a key the tree does not have is
    reported (with the path to it) and not gone into; a planned key is not gone into
    either; only keys some planned key goes below are walked further.

    Each object's keys are judged once per node and shape (`_Level`, remembered on the
    node): the next payload with the same keys in the same order costs one lookup per
    object instead of one per key. Arrays, and a payload over MAX_NODES, take the
    plain walk (`_walk`), which gives the same answer key by key.
    """
    if type(payload) is not dict:
        return []
    start = payload if root.section is None else payload.get(root.section)
    if type(start) is not dict or not start:
        return []
    seen: dict[tuple[str, ...], None] = {}
    stack: list[tuple[Any, _Node, tuple[str, ...]]] = [(start, planned.tree(root), ())]
    nodes = 0
    while stack:
        obj, tree, parts = stack.pop()
        if type(obj) is not dict or len(obj) > MAX_LEVEL_KEYS:
            return _walk(planned, start, root)
        nodes += len(obj)
        if nodes > MAX_NODES:
            return _walk(planned, start, root)
        keys = tuple(obj)
        level = tree.levels.get(keys)
        if level is None:
            level = _level(tree, keys, not parts)
            if len(tree.levels) < LEVELS_PER_NODE:
                tree.levels[keys] = level
        for relative in level.reports:
            seen.setdefault(parts + relative if parts else relative, None)
        for key, node, relative in level.into:
            value = obj[key]
            if type(value) in (dict, list):
                stack.append((value, node, parts + relative if parts else relative))
    return [planned.unplanned(path) for path in seen]


def _walk(planned: PlannedKeys, start: dict[str, Any], root: Root) -> list[Unplanned]:
    """find_unplanned key by key, for arrays and payloads over MAX_NODES."""
    seen: dict[tuple[str, ...], None] = {}
    stack: list[tuple[Any, _Node, tuple[str, ...]]] = [(start, planned.tree(root), ())]
    nodes = 0
    while stack:
        obj, tree, parts = stack.pop()
        children = tree.children
        items = obj.items() if type(obj) is dict else [(ARRAY, v) for v in obj]
        for key, value in items:
            nodes += 1
            if nodes > MAX_NODES:
                seen[(TOO_MANY_KEY,)] = None
                stack.clear()
                break
            if not parts and key[:1] == "$":
                continue  # Jet's, Mixpanel's and PostHog's SDK keys
            if key != ARRAY and ("." in key or "$$" in key):
                # A flattened web-log key ("page_info$$id") or a literal dot: step by step.
                split = key_parts(key)
                node: _Node | None = tree
                for end, part in enumerate(split, 1):
                    node = node.children.get(part) if node is not None else None
                    if node is None:
                        seen.setdefault(parts + split[:end], None)
                        break
                    if node.planned:
                        break
                else:
                    if node is not None and type(value) in (dict, list):
                        stack.append((value, node, parts + split))
                continue
            child = children.get(key)
            if child is None:
                path = (*parts, key)
                if path not in seen:
                    seen[path] = None
            elif not child.planned and type(value) in (dict, list):
                stack.append((value, child, (*parts, key)))
            # A scalar where the plan wants an object: the field's own check fails.
    return [planned.unplanned(path) for path in seen]
