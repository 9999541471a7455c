"""Re-judge a session's stored events against the current plan, and rebuild its cells.

After a sync or import changed fields, the verdicts stored with each caught
log are the old plan's. Re-judging reads every stored log in id order,
checks its payload with the current rules, and replays the overrides and
resets where they happened (an override made when the newest log was N
covers logs up to N), so the rebuilt cells are exactly what ingest would
have kept had the current plan been in force all along. Overrides are kept;
one whose field changed verdict is marked (`rule_changed_at`).

The work runs in memory in chunks (progress in a RejudgeRun row); only the
end is one transaction: it locks the session row first (as ingest does),
judges the logs caught since the start, rewrites the logs' verdicts, and
replaces the session's cells and kept values. A live session keeps catching
events meanwhile; none is missed or counted twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from trackmaster.checks import FieldCheck, check_event
from trackmaster.checks.unplanned import find_unplanned, root_for
from trackmaster.models import (
    PLATFORMS,
    CellValue,
    EventLog,
    Platform,
    RejudgeRun,
    ResultCell,
    SessionEvent,
    TestSession,
    UnplannedProperty,
    Verdict,
    VerdictOverride,
)
from trackmaster.sessions import _sql, cell_store
from trackmaster.sessions.cells import (
    EVENT_FIELD,
    RANK,
    BatchTally,
    CellState,
    ValueTracker,
    log_columns,
)
from trackmaster.sessions.plans import EventPlan, load_event_plans
from trackmaster.sessions.publish import bump_revisions
from trackmaster.sources import CaughtEvent

log = logging.getLogger(__name__)

CHUNK_LOGS = 2000
# Logs rewritten per statement: each database call must finish within DB_TIMEOUT_S, and a
# loaded MariaDB took more than 5 s for 2,000 updates in one call.
REWRITE_PER_CALL = 200
# Cells that changed verdict listed in a run, at most (the count is exact).
MAX_CHANGES_LISTED = 500
# Judged logs counted together (bounds the checks held in memory meanwhile).
TALLY_LOGS = 2000
Progress = Callable[[int, int], Any]


@dataclass
class _Cell:
    n: list[int] = field(default_factory=lambda: [0, 0, 0])  # success, fail, uncertain
    o: list[int] = field(default_factory=lambda: [0, 0, 0])
    caught: int = 0
    since_reset: int = 0  # n_caught
    other_values: int = 0
    reasons: dict[str, tuple[str, str]] = field(default_factory=dict)  # verdict -> reason, code
    last_log_id: int = 0
    override_id: int | None = None
    override_verdict: Verdict | None = None


_SLOT = {Verdict.SUCCESS: 0, Verdict.FAIL: 1, Verdict.UNCERTAIN: 2}


class _Replay:
    """The cells and kept values of one session, rebuilt log by log and override by override."""

    def __init__(self, plans: dict[int, EventPlan], overrides: list[VerdictOverride]) -> None:
        self.plans = plans
        self.cells: dict[tuple[int, int, str], _Cell] = {}
        self.values = ValueTracker()
        self.value_counts: dict[tuple[int, int, str, str], list[Any]] = {}
        self.pending = sorted(overrides, key=lambda o: (o.after_log_id, o.id))
        self.next_override = 0
        self.log_updates: list[tuple[str, str, int]] = []
        # Unplanned properties, as ingest counts them: (event, platform, digest) -> tally.
        self.unplanned = BatchTally()
        # Judged logs not yet counted, per (event, platform), in id order: counted together
        # (BatchTally.add_logs) before an override applies and every TALLY_LOGS logs.
        self._judged: dict[tuple[int, str], list[tuple[int, list[FieldCheck]]]] = {}
        self._judged_count = 0

    def _apply_overrides_before(self, log_id: int) -> None:
        # An override made when the newest log was N covers logs <= N: apply it before N+1.
        while (
            self.next_override < len(self.pending)
            and self.pending[self.next_override].after_log_id < log_id
        ):
            self._count_judged()
            self._apply(self.pending[self.next_override])
            self.next_override += 1

    def finish_overrides(self) -> None:
        self._apply_overrides_before(2**63)
        self._count_judged()

    def _apply(self, override: VerdictOverride) -> None:
        if override.kind == "reset":
            for key in [k for k in self.cells if k[0] == override.event_id]:
                if key[1] == EVENT_FIELD:  # `caught` counts every event ever, resets included
                    old = self.cells[key]
                    self.cells[key] = _Cell(caught=old.caught, last_log_id=old.last_log_id)
                else:
                    del self.cells[key]
            for key in [k for k in self.value_counts if k[0] == override.event_id]:
                del self.value_counts[key]
            for key in [k for k in self.unplanned.unplanned if k[1] == override.event_id]:
                del self.unplanned.unplanned[key]
            self.values.forget_event(override.event_id)
            return
        platforms = PLATFORMS if override.platform is None else (str(override.platform),)
        for platform in platforms:
            key = (override.event_id, override.field_id or 0, platform)
            cell = self.cells.setdefault(key, _Cell())
            cell.o = [0, 0, 0]
            cell.override_id, cell.override_verdict = override.id, Verdict(str(override.verdict))

    def add(self, row: dict[str, Any]) -> None:
        log_id = int(row["id"])
        self._apply_overrides_before(log_id)
        plan = self.plans.get(row["event_id"])
        if plan is None:
            return
        try:
            payload = orjson.loads(row["payload"])
        except orjson.JSONDecodeError:
            payload = json.loads(row["payload"])  # stored by the exact parser (huge integers)
        source = row["source"]
        style = CaughtEvent("", "", Platform.OTHER, payload, source, None, None).lookup_style
        checks = check_event(plan.fields, payload, style)
        self.log_updates.append((*log_columns(checks), log_id))
        platform = str(row["platform"])
        self.unplanned.add_unplanned(
            0, row["event_id"], platform, log_id,
            find_unplanned(plan.planned, payload, root_for(source, style)),
        )  # fmt: skip
        self._judged.setdefault((row["event_id"], platform), []).append((log_id, checks))
        self._judged_count += 1
        if self._judged_count >= TALLY_LOGS:
            self._count_judged()

    def _count_judged(self) -> None:
        """Add the judged logs to the cells and kept values, as ingest would have."""
        if not self._judged:
            return
        tally = BatchTally()
        for (event_id, platform), logs in self._judged.items():
            tally.add_logs(0, event_id, platform, logs, self.values)
        self._judged.clear()
        self._judged_count = 0
        for (_, event_id, field_id, p), t in tally.cells.items():
            cell = self.cells.setdefault((event_id, field_id, p), _Cell())
            cell.caught += t.caught
            cell.since_reset += t.caught
            cell.other_values += t.other_values
            for verdict, count in ((Verdict.SUCCESS, t.success), (Verdict.FAIL, t.fail),
                                   (Verdict.UNCERTAIN, t.uncertain)):  # fmt: skip
                if count:
                    cell.n[_SLOT[verdict]] += count
                    cell.o[_SLOT[verdict]] += count
            if t.fail:
                cell.reasons["FAIL"] = (t.fail_reason, t.fail_code)
            if t.uncertain:
                cell.reasons["UNCERTAIN"] = (t.uncertain_reason, t.uncertain_code)
            if t.success:
                cell.reasons["SUCCESS"] = (t.success_reason, "")
            cell.last_log_id = max(cell.last_log_id, t.last_log_id)
        for (_, event_id, field_id, p, digest), v in tally.values.items():
            key = (event_id, field_id, p, digest)
            kept = self.value_counts.get(key)
            if kept is None:
                self.value_counts[key] = [v.kind, v.value, v.verdict.value, v.code, v.reason,
                                          v.count, v.example_log_id]  # fmt: skip
            else:
                kept[5] += v.count

    def cell_rows(self, session_id: int) -> list[tuple[Any, ...]]:
        self._count_judged()
        rows = []
        for (event_id, field_id, platform), c in self.cells.items():
            fail, unc, suc = (
                c.reasons.get("FAIL"),
                c.reasons.get("UNCERTAIN"),
                c.reasons.get("SUCCESS"),
            )
            rows.append((
                session_id, event_id, field_id, platform, c.caught, c.since_reset, c.n[0],
                c.n[1], c.n[2], c.o[0], c.o[1], c.o[2], c.other_values, suc[0] if suc else "",
                fail[0] if fail else "", fail[1] if fail else "", unc[0] if unc else "",
                unc[1] if unc else "", c.last_log_id, c.override_id,
                c.override_verdict.value if c.override_verdict else None,
            ))  # fmt: skip
        return rows

    def value_rows(self, session_id: int) -> list[tuple[Any, ...]]:
        self._count_judged()
        return [
            (session_id, event_id, field_id, platform, digest, *kept)
            for (event_id, field_id, platform, digest), kept in self.value_counts.items()
        ]

    def unplanned_rows(self, session_id: int) -> list[tuple[Any, ...]]:
        return [
            (session_id, event_id, platform, digest, u.key, u.path, u.suggestion, u.count,
             u.example_log_id, u.last_log_id)
            for (_, event_id, platform, digest), u in self.unplanned.unplanned.items()
        ]  # fmt: skip

    def state(self, key: tuple[int, int, str]) -> CellState:
        self._count_judged()
        c = self.cells.get(key)
        if c is None:
            return CellState.untested()
        return CellState.from_row({
            "o_success": c.o[0], "o_fail": c.o[1], "o_uncertain": c.o[2],
            "n_success": c.n[0], "n_fail": c.n[1], "n_uncertain": c.n[2],
            "success_reason": "", "fail_reason": "", "fail_code": "", "uncertain_reason": "",
            "uncertain_code": "", "override_verdict": c.override_verdict,
            "override_id": c.override_id,
        })  # fmt: skip


_LOG_COLUMNS = ("id", "event_id", "platform", "source", "payload")


async def _logs(session_id: int, after_id: int, up_to: int | None) -> list[dict[str, Any]]:
    query = EventLog.filter(session_id=session_id, id__gt=after_id)
    if up_to is not None:
        query = query.filter(id__lte=up_to)
    return await query.order_by("id").limit(CHUNK_LOGS).values(*_LOG_COLUMNS)


async def rejudge_session(
    session: TestSession, run: RejudgeRun, progress: Progress | None = None
) -> RejudgeRun:
    """Re-judge every stored log of `session` with the current plan; `run` records it."""
    started = datetime.now(UTC)
    event_ids: list[int] = cast(
        list[int],
        await SessionEvent.filter(session_id=session.id).values_list("event_id", flat=True),
    )
    plans = await load_event_plans(event_ids)
    before, _ = await cell_store.load_cells(session.id)
    overrides = await VerdictOverride.filter(session_id=session.id).order_by("id")
    replay = _Replay(plans, list(overrides))
    ids = cast(
        list[int],
        await EventLog.filter(session_id=session.id)
        .order_by("-id")
        .limit(1)
        .values_list("id", flat=True),
    )
    up_to = ids[0] if ids else 0
    total = await EventLog.filter(session_id=session.id, id__lte=up_to).count()
    run.total, run.done, run.status = total, 0, "running"
    await run.save(update_fields=["total", "done", "status"])
    last = 0
    while True:
        rows = await _logs(session.id, last, up_to)
        if not rows:
            break
        for row in rows:
            replay.add(row)
        last = int(rows[-1]["id"])
        run.done += len(rows)
        await run.save(update_fields=["done"])
        if progress is not None:
            progress(run.done, total)
    async with in_transaction() as conn:
        # The session row first: batches of this session wait, so the logs caught since
        # `up_to` are all here, and none arrives between this read and the rewrite.
        await bump_revisions(conn, [session.id])
        while True:
            rows = await _logs(session.id, last, None)
            if not rows:
                break
            for row in rows:
                replay.add(row)
            last = int(rows[-1]["id"])
            run.done += len(rows)
        replay.finish_overrides()
        await _rewrite_logs(conn, replay.log_updates)
        await ResultCell.filter(session_id=session.id).using_db(conn).delete()
        await CellValue.filter(session_id=session.id).using_db(conn).delete()
        await UnplannedProperty.filter(session_id=session.id).using_db(conn).delete()
        await _sql.insert_rows(
            conn, "result_cell", cell_store.CELL_COLUMNS, replay.cell_rows(session.id)
        )
        await _sql.insert_rows(
            conn, "cell_value", cell_store.VALUE_COLUMNS, replay.value_rows(session.id)
        )
        await _sql.insert_rows(
            conn, "unplanned_property", cell_store.UNPLANNED_COLUMNS,
            replay.unplanned_rows(session.id),
        )  # fmt: skip
        changes, changed_fields = _changes(before, replay)
        marked = [
            o.id for o in overrides
            if o.kind == "override" and (o.event_id, o.field_id) in changed_fields
        ]  # fmt: skip
        if marked:
            await (
                VerdictOverride.filter(id__in=marked).using_db(conn).update(rule_changed_at=started)
            )
        run.status = "done"
        run.changed = len(changes)
        run.changes = {"cells": changes[:MAX_CHANGES_LISTED], "overridesMarked": marked}
        run.finished_at = datetime.now(UTC)
        await run.save(using_db=conn)
    return run


async def _rewrite_logs(conn: BaseDBAsyncClient, updates: list[tuple[str, str, int]]) -> None:
    q = _sql.quote
    mark = _sql.marks(conn, 1)
    if not _sql.is_mysql(conn):
        sql = (
            f"UPDATE {q(conn, 'event_log')} SET {q(conn, 'field_values')} = {mark}, "
            f"{q(conn, 'verdicts')} = {mark} WHERE {q(conn, 'id')} = {mark}"
        )
        for start in range(0, len(updates), REWRITE_PER_CALL):
            rows = updates[start : start + REWRITE_PER_CALL]
            # The drivers take any sequence per row; Tortoise annotates lists.
            await conn.execute_many(sql, rows)  # type: ignore[arg-type]  # tuples, as said
        return
    # aiomysql's executemany sends an UPDATE a row, a round trip each (100,000 for a
    # session of 100,000 logs, while the session's ingest waits): here one statement
    # rewrites REWRITE_PER_CALL logs, picking each log's new text by its id.
    for start in range(0, len(updates), REWRITE_PER_CALL):
        chunk = updates[start : start + REWRITE_PER_CALL]
        whens = " ".join([f"WHEN {mark} THEN {mark}"] * len(chunk))
        sql = (
            f"UPDATE {q(conn, 'event_log')} SET "
            f"{q(conn, 'field_values')} = CASE {q(conn, 'id')} {whens} END, "
            f"{q(conn, 'verdicts')} = CASE {q(conn, 'id')} {whens} END "
            f"WHERE {q(conn, 'id')} IN {_sql.in_list(conn, chunk)}"
        )
        values: list[Any] = [v for values_text, _, log_id in chunk for v in (log_id, values_text)]
        values += [v for _, verdicts_text, log_id in chunk for v in (log_id, verdicts_text)]
        values += [log_id for _, _, log_id in chunk]
        await _sql.execute(conn, sql, values)


def _changes(
    before: dict[tuple[int, int, str], CellState], replay: _Replay
) -> tuple[list[dict[str, Any]], set[tuple[int, int]]]:
    """Cells whose verdict changed (before -> after), and the (event, field) pairs they are in."""
    keys = {k for k in before if k[1] != EVENT_FIELD} | {
        k for k in replay.cells if k[1] != EVENT_FIELD
    }
    changes, fields = [], set()
    for key in sorted(keys):
        old = before.get(key, CellState.untested())
        new = replay.state(key)
        if old.verdict is not new.verdict or old.outstanding != new.outstanding:
            fields.add((key[0], key[1]))
            if old.verdict is not new.verdict:
                changes.append({
                    "event": key[0], "field": key[1], "platform": key[2],
                    "before": old.label, "after": new.label,
                    "worse": RANK[new.verdict] > RANK[old.verdict],
                })  # fmt: skip
    return changes, fields


_running: set[Any] = set()


async def start_rejudge(bus: Any, session: TestSession, by: str) -> RejudgeRun:
    """Queue a re-judge of the session in this process's event loop; returns its run row.

    One at a time per session: a second request while one runs gets the running one.
    """
    import asyncio

    current = await RejudgeRun.filter(
        session_id=session.id, status__in=("queued", "running")
    ).first()
    if current is not None:
        return current
    run = await RejudgeRun.create(session_id=session.id, started_by=by[:150])
    task = asyncio.create_task(_run_safely(bus, session, run))
    _running.add(task)  # held until done: the loop keeps only weak references to tasks
    task.add_done_callback(_running.discard)
    return run


async def _run_safely(bus: Any, session: TestSession, run: RejudgeRun) -> None:
    from trackmaster.sessions.publish import publish_safely

    try:
        await rejudge_session(session, run)
    except Exception as exc:  # recorded on the run, which the page and the API show
        log.exception("re-judge of session %s failed", session.id)
        run.status, run.error = "failed", f"{type(exc).__name__}: {exc}"[:2000]
        run.finished_at = datetime.now(UTC)
        await run.save(update_fields=["status", "error", "finished_at"])
        return
    await publish_safely(
        bus,
        session.id,
        {"type": "results", "session": session.id, "changed": [], "rejudged": run.id},
    )


def run_json(run: RejudgeRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "session": run.session_id,
        "status": run.status,
        "done": run.done,
        "total": run.total,
        "changed": run.changed,
        "changes": run.changes or {},
        "error": run.error,
        "startedBy": run.started_by,
        "startedAt": run.started_at.isoformat() if run.started_at else None,
        "finishedAt": run.finished_at.isoformat() if run.finished_at else None,
    }
