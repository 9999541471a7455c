"""Write a plan snapshot to a project: create, update, mark removed, and say what changed.

The caller runs this inside one transaction. The work is in bulk (one query
per batch, not per row) so that a plan of 100,000 fields applies in seconds:
the project's current plan is read once, compared in memory, then new rows
are inserted in batches and changed rows updated in batches.

Nothing is ever deleted from stories, events and fields: a row that left the
plan gets `removed_at`, so the test sessions that used it keep it with their
verdicts; a row that comes back is restored. Enum types and values, which no
session refers to, are deleted when they leave the plan.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from tortoise.fields import JSONField
from tortoise.models import Model

from trackmaster.models import EnumType, EnumValue, Event, Field, Project, Story
from trackmaster.plan.diff import Diff
from trackmaster.plan.snapshot import (
    PlanEnumType,
    PlanEnumValue,
    PlanEvent,
    PlanField,
    PlanSnapshot,
    PlanStory,
)
from trackmaster.plan.values import expected_values

BATCH = 500


class _Sourced(Protocol):
    """A plan item that may carry its source's id (Jet's), as every Plan* item does."""

    @property
    def ext_id(self) -> str | None: ...


T = TypeVar("T", bound=_Sourced)
M = TypeVar("M", bound=Model)
# Called between phases: (stage, done, total). It may raise to abort (and roll back).
Progress = Callable[[str, int, int], Any]


@dataclass
class _EnumRef:
    id: int
    name: str
    names_by_id: dict[str, str]


def _now() -> datetime:
    return datetime.now(UTC)


def _match(
    incoming: Sequence[T], rows: Iterable[dict[str, Any]], natural: Callable[[T], str], key: str
) -> list[tuple[T, dict[str, Any] | None]]:
    """Pair each incoming item with an existing row: by source id first, then by name.

    An item with a source id only takes a row by name when that row has no id
    of its own (a plan first imported from a file, then synced from Jet).
    """
    rows = list(rows)
    by_ext = {row["jet_id"]: row for row in rows if row["jet_id"]}
    by_name: dict[str, list[dict[str, Any]]] = {}
    # Rows still in the plan are preferred over removed ones of the same name.
    for row in sorted(rows, key=lambda r: (r.get("removed_at") is not None, r["id"])):
        by_name.setdefault(row[key], []).append(row)
    claimed: set[int] = set()
    pairs: list[tuple[T, dict[str, Any] | None]] = []
    for item in incoming:
        row = by_ext.get(item.ext_id) if item.ext_id else None
        if row is not None:
            claimed.add(row["id"])
        pairs.append((item, row))
    for n, (item, row) in enumerate(pairs):
        if row is not None:
            continue
        for candidate in by_name.get(natural(item), []):
            if candidate["id"] in claimed:
                continue
            if item.ext_id and candidate["jet_id"]:
                continue
            claimed.add(candidate["id"])
            pairs[n] = (item, candidate)
            break
    return pairs


def _changes(row: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in wanted.items() if row.get(name) != value}


async def _rows(model: type[Model], fields: Sequence[str], **filters: Any) -> list[dict[str, Any]]:
    return list(await model.filter(**filters).values(*fields))


async def _rows_in(
    model: type[Model], column: str, ids: Sequence[int], fields: Sequence[str]
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        found.extend(await model.filter(**{f"{column}__in": chunk}).values(*fields))
    return found


async def _bulk_update(model: type[Model], updates: dict[int, dict[str, Any]]) -> None:
    """Update rows in batches grouped by the set of changed columns."""
    groups: dict[tuple[str, ...], list[Model]] = {}
    for row_id, changes in updates.items():
        columns = tuple(sorted(changes))
        instance = model(id=row_id, **changes)
        instance._saved_in_db = True
        groups.setdefault(columns, []).append(instance)
    for columns, instances in groups.items():
        await model.bulk_update(instances, fields=list(columns), batch_size=BATCH)


async def _write(model: type[M], new: list[M], updates: dict[int, dict[str, Any]]) -> None:
    if new:
        await model.bulk_create(new, batch_size=BATCH)
    await _bulk_update(model, updates)


async def _insert(model: type[Model], rows: list[dict[str, Any]]) -> None:
    """Insert plain rows in batches, without building a model instance per row.

    A first sync of a big plan inserts 100,000 fields; Tortoise's bulk_create
    spends most of its time constructing and validating model objects. Rows of
    one call have the same keys; JSON columns are encoded here.
    """
    if not rows:
        return
    connection = model._meta.db
    mysql = connection.capabilities.dialect == "mysql"
    quote, mark = ("`", "%s") if mysql else ('"', "?")
    columns = list(rows[0])
    json_columns = {
        name for name in columns if isinstance(model._meta.fields_map.get(name), JSONField)
    }
    sql = (
        f"INSERT INTO {quote}{model._meta.db_table}{quote} "
        f"({', '.join(quote + name + quote for name in columns)}) "
        f"VALUES ({', '.join([mark] * len(columns))})"
    )
    for start in range(0, len(rows), BATCH * 4):
        values = [
            [
                json.dumps(row[name], ensure_ascii=False) if name in json_columns else row[name]
                for name in columns
            ]
            for row in rows[start : start + BATCH * 4]
        ]
        await connection.execute_many(sql, values)


async def _mark_removed(model: type[Model], ids: Sequence[int], when: datetime) -> None:
    for start in range(0, len(ids), BATCH):
        await model.filter(id__in=ids[start : start + BATCH]).update(removed_at=when)


class _Applier:
    def __init__(self, project: Project, snapshot: PlanSnapshot, progress: Progress | None):
        self.project = project
        self.snapshot = snapshot
        self.progress = progress or (lambda stage, done, total: None)
        self.diff = Diff()
        self.now = _now()
        self.enum_by_ref: dict[str, _EnumRef] = {}

    def _reconcile(
        self, kind: str, name: str, row: dict[str, Any], wanted: dict[str, Any], where: str = ""
    ) -> dict[str, Any]:
        """The columns a matched row must change (a restore included), counted in the diff."""
        changes = _changes(row, wanted)
        if row.get("removed_at") is not None:
            changes["removed_at"] = None
            self.diff.add("created", kind, name, where=where, restored=True)
        elif changes:
            self.diff.add("updated", kind, name, where=where, changes=sorted(changes))
        return changes

    def _leaving(
        self,
        kind: str,
        rows: Iterable[dict[str, Any]],
        claimed: set[int],
        key: str,
        where: str = "",
    ) -> list[int]:
        """Rows still in the plan that no incoming item claimed: they leave it."""
        gone = []
        for row in rows:
            if row["id"] not in claimed and row["removed_at"] is None:
                gone.append(row["id"])
                self.diff.add("removed", kind, row[key], where=where)
        return gone

    async def run(self) -> Diff:
        self.progress("enum types", 0, len(self.snapshot.enum_types))
        await self._enum_types()
        self.progress("stories", 0, len(self.snapshot.stories))
        story_pairs = await self._stories()
        self.progress("events", 0, len(story_pairs))
        event_pairs = await self._events(story_pairs)
        self.progress("fields", 0, len(event_pairs))
        await self._fields(event_pairs)
        self.progress("done", 1, 1)
        return self.diff

    # --- enum types and values ---------------------------------------------------------

    async def _enum_types(self) -> None:
        if self.snapshot.keeps_enum_types:
            await self._known_enum_types()
            return
        rows = await _rows(EnumType, ("id", "jet_id", "name", "status"), project_id=self.project.id)
        pairs = _match(self.snapshot.enum_types, rows, lambda t: t.name, "name")
        claimed = {row["id"] for _, row in pairs if row}
        gone = [row for row in rows if row["id"] not in claimed]
        for row in gone:
            self.diff.add("removed", "enum_type", row["name"])
        if gone:
            await EnumType.filter(id__in=[row["id"] for row in gone]).delete()
        for item, row in pairs:
            wanted: dict[str, Any] = {"name": item.name, "status": item.status}
            if item.ext_id:
                wanted["jet_id"] = item.ext_id
            if row is None:
                created = await EnumType.create(project_id=self.project.id, **wanted)
                row = {"id": created.id, **wanted}
                self.diff.add("created", "enum_type", item.name)
            elif changes := self._reconcile("enum_type", item.name, row, wanted):
                await EnumType.filter(id=row["id"]).update(**changes)
            await self._enum_values(item, row["id"])

    async def _known_enum_types(self) -> None:
        """Resolve field types against the project's enum types as they are."""
        enum_types = await EnumType.filter(project_id=self.project.id).prefetch_related("values")
        for enum_type in enum_types:
            self._remember(
                PlanEnumType(
                    name=enum_type.name,
                    ext_id=enum_type.jet_id,
                    values=[PlanEnumValue(v.name, v.jet_id) for v in enum_type.values],
                ),
                enum_type.id,
            )

    def _remember(self, item: PlanEnumType, enum_type_id: int) -> None:
        ref = _EnumRef(
            enum_type_id,
            item.name,
            {value.ext_id: value.name for value in item.values if value.ext_id},
        )
        # Fields name their type by Jet id or, in files, by name.
        if item.ext_id:
            self.enum_by_ref[item.ext_id] = ref
        self.enum_by_ref.setdefault(item.name, ref)

    async def _enum_values(self, item: PlanEnumType, enum_type_id: int) -> None:
        rows = await _rows(
            EnumValue,
            ("id", "jet_id", "name", "description", "deprecated"),
            enum_type_id=enum_type_id,
        )
        pairs = _match(item.values, rows, lambda v: v.name, "name")
        claimed = {row["id"] for _, row in pairs if row}
        gone = [row["id"] for row in rows if row["id"] not in claimed]
        for row in rows:
            if row["id"] in gone:
                self.diff.add("removed", "enum_value", row["name"], where=item.name)
        if gone:
            await EnumValue.filter(id__in=gone).delete()
        new: list[EnumValue] = []
        updates: dict[int, dict[str, Any]] = {}
        for value, row in pairs:
            wanted = {
                "name": value.name,
                "description": value.description,
                "deprecated": value.deprecated,
            }
            if value.ext_id:
                wanted["jet_id"] = value.ext_id
            if row is None:
                new.append(EnumValue(enum_type_id=enum_type_id, **wanted))
                self.diff.add("created", "enum_value", value.name, where=item.name)
            elif changes := self._reconcile("enum_value", value.name, row, wanted, item.name):
                updates[row["id"]] = changes
        await _write(EnumValue, new, updates)
        self._remember(item, enum_type_id)

    # --- stories, events, fields -------------------------------------------------------

    async def _stories(self) -> list[tuple[PlanStory, int]]:
        fields = ("id", "jet_id", "name", "description", "removed_at")
        rows = await _rows(Story, fields, project_id=self.project.id)
        pairs = _match(self.snapshot.stories, rows, lambda s: s.name, "name")
        claimed = {row["id"] for _, row in pairs if row}
        new: list[Story] = []
        updates: dict[int, dict[str, Any]] = {}
        for item, row in pairs:
            wanted: dict[str, Any] = {"name": item.name, "description": item.description}
            if item.ext_id:
                wanted["jet_id"] = item.ext_id
            if row is None:
                new.append(Story(project_id=self.project.id, **wanted))
                self.diff.add("created", "story", item.name)
                continue
            if changes := self._reconcile("story", item.name, row, wanted):
                updates[row["id"]] = changes
        gone = self._leaving("story", rows, claimed, "name") if self.snapshot.complete else []
        await _write(Story, new, updates)
        if gone:
            await _mark_removed(Story, gone, self.now)
            await self._remove_children_of_stories(gone)
        known = {row["id"] for row in rows}
        return await self._with_ids(pairs, Story, "project_id", [self.project.id], known)

    async def _with_ids(
        self,
        pairs: Sequence[tuple[Any, dict[str, Any] | None]],
        model: type[Model],
        parent_column: str,
        parent_ids: Sequence[int],
        known: set[int],
        parent_of: Callable[[Any], int] | None = None,
        natural: str = "name",
    ) -> list[tuple[Any, int]]:
        """Each item with its row id; rows inserted in bulk are read back to learn theirs."""
        if all(row is not None for _, row in pairs):
            return [(item, row["id"]) for item, row in pairs]  # type: ignore[index]  # no None: tested above
        rows = await _rows_in(
            model, parent_column, list(parent_ids), ("id", "jet_id", natural, parent_column)
        )
        fresh = [row for row in rows if row["id"] not in known]
        by_ext = {(row[parent_column], row["jet_id"]): row["id"] for row in fresh if row["jet_id"]}
        by_name = {(row[parent_column], row[natural]): row["id"] for row in fresh}
        result = []
        for item, row in pairs:
            if row is not None:
                result.append((item, row["id"]))
                continue
            parent = parent_of(item) if parent_of else parent_ids[0]
            if item.ext_id:
                result.append((item, by_ext[(parent, item.ext_id)]))
            else:
                result.append((item, by_name[(parent, getattr(item, natural))]))
        return result

    async def _remove_children_of_stories(self, story_ids: Sequence[int]) -> None:
        events = await _rows_in(Event, "story_id", story_ids, ("id", "name", "removed_at"))
        live = [row for row in events if row["removed_at"] is None]
        for row in live:
            self.diff.add("removed", "event", row["name"])
        await _mark_removed(Event, [row["id"] for row in live], self.now)
        await self._remove_fields_of_events([row["id"] for row in events])

    async def _remove_fields_of_events(self, event_ids: Sequence[int]) -> None:
        fields = await _rows_in(Field, "event_id", event_ids, ("id", "key", "removed_at"))
        live = [row for row in fields if row["removed_at"] is None]
        for row in live:
            self.diff.add("removed", "field", row["key"])
        await _mark_removed(Field, [row["id"] for row in live], self.now)

    async def _events(
        self, story_pairs: list[tuple[PlanStory, int]]
    ) -> list[tuple[PlanEvent, int, str]]:
        story_ids = [story_id for _, story_id in story_pairs]
        fields = ("id", "story_id", "jet_id", "name", "description", "removed_at")
        rows_by_story: dict[int, list[dict[str, Any]]] = {}
        for row in await _rows_in(Event, "story_id", story_ids, fields):
            rows_by_story.setdefault(row["story_id"], []).append(row)
        new: list[dict[str, Any]] = []
        updates: dict[int, dict[str, Any]] = {}
        gone: list[int] = []
        all_pairs: list[tuple[PlanEvent, dict[str, Any] | None]] = []
        parent: dict[int, int] = {}  # id(item) -> story id
        story_name: dict[int, str] = {}
        known: set[int] = set()
        for story, story_id in story_pairs:
            rows = rows_by_story.get(story_id, [])
            known.update(row["id"] for row in rows)
            pairs = _match(story.events, rows, lambda e: e.name, "name")
            claimed = {row["id"] for _, row in pairs if row}
            for item, row in pairs:
                parent[id(item)] = story_id
                story_name[id(item)] = story.name
                wanted: dict[str, Any] = {"name": item.name, "description": item.description}
                if item.ext_id:
                    wanted["jet_id"] = item.ext_id
                if row is None:
                    new.append({"story_id": story_id, "jet_id": None, **wanted})
                    self.diff.add("created", "event", item.name, where=story.name)
                    continue
                if changes := self._reconcile("event", item.name, row, wanted, story.name):
                    updates[row["id"]] = changes
            all_pairs.extend(pairs)
            gone += self._leaving("event", rows, claimed, "name", story.name)
        await _insert(Event, new)
        await _bulk_update(Event, updates)
        if gone:
            await _mark_removed(Event, gone, self.now)
            await self._remove_fields_of_events(gone)
        with_ids = await self._with_ids(
            all_pairs, Event, "story_id", story_ids, known, lambda item: parent[id(item)]
        )
        return [
            (item, event_id, f"{story_name[id(item)]} > {item.name}") for item, event_id in with_ids
        ]

    def _field_values(self, item: PlanField) -> dict[str, Any]:
        enum = self.enum_by_ref.get(item.type_ref) if item.type_ref else None
        if enum is None and item.type_name:
            enum = self.enum_by_ref.get(item.type_name)
        wanted: dict[str, Any] = {
            "key": item.key,
            "type_name": enum.name if enum else item.type_name,
            "enum_type_id": enum.id if enum else None,
            "values": expected_values(item.raw_values, enum.names_by_id if enum else None),
            "raw_values": list(item.raw_values),
            "note": item.note,
        }
        if item.rules is not None:
            wanted["rules"] = dict(item.rules)
        if item.ext_id:
            wanted["jet_id"] = item.ext_id
        return wanted

    async def _fields(self, event_pairs: list[tuple[PlanEvent, int, str]]) -> None:
        event_ids = [event_id for _, event_id, _ in event_pairs]
        columns = (
            "id", "event_id", "jet_id", "key", "type_name", "enum_type_id", "values",
            "raw_values", "note", "rules", "removed_at",
        )  # fmt: skip
        rows_by_event: dict[int, list[dict[str, Any]]] = {}
        for row in await _rows_in(Field, "event_id", event_ids, columns):
            rows_by_event.setdefault(row["event_id"], []).append(row)
        new: list[dict[str, Any]] = []
        updates: dict[int, dict[str, Any]] = {}
        gone: list[int] = []
        for done, (event, event_id, where) in enumerate(event_pairs):
            if done % 1000 == 0:
                self.progress("fields", done, len(event_pairs))
            rows = rows_by_event.get(event_id, [])
            pairs = _match(event.fields, rows, lambda f: f.key, "key")
            claimed = {row["id"] for _, row in pairs if row}
            for item, row in pairs:
                wanted = self._field_values(item)
                if row is None:
                    # Every row of one insert has the same columns; no DB defaults for JSON.
                    new.append(
                        {"event_id": event_id, "jet_id": None, "rules": {}, "local_rules": {},
                         **wanted}
                    )  # fmt: skip
                    self.diff.add("created", "field", item.key, where=where)
                    continue
                if changes := self._reconcile("field", item.key, row, wanted, where):
                    updates[row["id"]] = changes
            gone += self._leaving("field", rows, claimed, "key", where)
        await _insert(Field, new)
        await _bulk_update(Field, updates)
        await _mark_removed(Field, gone, self.now)


async def apply_snapshot(
    project: Project, snapshot: PlanSnapshot, progress: Progress | None = None
) -> Diff:
    """Make the project's plan match the snapshot; run it inside a transaction."""
    return await _Applier(project, snapshot, progress).run()
