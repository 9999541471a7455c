"""Build a session's report from the session engine's read model, never from the logs.

Cells, their counts per verdict (every event caught since the cell's last
reset, outstanding since its last override), the event counts, coverage and
the plan all come from `trackmaster.sessions.results.session_results`, which
reads the cells the ingest transaction keeps up to date. The distinct wrong
values of failing cells come from the cells' kept values (CellValue), read in
one query per session; one example payload per value, by its log id. So a
report costs a few queries per session, whatever the number of caught events.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast

from trackmaster.models import (
    PLATFORMS,
    CellValue,
    Event,
    EventLog,
    Field,
    SessionAccount,
    SyncRun,
    TestSession,
    Verdict,
    VerdictOverride,
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
from trackmaster.sessions.results import session_results

NOT_FOUND = "(not found)"
# An example payload is cut to this many characters in a report (the log page has it all).
EXAMPLE_PAYLOAD_CHARS = 4000

CellKey = tuple[int, int, str]  # (event id, field id, platform)


def shown_value(kind: str, value: str | None) -> str:
    """A kept value as the report shows it: strings quoted, so "1" and 1 differ."""
    if value is None or not kind:
        return NOT_FOUND
    return json.dumps(value, ensure_ascii=False) if kind == "string" else value


async def _overrides(session_id: int) -> list[dict[str, Any]]:
    rows = (
        await VerdictOverride.filter(session_id=session_id)
        .order_by("id")
        .values(
            "id", "event_id", "field_id", "platform", "kind", "verdict", "reason",
            "created_by", "created_at",
        )
    )  # fmt: skip
    for row in rows:
        row["platform"] = str(row["platform"]) if row["platform"] is not None else None
        row["verdict"] = str(row["verdict"])
    return rows


def _cell(event: dict[str, Any], body: dict[str, Any], platform: str) -> ReportCell:
    result = body["results"][platform]
    at = result.get("at")
    return ReportCell(
        event["id"], event["name"], body["id"], body["key"], platform,
        str(result["verdict"]), str(result.get("reason", "")), str(result.get("from", "none")),
        str(result.get("by", "") or ""), datetime.fromisoformat(at) if at else None,
        {k: int(v) for k, v in (result.get("counts") or {}).items() if v},
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


def _unplanned(results: list[dict[str, Any]]) -> list[UnplannedLine]:
    """Unplanned properties, where the session engine reports them (per event and platform)."""
    lines = []
    for event in results:
        for item in event.get("unplanned", []) or []:
            lines.append(
                UnplannedLine(
                    event["name"], str(item.get("platform", "")), str(item.get("key", "")),
                    int(item.get("count", 0) or 0), str(item.get("suggestion", "") or ""),
                    str(item.get("path", "") or ""), str(item.get("reason", "") or ""),
                )
            )  # fmt: skip
    return lines


async def build_report(session: TestSession) -> Report:
    """The whole report of one session (its project must be fetched or fetchable)."""
    await session.fetch_related("project")
    results = await session_results(session)
    overrides = await _overrides(session.id)
    event_ids = [event["id"] for event in results]
    stories = dict(
        await Event.filter(id__in=event_ids).values_list("id", "story__name") if event_ids else []
    )
    events, cells, coverage = [], [], []
    caught_all = bad = 0
    for event in results:
        per_platform = event.get("eventCounts") or {}
        by_platform = {p: int((per_platform.get(p) or {}).get("caught", 0)) for p in PLATFORMS}
        # Good and bad count the events the cells judge: those since the event's reset
        # (`caught` counts every one ever, so a reset left them all "good").
        caught_all += sum(int((per_platform.get(p) or {}).get("sinceReset", 0)) for p in PLATFORMS)
        bad += sum(int((per_platform.get(p) or {}).get("FAIL", 0)) for p in PLATFORMS)
        events.append(
            ReportEvent(
                event["id"], event["name"], stories.get(event["id"], ""),
                sum(by_platform.values()), by_platform,
                tuple((b["id"], b["key"], tuple(b["values"])) for b in event["fields"]),
            )
        )  # fmt: skip
        for body in event["fields"]:
            for platform in PLATFORMS:
                cells.append(_cell(event, body, platform))
            for platform, summary in (body.get("coverage") or {}).items():
                coverage.append(
                    CoverageLine(event["name"], body["key"], platform,
                                 tuple(summary["seen"]), tuple(summary["missing"]))
                )  # fmt: skip
    await _wrong_values(session.id, cells)
    await _examples([c for c in cells if c.failed])

    names = {event["id"]: event["name"] for event in results}
    field_ids = sorted({row["field_id"] for row in overrides if row["field_id"] is not None})
    keys = dict(await Field.filter(id__in=field_ids).values_list("id", "key")) if field_ids else {}
    override_lines = [
        OverrideLine(
            row["kind"], names.get(row["event_id"], f"event {row['event_id']}"),
            keys.get(row["field_id"], "") if row["field_id"] is not None else "",
            row["platform"] or "", row["verdict"], row["reason"], row["created_by"],
            row["created_at"],
        )
        for row in overrides
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
        unplanned=_unplanned(results),
        event_counts=EventCounts(caught_all, caught_all - bad, bad),
        generated_at=datetime.now(UTC),
    )
