"""One typed read model of a session's results: its plan, cells, coverage and counts.

Built once here, in domain terms, and shaped by each door as it needs: the
session page and its live stream (web/session_view.py), the JSON API
(web/api/results_json.py), the report. A full read is
a handful of queries for the whole session, never one per cell; a live feed
that knows which cells ingest changed (the `changed` of a `logs` message)
re-reads only the events they belong to (`SessionView.refreshed`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from trackmaster.checks import Coverage, FieldRule
from trackmaster.models import (
    CoverageValue,
    Event,
    EventLog,
    Platform,
    SessionEvent,
    TestSession,
    Verdict,
    VerdictOverride,
)
from trackmaster.sessions.cell_store import load_cells
from trackmaster.sessions.cells import CellState, EventCounts
from trackmaster.sessions.plans import (
    EventPlan,
    load_event_plans,
    load_removed_fields,
)
from trackmaster.sessions.unplanned import load_unplanned

CellKey = tuple[int, int, str]  # (event_id, field_id, platform)
PLATFORM_NAMES: tuple[str, ...] = tuple(p.value for p in Platform)


@dataclass(frozen=True, slots=True)
class Override:
    """A tester's override of cells, or reset of an event (`kind`), kept forever."""

    id: int
    event_id: int
    field_id: int | None
    platform: str | None
    kind: str  # "override" or "reset"
    verdict: str
    reason: str
    created_by: str
    created_at: Any
    after_log_id: int


@dataclass(frozen=True, slots=True)
class CellResult:
    """One cell as a tester reads it: the stored counts, and where its verdict comes from."""

    state: CellState
    source: str  # "log" (caught events), "override", "reset", or "none" (never tested)
    reason: str
    by: str = ""
    at: datetime | None = None  # the override's or reset's time, or the newest event's
    override: Override | None = None  # the override covering the events before it

    @property
    def verdict(self) -> Verdict:
        return self.state.verdict


NO_EVENTS = EventCounts()


@dataclass(frozen=True, slots=True)
class WatchedEvent:
    id: int
    name: str
    plan: EventPlan  # its fields in the plan, as ingest judges them
    story: str = ""
    removed: bool = False  # the event left the plan; the session keeps it
    # Its fields that left the plan: kept with their verdicts, judged no more.
    removed_fields: tuple[FieldRule, ...] = ()


@dataclass(frozen=True)
class SessionView:
    """What the results of a session are at one moment."""

    session_id: int
    events: tuple[WatchedEvent, ...]  # by name
    cells: dict[CellKey, CellResult]
    event_counts: dict[tuple[int, str], EventCounts]  # (event_id, platform)
    # field id -> platform -> {"seen", "missing", "covered", "total", "complete"}; only
    # enumerated fields (two allowed values or more) have coverage.
    coverage: dict[int, dict[str, dict[str, Any]]]
    unplanned: dict[int, dict[str, Any]]  # trackmaster.sessions.unplanned.load_unplanned
    overrides: dict[int, Override]
    resets: dict[int, Override]  # event id -> its newest reset

    def caught(self, event_id: int) -> int:
        return sum(self.counts_of(event_id, p).caught for p in PLATFORM_NAMES)

    def counts_of(self, event_id: int, platform: str) -> EventCounts:
        return self.event_counts.get((event_id, platform), NO_EVENTS)

    def cell(self, event_id: int, field_id: int, platform: str) -> CellResult:
        found = self.cells.get((event_id, field_id, platform))
        return found if found is not None else self._untested(event_id)

    def _untested(self, event_id: int) -> CellResult:
        return cell_result(CellState.untested(), None, self.resets.get(event_id), {})

    async def refreshed(self, changed: Iterable[CellKey]) -> tuple[SessionView, set[int]] | None:
        """This view with the events of the `changed` cells read again, and which events
        were read; or None when the changes do not fit this view (a field or event it does
        not know, an override it has not read): the caller then reads it whole.

        Events without fields have no cells to name in `changed` but still count caught
        events: they are read again every time.
        """
        fields: dict[int, set[int]] = {}
        for event_id, field_id, _ in changed:
            fields.setdefault(event_id, set()).add(field_id)
        plans = {event.id: event.plan for event in self.events}
        for event_id, field_ids in fields.items():
            plan = plans.get(event_id)
            if plan is None or field_ids != set(plan.field_ids):
                return None  # the plan or the watched events changed since this view
        fresh = set(fields) | {event.id for event in self.events if not event.plan.field_ids}
        if not fresh:
            return self, fresh
        event_ids = sorted(fresh)
        states, counts = await load_cells(self.session_id, event_ids)
        if any(s.override_id and s.override_id not in self.overrides for s in states.values()):
            return None  # an override committed after this view was read
        caught_at = await _caught_at(states.values())
        cells = {k: v for k, v in self.cells.items() if k[0] not in fresh}
        for key, state in states.items():
            override = self.overrides.get(state.override_id) if state.override_id else None
            cells[key] = cell_result(state, override, self.resets.get(key[0]), caught_at)
        event_counts = {k: v for k, v in self.event_counts.items() if k[0] not in fresh}
        event_counts.update(counts)
        coverage = dict(self.coverage)
        coverage.update(await _read_coverage(self.session_id, [plans[e] for e in event_ids]))
        view = replace(
            self, cells=cells, event_counts=event_counts, coverage=coverage,
            unplanned=await load_unplanned(self.session_id),
        )  # fmt: skip
        return view, fresh


def cell_result(
    state: CellState,
    override: Override | None,
    reset: Override | None,
    caught_at: dict[int, Any],
) -> CellResult:
    """Where a cell's verdict comes from, and its reason in words."""
    if state.from_override and override is not None:
        return CellResult(
            state, "override", override.reason or "set by hand", override.created_by,
            override.created_at, override,
        )  # fmt: skip
    if state.verdict is Verdict.UNTESTED:
        if reset is not None:
            return CellResult(
                state, "reset", reset.reason or "reset to UNTESTED", reset.created_by,
                reset.created_at, override,
            )  # fmt: skip
        return CellResult(state, "none", "no event caught yet", override=override)
    n, of = state.outstanding[state.verdict.value], state.outstanding_total
    since = " since the override" if override is not None else ""
    reason = f"{state.verdict.value} in {n} of {of} events{since}: {state.reason}"
    # `at`: when the newest event the cell counts was caught.
    return CellResult(state, "log", reason, "", caught_at.get(state.last_log_id), override)


async def read_overrides(session_id: int) -> list[Override]:
    rows = await VerdictOverride.filter(session_id=session_id).order_by("id").values(
        "id", "event_id", "field_id", "platform", "kind", "verdict", "reason", "created_by",
        "created_at", "after_log_id",
    )  # fmt: skip
    found = []
    for row in rows:
        row["platform"] = str(row["platform"]) if row["platform"] is not None else None
        row["verdict"] = str(row["verdict"])
        found.append(Override(**row))
    return found


async def _caught_at(states: Iterable[CellState]) -> dict[int, Any]:
    newest_ids = sorted({s.last_log_id for s in states if s.last_log_id})
    if not newest_ids:
        return {}
    return dict(await EventLog.filter(id__in=newest_ids).values_list("id", "received_at"))


async def _read_coverage(
    session_id: int, plans: Iterable[EventPlan]
) -> dict[int, dict[str, dict[str, Any]]]:
    rules = [rule for plan in plans for rule in plan.fields]
    coverage = Coverage(rules)
    tracked = [rule.field_id for rule in rules if coverage.tracks(rule.field_id)]
    if not tracked:
        return {}
    coverage = Coverage.restore(
        rules,
        await CoverageValue.filter(session_id=session_id, field_id__in=tracked).values_list(
            "field_id", "platform", "value"
        ),
    )
    return {
        field_id: {p.value: coverage.summary(field_id, p) for p in Platform} for field_id in tracked
    }


async def load_view(session: TestSession) -> SessionView:
    """Every watched event with its fields, each with its cell per platform (counts, verdict)."""
    watched = (
        await SessionEvent.filter(session_id=session.id)
        .order_by("name")
        .values_list("event_id", "name")
    )
    plans = await load_event_plans(event_id for event_id, _ in watched)
    states, counts = await load_cells(session.id)
    overrides = await read_overrides(session.id)
    by_id = {o.id: o for o in overrides}
    resets: dict[int, Override] = {}
    for o in overrides:
        if o.kind == "reset":
            resets[o.event_id] = o  # ordered by id: the newest wins
    caught_at = await _caught_at(states.values())
    cells = {}
    for key, state in states.items():
        override = by_id.get(state.override_id) if state.override_id else None
        cells[key] = cell_result(state, override, resets.get(key[0]), caught_at)
    event_ids = [event_id for event_id, _ in watched]
    removed_fields = await load_removed_fields(
        event_ids, used_since=session.started_at, judged={key[1] for key in states}
    )
    about: dict[int, tuple[str, bool]] = {}
    if event_ids:
        for event_id, story, removed_at in await Event.filter(id__in=event_ids).values_list(
            "id", "story__name", "removed_at"
        ):
            about[event_id] = (story, removed_at is not None)
    events = tuple(
        WatchedEvent(
            event_id,
            name,
            plans[event_id],
            *about.get(event_id, ("", False)),
            removed_fields.get(event_id, ()),
        )
        for event_id, name in watched
    )
    return SessionView(
        session.id, events, cells, counts,
        await _read_coverage(session.id, plans.values()), await load_unplanned(session.id),
        by_id, resets,
    )  # fmt: skip
