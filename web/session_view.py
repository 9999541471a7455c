"""What a session page shows: the matrix, counts, coverage and logs, shaped for templates.

The page and its SSE stream read through here, so that a streamed update and
a full render can never disagree. Results come from the session engine
(`trackmaster.sessions.results.session_results`: a handful of queries for the
whole session, never one per cell); this module only shapes them into cells
with stable DOM ids, coverage rows and counts.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, cast

from trackmaster import found
from trackmaster.checks.rules import describe as describe_rules
from trackmaster.checks.unplanned import key_digest
from trackmaster.models import (
    PLATFORMS,
    Event,
    EventLog,
    SessionAccount,
    TestSession,
    Verdict,
)
from trackmaster.sessions.results import session_results

VERDICTS: tuple[str, ...] = tuple(v.value for v in Verdict)
LOGS_PER_PAGE = 50
# A payload is shown pretty-printed up to this many characters; the log's own page has it all.
PAYLOAD_SHOWN_CHARS = 20_000

CellKey = tuple[int, int, str]  # (event_id, field_id, platform)


@dataclass(frozen=True, slots=True)
class PlanField:
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
class PlanEvent:
    id: int
    name: str
    story: str
    removed: bool
    fields: tuple[PlanField, ...]


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
class SessionPlan:
    events: tuple[PlanEvent, ...]

    @property
    def signature(self) -> tuple:
        """Changes when the matrix's rows change (events or fields added or removed)."""
        return tuple((e.id, tuple(f.id for f in e.fields)) for e in self.events)

    def field(self, field_id: int) -> PlanField | None:
        for event in self.events:
            for plan_field in event.fields:
                if plan_field.id == field_id:
                    return plan_field
        return None

    def event(self, event_id: int) -> PlanEvent | None:
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
    event: PlanEvent
    field: PlanField  # shadows dataclasses.field in this body: hence dataclasses.field below
    seen: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    missing: dict[str, list[str]] = dataclasses.field(default_factory=dict)

    @property
    def dom_id(self) -> str:
        return f"cov-{self.event.id}-{self.field.id}"

    def key(self) -> tuple:
        return tuple((p, tuple(self.seen[p])) for p in PLATFORMS)


async def get_session(session_id: int) -> TestSession:
    """The session with its project, which every session page names."""
    return await found.get_session(session_id, with_project=True)


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


def unplanned_panel(results: list[dict[str, Any]]) -> UnplannedPanel:
    """The session's unplanned properties per event and key, counted per platform."""
    rows, marks, more = [], [], 0
    for event in results:
        by_key: dict[str, dict[str, Any]] = {}
        for item in event.get("unplanned") or ():
            row = by_key.setdefault(
                item["key"],
                {"path": item["path"], "suggestion": item["suggestion"], "counts": {}},
            )
            row["counts"][item["platform"]] = item["count"]
            row["suggestion"] = row["suggestion"] or item["suggestion"]
        for key, row in by_key.items():
            counts = tuple((p, int(row["counts"].get(p, 0))) for p in PLATFORMS)
            rows.append(
                UnplannedRow(
                    event["id"], event["name"], key, row["path"], row["suggestion"], counts
                )
            )
        more += int(event.get("unplannedMore") or 0)
        for mark in event.get("expectedProperties") or ():
            marks.append(
                ExpectedMark(event["id"], event["name"], mark["key"], mark["reason"], mark["by"])
            )
    rows.sort(key=lambda r: (r.event, -r.total, r.key))
    return UnplannedPanel(tuple(rows), more, tuple(marks))


@dataclass
class Snapshot:
    """Everything the top of a session page shows, read at one moment."""

    plan: SessionPlan
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


def _cell(event_id: int, field_id: int, platform: str, result: dict[str, Any]) -> Cell:
    source = result.get("from", "")
    reason = str(result.get("reason", ""))
    if source == "override":
        reason = f"set by hand: {reason}"
    elif source == "reset":
        reason = f"reset by a tester: {reason}"
    elif source == "none":
        source, reason = "", f"no {platform} event caught yet"
    counts = result.get("counts") or {}
    return Cell(
        event_id, field_id, platform, str(result["verdict"]), reason, None, source,
        result.get("logId"), str(result.get("label") or result["verdict"]),
        tuple((v, int(counts.get(v, 0))) for v in ("FAIL", "UNCERTAIN", "SUCCESS")),
        sum(int(n) for n in (result.get("total") or {}).values()),
        result.get("override") is not None, int(result.get("otherValues") or 0),
    )  # fmt: skip


async def load_snapshot(session: TestSession) -> Snapshot:
    """The matrix, coverage and counts, from the session engine's results (one source of truth)."""
    results = await session_results(session)
    event_ids = [event["id"] for event in results]
    stories: dict[int, tuple[str, bool]] = {}
    if event_ids:
        for event_id, story, removed_at in await Event.filter(id__in=event_ids).values_list(
            "id", "story__name", "removed_at"
        ):
            stories[event_id] = (story, removed_at is not None)
    events, cells, coverage = [], {}, []
    for event in results:
        story, removed = stories.get(event["id"], ("", False))
        fields = []
        for body in event["fields"]:
            plan_field = PlanField(
                body["id"], body["key"], tuple(body["values"]), body["note"], False,
                describe_rules(body.get("rules")),
            )  # fmt: skip
            fields.append(plan_field)
            for platform, result in body["results"].items():
                cells[(event["id"], body["id"], platform)] = _cell(
                    event["id"], body["id"], platform, result
                )
        plan_event = PlanEvent(event["id"], event["name"], story, removed, tuple(fields))
        events.append(plan_event)
        for plan_field, body in zip(fields, event["fields"], strict=True):
            if "coverage" in body and plan_field.is_enum:
                row = CoverageRow(plan_event, plan_field)
                for platform, summary in body["coverage"].items():
                    row.seen[platform] = list(summary["seen"])
                    row.missing[platform] = list(summary["missing"])
                coverage.append(row)
    plan = SessionPlan(tuple(events))
    verdicts = dict.fromkeys(VERDICTS, 0)
    for cell in cells.values():
        verdicts[cell.verdict] = verdicts.get(cell.verdict, 0) + 1
    unseen = [event["name"] for event in results if not event["logs"]]
    # Counted by the ingest transaction; only the hidden (cleared) ones need a count.
    logs = sum(event["logs"] for event in results)
    shown = await EventLog.filter(session_id=session.id, cleared=False).count()
    event_verdicts = dict.fromkeys(("FAIL", "UNCERTAIN", "SUCCESS"), 0)
    for event in results:
        for row in event["eventCounts"].values():
            for verdict in event_verdicts:
                event_verdicts[verdict] += row[verdict]
    counts = Counts(
        verdicts, logs, shown, len(results) - len(unseen), len(results), unseen, event_verdicts
    )
    return Snapshot(plan, cells, coverage, counts, unplanned_panel(results))


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


def _field_keys(plan: SessionPlan) -> dict[str, str]:
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
    session_id: int, plan: SessionPlan, *, before: int | None = None, limit: int = LOGS_PER_PAGE
) -> tuple[list[LogView], bool]:
    """The newest logs not cleared (older than `before`), and whether older ones exist."""
    query = EventLog.filter(session_id=session_id, cleared=False)
    if before is not None:
        query = query.filter(id__lt=before)
    rows = await query.order_by("-id").limit(limit + 1).values(*_LOG_COLUMNS)
    keys = _field_keys(plan)
    return [log_view(row, keys) for row in rows[:limit]], len(rows) > limit


async def load_logs_by_id(session_id: int, plan: SessionPlan, log_ids: list[int]) -> list[LogView]:
    if not log_ids:
        return []
    rows = (
        await EventLog.filter(session_id=session_id, id__in=log_ids, cleared=False)
        .order_by("-id")
        .values(*_LOG_COLUMNS)
    )
    keys = _field_keys(plan)
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
    plan: SessionPlan,
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
    keys = _field_keys(plan)
    logs = [log_view(row, keys) for row in rows]
    return LogGap(after, logs, total - skip - len(logs))
