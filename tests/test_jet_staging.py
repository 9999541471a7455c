"""The Jet staging table: idempotent staging, judging through ingest, races, failures."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.support.realtime import make_plan, play_log
from trackmaster.bus import MemoryBus
from trackmaster.models import EventLog, JetStagedLog
from trackmaster.sessions import jet_staging
from trackmaster.sessions.ingest import Ingestor
from trackmaster.sessions.lifecycle import Lifecycle
from trackmaster.sessions.live import LiveIndex


def item(log_id: str | None, page: str = "home", raw: str | None = None) -> dict:
    """One entry of Jet's "read logs" answer."""
    entry = {
        "event": "play_click",
        "userId": "alice-42",
        "log": raw if raw is not None else json.dumps(play_log(page=page)),
    }
    if log_id is not None:
        entry["id"] = log_id
    return entry


@pytest.fixture
async def live(db):
    """A live session of alice-42 watching play_click, and an ingest function for `judge`."""
    bus = MemoryBus()
    index = LiveIndex(ttl_s=60)
    lifecycle = Lifecycle(index, bus, limit_s=3600)
    ingestor = Ingestor(index, bus)
    plan = await make_plan()
    session = await lifecycle.start(plan.project.id, ["alice-42"], [plan.play.id])

    def ingest(events, received_at, also):
        return ingestor.ingest(
            plan.project.id, events, received_at=received_at, also_in_transaction=also
        )

    return session, ingest


async def test_staging_is_idempotent_by_jet_log_id(live) -> None:
    session, _ = live
    await jet_staging.stage(session.id, [item("l1"), item("l2")])
    await jet_staging.stage(session.id, [item("l2"), item("l3")])  # l2 read again
    rows = await JetStagedLog.filter(session_id=session.id).order_by("id")
    assert [row.jet_id for row in rows] == ["l1", "l2", "l3"]
    assert json.loads(rows[0].item) == item("l1")  # kept exactly as Jet answered it


async def test_logs_without_a_usable_jet_id_are_staged_every_time(live) -> None:
    session, _ = live
    await jet_staging.stage(session.id, [item(None), item(None), item("x" * 200)])
    rows = await JetStagedLog.filter(session_id=session.id).values_list("jet_id", flat=True)
    assert rows == [None, None, None]  # never merged: nothing says they are the same


async def test_judging_stores_staged_logs_once_and_removes_them(live) -> None:
    session, ingest = live
    await jet_staging.stage(session.id, [item("l1", "home"), item("l2", "player")])
    report = await jet_staging.judge(session.id, ingest)
    assert (report.stored, report.judged, report.unreadable) == (2, 2, [])
    logs = await EventLog.filter(session_id=session.id).order_by("id")
    assert [log.message_id for log in logs] == ["l1", "l2"]  # in the order Jet gave them
    assert await JetStagedLog.filter(session_id=session.id).count() == 0
    # Staged again (Jet's clear had failed, the next read returned them): stored once.
    await jet_staging.stage(session.id, [item("l1"), item("l2")])
    assert (await jet_staging.judge(session.id, ingest)).stored == 0
    assert await EventLog.filter(session_id=session.id).count() == 2
    assert await JetStagedLog.filter(session_id=session.id).count() == 0


async def test_two_judges_of_the_same_staged_rows_store_them_once(live) -> None:
    # Without Jet ids, de-duplication by message id cannot help: the staged rows'
    # delete inside the storing transaction is what keeps the second judge out.
    session, ingest = live
    await jet_staging.stage(session.id, [item(None, "home"), item(None, "player"), item("l3")])
    reports = await asyncio.gather(
        jet_staging.judge(session.id, ingest), jet_staging.judge(session.id, ingest)
    )
    assert sum(report.stored for report in reports) == 3
    assert await EventLog.filter(session_id=session.id).count() == 3
    assert await JetStagedLog.filter(session_id=session.id).count() == 0


async def test_a_failed_store_keeps_every_staged_row(live) -> None:
    session, ingest = live
    await jet_staging.stage(session.id, [item("l1"), item("l2")])

    async def broken(events, received_at, also):
        async def also_then_fail(conn):
            await also(conn)
            raise RuntimeError("database went away mid-transaction")

        return await ingest(events, received_at, also_then_fail)

    with pytest.raises(RuntimeError, match="went away"):
        await jet_staging.judge(session.id, broken)
    assert await JetStagedLog.filter(session_id=session.id).count() == 2
    assert await EventLog.filter(session_id=session.id).count() == 0
    assert (await jet_staging.judge(session.id, ingest)).stored == 2


async def test_unreadable_staged_logs_are_reported_and_leave_with_the_rest(live) -> None:
    session, ingest = live
    await jet_staging.stage(session.id, [item("l1"), item("bad", raw="{not json")])
    report = await jet_staging.judge(session.id, ingest)
    assert report.stored == 1
    assert len(report.unreadable) == 1 and report.unreadable[0].startswith("log bad: ")
    assert await JetStagedLog.filter(session_id=session.id).count() == 0
