"""Read a plan file (YAML, JSON or CSV; docs/plans.md) into a snapshot, or say what is wrong.

Reading is all or nothing: every problem found is reported (up to
MAX_PROBLEMS), each with its line or row and the path of the entry, and
nothing is applied unless there is none.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, TypeVar

import yaml

from trackmaster.checks.rules import RuleError, parse_rules
from trackmaster.errors import InvalidParams, PayloadTooLarge
from trackmaster.plan.csvcells import restore
from trackmaster.plan.snapshot import (
    PlanEnumType,
    PlanEnumValue,
    PlanEvent,
    PlanField,
    PlanSnapshot,
    PlanStory,
    repeated_items,
)

_Made = TypeVar("_Made")

FORMAT = "trackmaster-plan/1"
FORMATS = ("yaml", "json", "csv")
MAX_PROBLEMS = 50
JSON_LINES_MAX_CHARS = 2 * 1024 * 1024  # bigger JSON plans are read without line numbers
CSV_COLUMNS = (
    "story", "story_description", "event", "event_description", "field", "type", "values", "note",
)  # fmt: skip
CSV_ID_COLUMNS = ("story_id", "event_id", "field_id")
# Optional columns of typed rules; `value_type` is the rules' `type` (`type` is the enum type).
CSV_RULE_COLUMNS = ("value_type", "required", "pattern", "min", "max", "min_length", "max_length")
# Column sizes of the models; a longer text would be cut or refused by MariaDB.
MAX_NAME = 255
MAX_TYPE_NAME = 200


class PlanFileError(InvalidParams):
    """The file is not a valid plan; `details` lists each problem with its line or row."""


def format_of(filename: str, explicit: str | None = None) -> str:
    if explicit:
        chosen = explicit.lower()
    else:
        suffix = PurePath(filename).suffix.lower().lstrip(".")
        chosen = {"yml": "yaml"}.get(suffix, suffix)
    if chosen not in FORMATS:
        raise PlanFileError(
            f"{filename}: cannot tell the plan format; name the file .yaml, .json or .csv",
            details=[{"error": f"unknown format {chosen!r}; one of {', '.join(FORMATS)}"}],
        )
    return chosen


def read_plan(
    content: bytes | str, filename: str, fmt: str | None = None, budget: ReadBudget | None = None
) -> PlanSnapshot:
    """Parse and check a whole plan file; raises PlanFileError naming every problem.

    CPU-heavy for big files: call it through `trackmaster.plan.reading`, which runs it
    off the event loop under a `ReadBudget` (nodes after alias expansion, a deadline).
    """
    budget = budget or ReadBudget()
    chosen = format_of(filename, fmt)
    try:
        text = content.decode("utf-8-sig") if isinstance(content, bytes) else content
    except UnicodeDecodeError as exc:
        raise PlanFileError(
            f"{filename}: not UTF-8 text (byte {exc.start}); save the file as UTF-8",
            details=[{"error": "not UTF-8"}],
        ) from None
    reader = _Reader(filename)
    if chosen == "csv":
        snapshot = reader.csv(text)
    else:
        snapshot = reader.document(_load_tree(text, filename, chosen, budget))
    # Repeats too, with the line (or row) of each second copy, in the same report as every
    # other problem: a file with four problems names four, not one per upload.
    unit = "row" if chosen == "csv" else "line"
    for item, problem in repeated_items(snapshot):
        reader.problem(reader.lines.get(id(item)), "", problem, unit=unit)
    reader.raise_if_any()
    return snapshot


# --- budgets -----------------------------------------------------------------------------


class PlanTooComplex(PayloadTooLarge):
    """The file is over a reading budget (nodes after alias expansion, or time)."""


@dataclass
class ReadBudget:
    """How much one plan file may cost to read. A YAML alias bomb of 1.3 KB expands to
    billions of nodes: the count is taken after expansion, before anything walks the tree."""

    max_nodes: int = 2_000_000
    deadline: float = float("inf")  # time.monotonic() value

    def check_time(self, filename: str) -> None:
        if time.monotonic() > self.deadline:
            raise PlanTooComplex(
                f"{filename}: reading it took too long (PLAN_PARSE_TIMEOUT_S); split the plan "
                "or simplify it"
            )

    def check_nodes(self, root: yaml.Node | None, filename: str) -> None:
        count = _expanded_size(root, self.max_nodes)
        if count > self.max_nodes:
            raise PlanTooComplex(
                f"{filename}: holds more than {self.max_nodes} entries once its aliases are "
                "expanded (PLAN_MAX_NODES)"
            )


def _expanded_size(root: yaml.Node | None, cap: int) -> int:
    """Nodes of the tree an alias-expanding walk would visit, counted once per shared
    node (memoised, so linear in the file), stopping past `cap`."""
    if root is None:
        return 0
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if not children_done:
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            continue
        sizes[id(node)] = min(cap + 1, 1 + sum(sizes.get(id(child), 0) for child in children))
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


# --- parsing with line numbers ----------------------------------------------------------


class _Lined(dict[Hashable, Any]):
    line: int | None = None
    key_lines: dict[Any, int] | None = None


class _LinedList(list[Any]):
    line: int | None = None


class _LineLoader(yaml.SafeLoader):
    """A safe YAML loader whose mappings and lists remember the line they start on, and
    that keeps to a ReadBudget: the time, checked as nodes are composed, and the node
    count after alias expansion, checked before anything is constructed."""

    budget: ReadBudget = ReadBudget()
    filename = "plan"
    _composed = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._composed += 1
        if self._composed % 1000 == 0:
            self.budget.check_time(self.filename)
        return super().compose_node(parent, index)

    def get_single_node(self) -> Any:
        node = super().get_single_node()
        self.budget.check_nodes(node, self.filename)
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> _Lined:
        mapping = _Lined(super().construct_mapping(node, deep=True))
        mapping.line = node.start_mark.line + 1
        mapping.key_lines = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                mapping.key_lines[key_node.value] = key_node.start_mark.line + 1
        return mapping

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> _LinedList:
        sequence = _LinedList(super().construct_sequence(node, deep=True))
        sequence.line = node.start_mark.line + 1
        return sequence


_LineLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _LineLoader.construct_mapping
)
_LineLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _LineLoader.construct_sequence
)


def _load_yaml(text: str, filename: str, budget: ReadBudget) -> Any:
    loader = _LineLoader(text)  # a SafeLoader subclass: no arbitrary objects
    loader.budget, loader.filename = budget, filename
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _load_tree(text: str, filename: str, fmt: str, budget: ReadBudget) -> Any:
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PlanFileError(
                f"{filename} line {exc.lineno}: not valid JSON ({exc.msg}, column {exc.colno})",
                details=[{"line": exc.lineno, "error": f"{exc.msg} (column {exc.colno})"}],
            ) from None
        except RecursionError:
            raise PlanTooComplex(f"{filename}: nests too deep") from None
        # JSON is YAML: read it again to learn the line of each entry for the messages.
        # Pure-Python YAML is ~100 times slower than json, so only for files of a usual
        # size and within half the time left; past either, messages go without lines.
        if len(text) > JSON_LINES_MAX_CHARS:
            return data
        remaining_s = budget.deadline - time.monotonic()
        for_lines = ReadBudget(budget.max_nodes, time.monotonic() + remaining_s / 2)
        try:
            lined = _load_yaml(text, filename, for_lines)
        except (yaml.YAMLError, PlanTooComplex, RecursionError):
            return data
        return lined if lined == data else data
    try:
        return _load_yaml(text, filename, budget)
    except RecursionError:
        raise PlanTooComplex(f"{filename}: nests too deep") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        where = f" line {line}" if line else ""
        raise PlanFileError(
            f"{filename}{where}: not valid YAML ({problem})",
            details=[{"line": line, "error": problem}],
        ) from None


class _Reader:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.problems: list[dict[str, Any]] = []
        # Where each story, event, field, enum type and value was read (by object id).
        self.lines: dict[int, int] = {}

    def _at(self, made: _Made, source: Any) -> _Made:
        line = getattr(source, "line", None) if not isinstance(source, int) else source
        if line is not None:
            self.lines[id(made)] = line
        return made

    def problem(self, line: int | None, path: str, error: str, *, unit: str = "line") -> None:
        if len(self.problems) < MAX_PROBLEMS:
            entry: dict[str, Any] = {"error": error}
            if line is not None:
                entry[unit] = line
            if path:
                entry["path"] = path
            self.problems.append(entry)

    def raise_if_any(self) -> None:
        if not self.problems:
            return
        first = self.problems[0]
        place = next((f" {unit} {first[unit]}" for unit in ("line", "row") if unit in first), "")
        path = f" ({first['path']})" if first.get("path") else ""
        more = f" and {len(self.problems) - 1} more problem(s)" if len(self.problems) > 1 else ""
        raise PlanFileError(
            f"{self.filename}{place}{path}: {first['error']}{more}", details=self.problems
        )

    # --- YAML and JSON ---------------------------------------------------------------

    def document(self, tree: Any) -> PlanSnapshot:
        snapshot = PlanSnapshot(complete=True)
        if not isinstance(tree, dict):
            self.problem(1, "", "the file must hold a mapping with `stories` (see docs/plans.md)")
            return snapshot
        self._known_keys(tree, "", {"format", "enum_types", "stories"})
        if tree.get("format", FORMAT) != FORMAT:
            self.problem(_line(tree), "format", f"must be {FORMAT!r}, got {tree.get('format')!r}")
        if "stories" not in tree:
            self.problem(_line(tree), "stories", "is missing (an empty plan is `stories: []`)")
        snapshot.enum_types = self._each(tree, "enum_types", "", self._enum_type)
        snapshot.stories = self._each(tree, "stories", "", self._story)
        return snapshot

    def _each(
        self, parent: dict[str, Any], key: str, path: str, read: Callable[[Any, str], Any]
    ) -> list[Any]:
        items = parent.get(key)
        here = f"{path}.{key}" if path else key
        if items is None:
            return []
        if not isinstance(items, list):
            self.problem(_line(items, parent, key), here, f"must be a list, got {_kind(items)}")
            return []
        found = []
        for n, item in enumerate(items):
            value = read(item, f"{here}[{n}]")
            if value is not None:
                found.append(value)
        return found

    def _known_keys(self, item: dict[str, Any], path: str, allowed: set[str]) -> None:
        for key in item:
            if key not in allowed:
                self.problem(
                    _line(None, item, key),
                    f"{path}.{key}" if path else str(key),
                    f"unknown key (expected one of {', '.join(sorted(allowed))})",
                )

    def _mapping(self, item: Any, path: str, allowed: set[str], shorthand: str = "") -> Any:
        if shorthand and isinstance(item, str | int | float) and not isinstance(item, bool):
            return {shorthand: str(item)}
        if not isinstance(item, dict):
            self.problem(_line(item), path, f"must be a mapping, got {_kind(item)}")
            return None
        self._known_keys(item, path, allowed)
        return item

    def _text(
        self, item: dict[str, Any], key: str, path: str, *, required: bool = False, limit: int = 0
    ) -> str:
        value = item.get(key)
        here = f"{path}.{key}"
        line = _line(None, item, key)
        if value is None:
            if required:
                self.problem(line, here, "is missing")
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.problem(line, here, f"must be text, got {_kind(value)}")
            return ""
        text = str(value)
        if required and not text.strip():
            self.problem(line, here, "must not be empty")
        if limit and len(text) > limit:
            self.problem(line, here, f"is {len(text)} characters long; at most {limit}")
        return text.strip() if required else text

    def _enum_type(self, item: Any, path: str) -> PlanEnumType | None:
        item = self._mapping(item, path, {"name", "id", "status", "values"})
        if item is None:
            return None
        made = PlanEnumType(
            name=self._text(item, "name", path, required=True, limit=MAX_TYPE_NAME),
            ext_id=self._text(item, "id", path) or None,
            status=self._text(item, "status", path),
            values=self._each(item, "values", path, self._enum_value),
        )
        return self._at(made, item)

    def _enum_value(self, item: Any, path: str) -> PlanEnumValue | None:
        allowed = {"name", "id", "description", "deprecated"}
        item = self._mapping(item, path, allowed, shorthand="name")
        if item is None:
            return None
        deprecated = item.get("deprecated", False)
        if not isinstance(deprecated, bool):
            self.problem(
                _line(None, item, "deprecated"), f"{path}.deprecated", "must be true or false"
            )
        made = PlanEnumValue(
            name=self._text(item, "name", path, required=True, limit=MAX_NAME),
            ext_id=self._text(item, "id", path) or None,
            description=self._text(item, "description", path),
            deprecated=bool(deprecated),
        )
        return self._at(made, item)

    def _story(self, item: Any, path: str) -> PlanStory | None:
        item = self._mapping(item, path, {"name", "id", "description", "events"})
        if item is None:
            return None
        made = PlanStory(
            name=self._text(item, "name", path, required=True, limit=MAX_NAME),
            ext_id=self._text(item, "id", path) or None,
            description=self._text(item, "description", path),
            events=self._each(item, "events", path, self._event),
        )
        return self._at(made, item)

    def _event(self, item: Any, path: str) -> PlanEvent | None:
        item = self._mapping(item, path, {"name", "id", "description", "fields"})
        if item is None:
            return None
        made = PlanEvent(
            name=self._text(item, "name", path, required=True, limit=MAX_NAME),
            ext_id=self._text(item, "id", path) or None,
            description=self._text(item, "description", path),
            fields=self._each(item, "fields", path, self._field),
        )
        return self._at(made, item)

    def _field(self, item: Any, path: str) -> PlanField | None:
        item = self._mapping(item, path, {"key", "id", "type", "values", "note", "rules"})
        if item is None:
            return None
        type_name = self._text(item, "type", path, limit=MAX_TYPE_NAME)
        made = PlanField(
            key=self._text(item, "key", path, required=True, limit=MAX_NAME),
            ext_id=self._text(item, "id", path) or None,
            type_ref=type_name,
            type_name=type_name,
            raw_values=self._values(item, path),
            note=self._text(item, "note", path),
            rules=self._rules(item, path),
        )
        return self._at(made, item)

    def _rules(self, item: dict[str, Any], path: str) -> dict[str, Any]:
        raw = item.get("rules")
        if raw is None:
            return {}
        here = f"{path}.rules"
        if not isinstance(raw, dict):
            self.problem(_line(raw, item, "rules"), here, f"must be a mapping, got {_kind(raw)}")
            return {}
        try:
            return parse_rules(raw).as_json()
        except RuleError as exc:
            line = _line(None, raw, exc.key) if exc.key in raw else _line(raw, item, "rules")
            self.problem(line, f"{here}.{exc.key}", str(exc))
            return {}

    def _values(self, item: dict[str, Any], path: str) -> list[str]:
        values = item.get("values")
        if values is None:
            return []
        if isinstance(values, str | int | float) and not isinstance(values, bool):
            return [str(values)]
        if isinstance(values, list) and all(
            isinstance(v, str | int | float) and not isinstance(v, bool) for v in values
        ):
            return [str(value) for value in values]
        self.problem(
            _line(values, item, "values"), f"{path}.values", "must be a list of texts, or one text"
        )
        return []

    # --- CSV: one row per field --------------------------------------------------------

    def csv(self, text: str) -> PlanSnapshot:
        snapshot = PlanSnapshot(complete=True, keeps_enum_types=True)
        rows = csv.DictReader(io.StringIO(text, newline=""))
        header = rows.fieldnames or []
        known = CSV_COLUMNS + CSV_ID_COLUMNS + CSV_RULE_COLUMNS
        unknown = [name for name in header if name not in known]
        if unknown or not {"story", "event", "field"} <= set(header):
            self.problem(
                1,
                "header",
                f"columns must be {', '.join(CSV_COLUMNS)} (and optionally "
                f"{', '.join(CSV_ID_COLUMNS + CSV_RULE_COLUMNS)}); "
                f"got {', '.join(header) or 'nothing'}",
                unit="row",
            )
            return snapshot
        stories: dict[str, PlanStory] = {}
        events: dict[tuple[str, str], PlanEvent] = {}
        for number, row in enumerate(rows, start=2):
            if None in row:
                self.problem(number, "", "has more cells than the header", unit="row")
                continue
            cells = {key: restore((value or "").strip()) for key, value in row.items()}
            if not any(cells.values()):
                continue
            if not cells["story"]:
                self.problem(number, "story", "is empty", unit="row")
                continue
            for column in ("story", "event", "field"):
                if len(cells[column]) > MAX_NAME:
                    self.problem(number, column, f"is longer than {MAX_NAME}", unit="row")
            story = stories.get(cells["story"])
            if story is None:
                story = PlanStory(
                    name=cells["story"],
                    description=cells.get("story_description", ""),
                    ext_id=cells.get("story_id") or None,
                )
                stories[story.name] = story
                snapshot.stories.append(story)
            if not cells["event"]:
                if cells["field"]:
                    self.problem(number, "event", "is empty but the row has a field", unit="row")
                continue
            event = events.get((story.name, cells["event"]))
            if event is None:
                event = PlanEvent(
                    name=cells["event"],
                    description=cells.get("event_description", ""),
                    ext_id=cells.get("event_id") or None,
                )
                events[(story.name, event.name)] = event
                story.events.append(event)
            if cells["field"]:
                event.fields.append(
                    self._at(
                        PlanField(
                            key=cells["field"],
                            type_ref=cells.get("type", ""),
                            type_name=cells.get("type", ""),
                            raw_values=[cells["values"]] if cells.get("values") else [],
                            note=cells.get("note", ""),
                            ext_id=cells.get("field_id") or None,
                            rules=self._csv_rules(cells, number),
                        ),
                        number,
                    )
                )
        return snapshot

    def _csv_rules(self, cells: dict[str, str], number: int) -> dict[str, Any]:
        raw: dict[str, Any] = {}
        for column in CSV_RULE_COLUMNS:
            text = cells.get(column, "")
            if not text:
                continue
            key = "type" if column == "value_type" else column
            try:
                raw[key] = _csv_rule_value(key, text)
            except ValueError as exc:
                self.problem(number, column, str(exc), unit="row")
                return {}
        try:
            return parse_rules(raw).as_json()
        except RuleError as exc:
            column = "value_type" if exc.key == "type" else exc.key
            self.problem(number, column, str(exc), unit="row")
            return {}


def _csv_rule_value(key: str, text: str) -> Any:
    """A rule's value from its CSV cell: text, true/false, or a number."""
    if key in ("type", "pattern"):
        return text
    if key == "required":
        lowered = text.lower()
        if lowered in ("true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0"):
            return False
        raise ValueError(f"must be true or false, got {text!r}")
    try:
        return int(text)
    except ValueError:
        pass
    if key in ("min", "max"):
        try:
            return float(text)
        except ValueError:
            pass
    raise ValueError(f"must be a number, got {text!r}")


def _line(value: Any, parent: Any = None, key: Any = None) -> int | None:
    """The line of `value`, else of `key` in `parent`, else of `parent` (None for CSV/JSON)."""
    key_lines = getattr(parent, "key_lines", None) or {}
    return getattr(value, "line", None) or key_lines.get(key) or getattr(parent, "line", None)


def _kind(value: Any) -> str:
    for kind, label in ((bool, "true/false"), (dict, "a mapping"), (list, "a list"), (str, "text")):
        if isinstance(value, kind):
            return label
    return "nothing" if value is None else type(value).__name__
