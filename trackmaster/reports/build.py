"""Build a session's report from the session engine's results and one pass over its logs.

The matrix, coverage and plan come from `trackmaster.sessions.results` (the
read model every page uses). Per cell the report also needs what the live
page does not: how many caught events each verdict got since the cell's last
override or reset, and the distinct wrong values with one example each. Those
come from one pass over the session's logs, read in id order in chunks of
`CHUNK_ROWS` (memory stays flat whatever the session's size), keeping only
counters and at most MAX_WRONG_VALUES values per cell.

A cell's verdict here is the worst outstanding one over every event judged
since its last override or reset (FAIL over UNCERTAIN over SUCCESS): a report
never shows a failure as passed because a later event of the same kind was
good.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from trackmaster.models import (
    Event,
    EventLog,
    Field,
    SessionAccount,
    SyncRun,
    TestSession,
    VerdictOverride,
)
from trackmaster.reports.model import (
    MAX_WRONG_VALUES,
    PLATFORMS,
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

CHUNK_ROWS = 5000
NOT_FOUND = "(not found)"
# An example payload is cut to this many characters in a report (the log page has it all).
EXAMPLE_PAYLOAD_CHARS = 4000

CellKey = tuple[int, int, str]  # (event id, field id, platform)


@dataclass
class _Tally:
    """What one pass over the logs learns about one cell."""

    cover: int  # log ids up to this are covered by the cell's last override or reset
    counts: Counter = field(default_factory=Counter)
    # value text -> [count, reason, first log id]
    wrong: dict[str, list[Any]] = field(default_factory=dict)


def value_text(value: Any) -> str:
    if value is None:
        return NOT_FOUND
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


async def _overrides(session_id: int) -> list[dict[str, Any]]:
    rows = (
        await VerdictOverride.filter(session_id=session_id)
        .order_by("id")
        .values(
            "id", "event_id", "field_id", "platform", "kind", "verdict", "reason",
            "created_by", "created_at", "after_log_id",
        )
    )  # fmt: skip
    for row in rows:
        row["platform"] = str(row["platform"]) if row["platform"] is not None else None
        row["verdict"] = str(row["verdict"])
    return rows


def _last_cover(
    overrides: list[dict[str, Any]], event_id: int, field_id: int, platform: str
) -> dict[str, Any] | None:
    found = None
    for row in overrides:  # by id: the last that applies is the newest
        if (
            row["event_id"] == event_id
            and row["field_id"] in (None, field_id)
            and row["platform"] in (None, platform)
        ):
            found = row
    return found


async def _scan(
    session_id: int, tallies: dict[CellKey, _Tally]
) -> tuple[dict[tuple[int, str], int], EventCounts]:
    """One pass over the logs: caught per (event, platform), and the cells' tallies."""
    caught: Counter = Counter()
    good = bad = 0
    last_id = 0
    while True:
        rows = (
            await EventLog.filter(session_id=session_id, id__gt=last_id)
            .order_by("id")
            .limit(CHUNK_ROWS)
            .values_list("id", "event_id", "platform", "field_values", "verdicts")
        )
        if not rows:
            break
        for log_id, event_id, platform, values, verdicts in rows:
            platform = str(platform)
            caught[(event_id, platform)] += 1
            failed = False
            values = values or {}
            for field_id, got in (verdicts or {}).items():
                verdict = got[0] if got else "UNTESTED"
                if verdict == "FAIL":
                    failed = True
                tally = tallies.get((event_id, int(field_id), platform))
                if tally is None or log_id <= tally.cover:
                    continue
                tally.counts[verdict] += 1
                if verdict == "FAIL":
                    text = value_text(values.get(field_id))
                    seen = tally.wrong.get(text)
                    if seen is None:
                        tally.wrong[text] = [1, got[1] if len(got) > 1 else "", log_id]
                    else:
                        seen[0] += 1
            if failed:
                bad += 1
            else:
                good += 1
        last_id = rows[-1][0]
        if len(rows) < CHUNK_ROWS:
            break
    return dict(caught), EventCounts(good + bad, good, bad)


def _cell_from(
    event: dict[str, Any],
    body: dict[str, Any],
    platform: str,
    tally: _Tally,
    cover: dict[str, Any] | None,
) -> ReportCell:
    result = body["results"][platform]
    cell = ReportCell(
        event["id"], event["name"], body["id"], body["key"], platform,
        str(result["verdict"]), str(result.get("reason", "")), str(result.get("from", "none")),
        str(result.get("by", "") or ""), None, dict(tally.counts),
    )  # fmt: skip
    judged = sum(tally.counts.values())
    if judged:
        for verdict in ("FAIL", "UNCERTAIN", "SUCCESS", "UNTESTED"):
            if tally.counts.get(verdict):
                n = tally.counts[verdict]
                cell.verdict, cell.source, cell.by = verdict, "log", ""
                if verdict == "FAIL":
                    cell.reason = f"FAIL in {n} of {judged} caught events"
                elif verdict != str(result["verdict"]) or result.get("from") != "log":
                    cell.reason = f"{verdict} in {n} of {judged} caught events"
                break
    elif cover is not None:
        cell.verdict = cover["verdict"]
        cell.source = "reset" if cover["kind"] == "reset" else "override"
        cell.by, cell.at = cover["created_by"], cover["created_at"]
        cell.reason = cover["reason"] or (
            "reset to UNTESTED" if cell.source == "reset" else "set by hand"
        )
    ordered = sorted(tally.wrong.items(), key=lambda item: (-item[1][0], item[1][2]))
    cell.wrong = [
        WrongValue(text, count, reason, log_id)
        for text, (count, reason, log_id) in ordered[:MAX_WRONG_VALUES]
    ]
    cell.wrong_more = max(0, len(ordered) - MAX_WRONG_VALUES)
    if cell.wrong and cell.verdict == "FAIL":
        cell.reason += f"; {cell.wrong[0].reason}" if cell.wrong[0].reason else ""
    return cell


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


async def _plan_version(project_id: int) -> str:
    run = await SyncRun.filter(project_id=project_id, status="ok").order_by("-id").first()
    if run is None:
        return "no recorded plan sync"
    when = run.finished_at or run.started_at
    return f"sync run {run.id} ({run.source}, {when:%Y-%m-%d %H:%M:%S} UTC)"


def _unplanned(results: list[dict[str, Any]]) -> list[UnplannedLine]:
    """Unplanned properties, where the session engine reports them (per event and platform)."""
    lines = []
    for event in results:
        for item in event.get("unplanned", []) or []:
            lines.append(
                UnplannedLine(
                    event["name"], str(item.get("platform", "")), str(item.get("key", "")),
                    int(item.get("count", 0) or 0), str(item.get("suggestion", "") or ""),
                )
            )  # fmt: skip
    return lines


async def build_report(session: TestSession) -> Report:
    """The whole report of one session (its project must be fetched or fetchable)."""
    await session.fetch_related("project")
    results = await session_results(session)
    overrides = await _overrides(session.id)
    tallies: dict[CellKey, _Tally] = {}
    covers: dict[CellKey, dict[str, Any] | None] = {}
    for event in results:
        for body in event["fields"]:
            for platform in PLATFORMS:
                key = (event["id"], body["id"], platform)
                cover = _last_cover(overrides, event["id"], body["id"], platform)
                covers[key] = cover
                tallies[key] = _Tally(cover["after_log_id"] if cover else 0)
    caught, event_counts = await _scan(session.id, tallies)

    event_ids = [event["id"] for event in results]
    stories = dict(
        await Event.filter(id__in=event_ids).values_list("id", "story__name") if event_ids else []
    )
    events, cells, coverage = [], [], []
    for event in results:
        by_platform = {p: caught.get((event["id"], p), 0) for p in PLATFORMS}
        events.append(
            ReportEvent(
                event["id"], event["name"], stories.get(event["id"], ""),
                sum(by_platform.values()), by_platform,
                tuple((b["id"], b["key"], tuple(b["values"])) for b in event["fields"]),
            )
        )  # fmt: skip
        for body in event["fields"]:
            for platform in PLATFORMS:
                key = (event["id"], body["id"], platform)
                cells.append(_cell_from(event, body, platform, tallies[key], covers[key]))
            for platform, summary in (body.get("coverage") or {}).items():
                coverage.append(
                    CoverageLine(event["name"], body["key"], platform,
                                 tuple(summary["seen"]), tuple(summary["missing"]))
                )  # fmt: skip
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
    accounts = (
        await SessionAccount.filter(session_id=session.id)
        .order_by("id")
        .values_list("user_id", flat=True)
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
        plan_version=await _plan_version(session.project_id),
        accounts=tuple(accounts),
        events=tuple(events),
        cells=cells,
        coverage=coverage,
        overrides=override_lines,
        unplanned=_unplanned(results),
        event_counts=event_counts,
        generated_at=datetime.now(UTC),
    )
