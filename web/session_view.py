"""What a session page shows: the matrix, counts, coverage and logs, shaped for templates.

The page and its SSE stream read through here, so that a streamed update and
a full render can never disagree. Results come from the session engine
(`trackmaster.sessions.view.SessionView`: a handful of queries for the whole
session, never one per cell); this module only shapes it into cells with
stable DOM ids, coverage rows and counts, whole or for the events a batch
changed.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, cast

from trackmaster.checks.rules import describe as describe_rules
from trackmaster.checks.unplanned import key_digest
from trackmaster.models import (
    PLATFORMS,
    EventLog,
    SessionAccount,
    TestSession,
    Verdict,
)
from trackmaster.sessions.view import CellKey, CellResult, SessionView, WatchedEvent, load_view

VERDICTS: tuple[str, ...] = tuple(v.value for v in Verdict)
LOGS_PER_PAGE = 50
# A payload is shown pretty-printed up to this many characters; the log's own page has it all.
PAYLOAD_SHOWN_CHARS = 20_000


@dataclass(frozen=True, slots=True)
class MatrixField:
    """A row of the session page's matrix: a field as a tester reads it (the checks judge
    `trackmaster.checks.FieldRule`; a plan file or Jet gives `plan.snapshot.PlanField`)."""

    id: int
    key: str
    values: tuple[str, ...]
    note: str
    removed: bool
    rules: str = ""  # the typed rules in force, in words ("number, >= 0")

    @property
    def is_enum(self) -> bool:
        return len(self.values) >= 2


@dataclass(frozen=True, slots=True)
class MatrixEvent:
    """A watched event's block of rows in the matrix."""

    id: int
    name: str
    story: str
    removed: bool
    fields: tuple[MatrixField, ...]


@dataclass(frozen=True, slots=True)
class Cell:
    event_id: int
    field_id: int
    platform: str
    verdict: str
    reason: str
    value: str | None = None
    # "log" (checked from caught events), "override", "reset", or "" (never tested).
    source: str = ""
    log_id: int | None = None
    # What the cell shows ("FAIL 100 of 300"), and the counts behind it: the
    # outstanding ones (since the override or the reset) per verdict, and all since the reset.
    label: str = ""
    counts: tuple[tuple[str, int], ...] = ()
    total: int = 0
    overridden: bool = False
    other_values: int = 0  # events whose value the cell did not keep (past its cap)

    @property
    def dom_id(self) -> str:
        return f"cell-{self.event_id}-{self.field_id}-{self.platform}"


@dataclass
class MatrixPlan:
    """The rows of a session page's matrix: its watched events and their fields."""

    events: tuple[MatrixEvent, ...]

    @property
    def signature(self) -> tuple:
        """Changes when the matrix's rows change (events or fields added, or removed from
        the plan: a removed row stays, with its badge)."""
        return tuple(
            (e.id, e.removed, tuple((f.id, f.removed) for f in e.fields)) for e in self.events
        )

    def field(self, field_id: int) -> MatrixField | None:
        for event in self.events:
            for plan_field in event.fields:
                if plan_field.id == field_id:
                    return plan_field
        return None

    def event(self, event_id: int) -> MatrixEvent | None:
        return next((e for e in self.events if e.id == event_id), None)


@dataclass
class Counts:
    verdicts: dict[str, int]  # cells per verdict
    logs: int
    logs_shown: int  # not cleared
    events_seen: int
    events_total: int
    unseen: list[str]
    # Caught events (since their event's reset) by their worst field verdict.
    event_verdicts: dict[str, int] = field(default_factory=dict)


@dataclass
class CoverageRow:
    event: MatrixEvent
    field: MatrixField  # shadows dataclasses.field in this body: hence dataclasses.field below
    seen: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    missing: dict[str, list[str]] = dataclasses.field(default_factory=dict)

    @property
    def dom_id(self) -> str:
        return f"cov-{self.event.id}-{self.field.id}"

    def key(self) -> tuple:
        return tuple((p, tuple(self.seen[p])) for p in PLATFORMS)


@dataclass(frozen=True, slots=True)
class UnplannedRow:
    """One unplanned property of one watched event, with its count per platform."""

    event_id: int
    event: str
    key: str
    path: str
    suggestion: str
    counts: tuple[tuple[str, int], ...]  # (platform, events) for every platform

    @property
    def dom_id(self) -> str:
        return f"unplanned-{self.event_id}-{key_digest(self.key)[:16]}"

    @property
    def total(self) -> int:
        return sum(n for _, n in self.counts)


@dataclass(frozen=True, slots=True)
class ExpectedMark:
    event_id: int
    event: str
    key: str
    reason: str
    by: str


@dataclass(frozen=True)
class UnplannedPanel:
    rows: tuple[UnplannedRow, ...] = ()
    more: int = 0  # properties beyond those listed
    expected: tuple[ExpectedMark, ...] = ()


def unplanned_panel(view: SessionView) -> UnplannedPanel:
    """The session's unplanned properties per event and key, counted per platform."""
    rows, marks, more = [], [], 0
    for event in view.events:
        extra = view.unplanned.get(event.id, {})
        by_key: dict[str, dict[str, Any]] = {}
        for item in extra.get("unplanned") or ():
            row = by_key.setdefault(
                item["key"],
                {"path": item["path"], "suggestion": item["suggestion"], "counts": {}},
            )
            row["counts"][item["platform"]] = item["count"]
            row["suggestion"] = row["suggestion"] or item["suggestion"]
        for key, row in by_key.items():
            counts = tuple((p, int(row["counts"].get(p, 0))) for p in PLATFORMS)
            rows.append(
                UnplannedRow(event.id, event.name, key, row["path"], row["suggestion"], counts)
            )
        more += int(extra.get("unplannedMore") or 0)
        for mark in extra.get("expected") or ():
            marks.append(
                ExpectedMark(event.id, event.name, mark["key"], mark["reason"], mark["by"])
            )
    rows.sort(key=lambda r: (r.event, -r.total, r.key))
    return UnplannedPanel(tuple(rows), more, tuple(marks))


@dataclass
class Snapshot:
    """Everything the top of a session page shows, read at one moment."""

    plan: MatrixPlan
    cells: dict[CellKey, Cell]
    coverage: list[CoverageRow]
    counts: Counts
    unplanned: UnplannedPanel = field(default_factory=UnplannedPanel)


async def session_accounts(session_id: int) -> list[str]:
    return cast(
        list[str],
        await SessionAccount.filter(session_id=session_id)
        .order_by("id")
        .values_list("user_id", flat=True),
    )


def _cell(event_id: int, field_id: int, platform: str, result: CellResult) -> Cell:
    state = result.state
    source, reason = result.source, result.reason
    if source == "override":
        reason = f"set by hand: {reason}"
    elif source == "reset":
        reason = f"reset by a tester: {reason}"
    elif source == "none":
        source, reason = "", f"no {platform} event caught yet"
    return Cell(
        event_id, field_id, platform, state.verdict.value, reason, None, source,
        state.last_log_id or None, state.label or state.verdict.value,
        tuple((v, int(state.outstanding.get(v, 0))) for v in ("FAIL", "UNCERTAIN", "SUCCESS")),
        sum(int(n) for n in state.total.values()), result.override is not None,
        state.other_values,
    )  # fmt: skip


def _event_part(
    view: SessionView, event: WatchedEvent
) -> tuple[MatrixEvent, dict[CellKey, Cell], list[CoverageRow]]:
    """One watched event's rows of the matrix: its fields (those that left the plan kept
    in their place, marked removed), their cells, and coverage rows."""
    fields, cells, coverage = [], {}, []
    kept = [(f, False) for f in event.plan.fields] + [(f, True) for f in event.removed_fields]
    for plan_field, removed in sorted(kept, key=lambda pair: pair[0].field_id):
        shown = MatrixField(
            plan_field.field_id, plan_field.key, plan_field.allowed, plan_field.note, removed,
            describe_rules(plan_field.typed.as_json()),
        )  # fmt: skip
        fields.append(shown)
        for platform in PLATFORMS:
            cells[(event.id, shown.id, platform)] = _cell(
                event.id, shown.id, platform, view.cell(event.id, shown.id, platform)
            )
    plan_event = MatrixEvent(event.id, event.name, event.story, event.removed, tuple(fields))
    for shown in fields:
        summary = view.coverage.get(shown.id)
        if summary is not None and shown.is_enum:
            row = CoverageRow(plan_event, shown)
            for platform, by_platform in summary.items():
                row.seen[platform] = list(by_platform["seen"])
                row.missing[platform] = list(by_platform["missing"])
            coverage.append(row)
    return plan_event, cells, coverage


def _counts(view: SessionView, cells: dict[CellKey, Cell], logs_shown: int) -> Counts:
    verdicts = dict.fromkeys(VERDICTS, 0)
    for cell in cells.values():
        verdicts[cell.verdict] = verdicts.get(cell.verdict, 0) + 1
    unseen = [event.name for event in view.events if not view.caught(event.id)]
    # Counted by the ingest transaction; only the hidden (cleared) ones need a count.
    logs = sum(view.caught(event.id) for event in view.events)
    event_verdicts = dict.fromkeys(("FAIL", "UNCERTAIN", "SUCCESS"), 0)
    watched_ids = {event.id for event in view.events}
    for (event_id, _), counts in view.event_counts.items():
        if event_id in watched_ids:
            for verdict, n in counts.by_verdict().items():
                event_verdicts[verdict] += n
    watched = len(view.events)
    return Counts(
        verdicts, logs, logs_shown, watched - len(unseen), watched, unseen, event_verdicts
    )


async def load_snapshot(session: TestSession) -> Snapshot:
    """The matrix, coverage and counts, from the session's read model (one source of truth)."""
    return snapshot_of(await load_view(session), await shown_logs(session.id))


async def shown_logs(session_id: int) -> int:
    return await EventLog.filter(session_id=session_id, cleared=False).count()


def snapshot_of(view: SessionView, logs_shown: int) -> Snapshot:
    """A snapshot of the whole view."""
    events, cells, coverage = [], {}, []
    for event in view.events:
        plan_event, event_cells, rows = _event_part(view, event)
        events.append(plan_event)
        cells.update(event_cells)
        coverage.extend(rows)
    return Snapshot(
        MatrixPlan(tuple(events)), cells, coverage, _counts(view, cells, logs_shown),
        unplanned_panel(view),
    )  # fmt: skip


def updated_snapshot(
    before: Snapshot, view: SessionView, event_ids: set[int], new_logs: int
) -> Snapshot:
    """`before` with the events in `event_ids` taken from `view` (its plan unchanged), and
    `new_logs` more logs shown: what a live feed needs after a batch of caught events."""
    cells = dict(before.cells)
    coverage: list[CoverageRow] = []
    by_id = {event.id: event for event in view.events}
    for plan_event in before.plan.events:
        if plan_event.id not in event_ids:
            coverage.extend(row for row in before.coverage if row.event.id == plan_event.id)
            continue
        _, event_cells, rows = _event_part(view, by_id[plan_event.id])
        cells.update(event_cells)
        coverage.extend(rows)
    counts = _counts(view, cells, before.counts.logs_shown + new_logs)
    return Snapshot(before.plan, cells, coverage, counts, unplanned_panel(view))


@dataclass
class LogView:
    id: int
    name: str
    user_id: str
    platform: str
    source: str
    received_at: Any
    payload_pretty: str
    payload_cut: bool
    verdict_counts: dict[str, int]
    problems: list[tuple[str, str, str]]  # (field key, verdict, reason) of non-SUCCESS fields

    @property
    def dom_id(self) -> str:
        return f"log-{self.id}"


def pretty_payload(payload: str) -> tuple[str, bool]:
    """The payload as indented JSON (or as sent, when it is not JSON), cut for the page."""
    try:
        text = json.dumps(json.loads(payload), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        text = payload
    if len(text) > PAYLOAD_SHOWN_CHARS:
        return text[:PAYLOAD_SHOWN_CHARS], True
    return text, False


def matrix_keys(plan: MatrixPlan) -> dict[str, str]:
    """The keys of the fields the matrix shows, by field id as text (a stored log's
    `field_values` and `verdicts` are keyed so). Not `sessions/results.keys_of_fields`,
    which reads every field of some events, removed ones too, from the database."""
    return {str(f.id): f.key for e in plan.events for f in e.fields}


def log_view(row: dict[str, Any], keys: dict[str, str]) -> LogView:
    verdicts = row["verdicts"] or {}
    counts = dict.fromkeys(VERDICTS, 0)
    problems = []
    for field_id, got in verdicts.items():
        verdict = str(got[0]) if got else "UNTESTED"
        counts[verdict] = counts.get(verdict, 0) + 1
        if verdict != "SUCCESS":
            problems.append(
                (keys.get(field_id, f"field {field_id}"), verdict, str(got[1]) if got else "")
            )
    pretty, cut = pretty_payload(row["payload"])
    return LogView(
        row["id"], row["name"], row["user_id"], str(row["platform"]), row["source"],
        row["received_at"], pretty, cut, counts, problems,
    )  # fmt: skip


_LOG_COLUMNS = ("id", "name", "user_id", "platform", "source", "received_at", "payload", "verdicts")


async def load_logs(
    session_id: int, plan: MatrixPlan, *, before: int | None = None, limit: int = LOGS_PER_PAGE
) -> tuple[list[LogView], bool]:
    """The newest logs not cleared (older than `before`), and whether older ones exist."""
    query = EventLog.filter(session_id=session_id, cleared=False)
    if before is not None:
        query = query.filter(id__lt=before)
    rows = await query.order_by("-id").limit(limit + 1).values(*_LOG_COLUMNS)
    keys = matrix_keys(plan)
    return [log_view(row, keys) for row in rows[:limit]], len(rows) > limit


async def load_logs_by_id(session_id: int, plan: MatrixPlan, log_ids: list[int]) -> list[LogView]:
    if not log_ids:
        return []
    rows = (
        await EventLog.filter(session_id=session_id, id__in=log_ids, cleared=False)
        .order_by("-id")
        .values(*_LOG_COLUMNS)
    )
    keys = matrix_keys(plan)
    return [log_view(row, keys) for row in rows]


@dataclass(frozen=True, slots=True)
class LogGap:
    """Log rows a reconnecting page missed beyond its window, and how many more there are."""

    after: int  # the newest log id the page showed before it was away
    logs: list[LogView]
    more: int  # rows older than `logs` and newer than `after` that were not sent

    @property
    def oldest_sent(self) -> int | None:
        return self.logs[-1].id if self.logs else None


async def load_log_gap(
    session_id: int,
    plan: MatrixPlan,
    *,
    after: int,
    limit: int,
    skip: int = LOGS_PER_PAGE,
    before: int | None = None,
) -> LogGap:
    """The logs newer than `after` (older than `before`), newest first, past the first `skip`.

    A page that comes back after a gap shows the newest `skip` logs in its window; the
    ones caught in the gap below that window would otherwise never be shown as rows.
    """
    query = EventLog.filter(session_id=session_id, cleared=False, id__gt=after)
    if before is not None:
        query = query.filter(id__lt=before)
    total = await query.count()
    if total <= skip or limit <= 0:
        return LogGap(after, [], max(0, total - skip))
    rows = await query.order_by("-id").offset(skip).limit(limit).values(*_LOG_COLUMNS)
    keys = matrix_keys(plan)
    logs = [log_view(row, keys) for row in rows]
    return LogGap(after, logs, total - skip - len(logs))
