"""Build a session's report from the session engine's read model, never from the logs.

Cells, their counts per verdict (every event caught since the cell's last
reset, outstanding since its last override), the event counts, coverage and
the plan all come from the read model (`trackmaster.sessions.view.SessionView`), which
reads the cells the ingest transaction keeps up to date. The distinct wrong
values of failing cells come from the cells' kept values (CellValue), read in
one query per session; one example payload per value, by its log id. So a
report costs a few queries per session, whatever the number of caught events.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import cast

from trackmaster.models import (
    PLATFORMS,
    CellValue,
    EventLog,
    Field,
    SessionAccount,
    SyncRun,
    TestSession,
    Verdict,
)
from trackmaster.reports.model import (
    MAX_WRONG_VALUES,
    CoverageLine,
    EventCounts,
    OverrideLine,
    Report,
    ReportCell,
    ReportEvent,
    UnplannedLine,
    WrongValue,
)
from trackmaster.sessions.view import CellResult, SessionView, WatchedEvent, load_view

NOT_FOUND = "(not found)"
# An example payload is cut to this many characters in a report (the log page has it all).
EXAMPLE_PAYLOAD_CHARS = 4000

CellKey = tuple[int, int, str]  # (event id, field id, platform)


def shown_value(kind: str, value: str | None) -> str:
    """A kept value as the report shows it: strings quoted, so "1" and 1 differ."""
    if value is None or not kind:
        return NOT_FOUND
    return json.dumps(value, ensure_ascii=False) if kind == "string" else value


def _cell(
    event: WatchedEvent, field_id: int, key: str, cell: CellResult, platform: str
) -> ReportCell:
    state = cell.state
    return ReportCell(
        event.id, event.name, field_id, key, platform, state.verdict.value, cell.reason,
        cell.source, cell.by, cell.at,
        {k: int(v) for k, v in state.outstanding.items() if v},
    )  # fmt: skip


async def _wrong_values(session_id: int, cells: list[ReportCell]) -> None:
    """The most frequent failing values of each failing cell, at most MAX_WRONG_VALUES each."""
    failing = {(c.event_id, c.field_id, c.platform): c for c in cells if c.failed}
    if not failing:
        return
    rows = (
        await CellValue.filter(session_id=session_id, verdict=Verdict.FAIL)
        .order_by("-count", "id")
        .values_list("event_id", "field_id", "platform", "kind", "value", "reason", "count",
                     "example_log_id")
    )  # fmt: skip
    for event_id, field_id, platform, kind, value, reason, count, log_id in rows:
        cell = failing.get((event_id, field_id, str(platform)))
        if cell is None:
            continue
        if len(cell.wrong) < MAX_WRONG_VALUES:
            cell.wrong.append(WrongValue(shown_value(kind, value), int(count), reason, log_id))
        else:
            cell.wrong_more += 1


async def _examples(cells: list[ReportCell]) -> None:
    ids = sorted({w.example_log_id for c in cells for w in c.wrong})
    payloads: dict[int, str] = {}
    for start in range(0, len(ids), 500):
        rows = await EventLog.filter(id__in=ids[start : start + 500]).values_list("id", "payload")
        payloads.update({log_id: payload[:EXAMPLE_PAYLOAD_CHARS] for log_id, payload in rows})
    for cell in cells:
        cell.wrong = [
            WrongValue(w.value, w.count, w.reason, w.example_log_id,
                       payloads.get(w.example_log_id, ""))
            for w in cell.wrong
        ]  # fmt: skip


async def _plan_version(project_id: int, started_at: datetime | None) -> str:
    """The project's last successful plan sync, and whether it came after the session began."""
    run = await SyncRun.filter(project_id=project_id, status="ok").order_by("-id").first()
    if run is None:
        return "no recorded plan sync"
    when = run.finished_at or run.started_at
    text = f"sync run {run.id} ({run.source}, {when:%Y-%m-%d %H:%M:%S} UTC)"
    if started_at is not None and when > started_at:
        # Cells judged before it used the plan as it was then.
        text += ", after this session started"
    return text


def _unplanned(view: SessionView) -> list[UnplannedLine]:
    """Unplanned properties, where the session engine reports them (per event and platform)."""
    lines = []
    for event in view.events:
        for item in view.unplanned.get(event.id, {}).get("unplanned", []) or []:
            lines.append(
                UnplannedLine(
                    event.name, str(item.get("platform", "")), str(item.get("key", "")),
                    int(item.get("count", 0) or 0), str(item.get("suggestion", "") or ""),
                    str(item.get("path", "") or ""), str(item.get("reason", "") or ""),
                )
            )  # fmt: skip
    return lines


async def build_report(session: TestSession) -> Report:
    """The whole report of one session (its project must be fetched or fetchable)."""
    await session.fetch_related("project")
    view = await load_view(session)
    events, cells, coverage = [], [], []
    caught_all = bad = 0
    for event in view.events:
        by_platform = {p: view.counts_of(event.id, p).caught for p in PLATFORMS}
        # Good and bad count the events the cells judge: those since the event's reset
        # (`caught` counts every one ever, so a reset left them all "good").
        caught_all += sum(view.counts_of(event.id, p).since_reset for p in PLATFORMS)
        bad += sum(view.counts_of(event.id, p).fail for p in PLATFORMS)
        fields = event.plan.fields
        events.append(
            ReportEvent(
                event.id, event.name, event.story, sum(by_platform.values()), by_platform,
                tuple((f.field_id, f.key, f.allowed) for f in fields),
            )
        )  # fmt: skip
        for field in fields:
            for platform in PLATFORMS:
                cell = view.cell(event.id, field.field_id, platform)
                cells.append(_cell(event, field.field_id, field.key, cell, platform))
            for platform, summary in (view.coverage.get(field.field_id) or {}).items():
                coverage.append(
                    CoverageLine(event.name, field.key, platform,
                                 tuple(summary["seen"]), tuple(summary["missing"]))
                )  # fmt: skip
    await _wrong_values(session.id, cells)
    await _examples([c for c in cells if c.failed])

    names = {event.id: event.name for event in view.events}
    overrides = list(view.overrides.values())  # in the order they were made
    field_ids = sorted({o.field_id for o in overrides if o.field_id is not None})
    keys = dict(await Field.filter(id__in=field_ids).values_list("id", "key")) if field_ids else {}
    override_lines = [
        OverrideLine(
            o.kind, names.get(o.event_id, f"event {o.event_id}"),
            keys.get(o.field_id, "") if o.field_id is not None else "",
            o.platform or "", o.verdict, o.reason, o.created_by, o.created_at,
        )
        for o in overrides
    ]  # fmt: skip
    accounts = cast(
        list[str],
        await SessionAccount.filter(session_id=session.id)
        .order_by("id")
        .values_list("user_id", flat=True),
    )
    return Report(
        session_id=session.id,
        session_name=session.name,
        project_id=session.project_id,
        project=session.project.name,
        status=str(session.status),
        source=session.source,
        created_by=session.created_by,
        started_at=session.started_at,
        stopped_at=session.stopped_at,
        stop_reason=session.stop_reason,
        plan_version=await _plan_version(session.project_id, session.started_at),
        accounts=tuple(accounts),
        events=tuple(events),
        cells=cells,
        coverage=coverage,
        overrides=override_lines,
        unplanned=_unplanned(view),
        event_counts=EventCounts(caught_all, caught_all - bad, bad),
        generated_at=datetime.now(UTC),
    )
