"""Re-judging after a plan change: cells rebuilt from the stored events (both databases)."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.realtime import make_plan, play_log
from trackmaster.bus import MemoryBus
from trackmaster.models import EventLog, Field, Platform, RejudgeRun, ResultCell, VerdictOverride
from trackmaster.sessions import actions
from trackmaster.sessions.ingest import Ingestor
from trackmaster.sessions.lifecycle import Lifecycle
from trackmaster.sessions.live import LiveIndex
from trackmaster.sessions.rejudge import rejudge_session
from trackmaster.sources import CaughtEvent

CELL_COLUMNS = (
    "event_id", "field_id", "platform", "caught", "n_success", "n_fail", "n_uncertain",
    "o_success", "o_fail", "o_uncertain", "other_values", "override_id", "override_verdict",
)  # fmt: skip


def caught(page: str, page_id: str, n: int, os: str = "iOS") -> CaughtEvent:
    platform = Platform.IOS if os == "iOS" else Platform.ANDROID
    payload = play_log(page=page, os=os, page_info={"id": page_id})
    return CaughtEvent("play_click", "alice-42", platform, payload, "collect", f"m{n}", None)


@pytest.fixture
async def setup(db):
    plan = await make_plan()
    bus = MemoryBus()
    index = LiveIndex(ttl_s=60)
    lifecycle = Lifecycle(index, bus, limit_s=3600)
    session = await lifecycle.start(plan.project.id, ["alice-42"], [plan.play.id])
    return plan, bus, index, Ingestor(index, bus), session


async def cells(session_id: int) -> list[tuple]:
    rows = await ResultCell.filter(session_id=session_id).values_list(*CELL_COLUMNS)
    return sorted(tuple(str(v) if v is not None else None for v in row) for row in rows)


async def test_an_unchanged_plan_rebuilds_exactly_the_incremental_cells(setup) -> None:
    plan, bus, _, ingestor, session = setup
    page_field = plan.f("event_info.current_page_name")
    pages = ["home", "player", "nowhere"]
    n = 0
    # A history with batches, an override, more events, a reset, more events, an override.
    for step in ("ingest", "override", "ingest", "reset", "ingest", "override", "ingest"):
        if step == "ingest":
            batch = [caught(pages[k % 3], f"id{k % 7}", n + k, ("iOS", "Android")[k % 2])
                     for k in range(30)]  # fmt: skip
            n += 30
            await ingestor.ingest(plan.project.id, batch)
        elif step == "override":
            body = [{"id": page_field, "results": {"iOS": "SUCCESS"}, "reason": "ok"}]
            await actions.override_fields(bus, session, body, "alice")
        else:
            await actions.reset_event(bus, session, plan.play.id, "again", "alice")
    incremental = await cells(session.id)
    run = await RejudgeRun.create(session_id=session.id)
    run = await rejudge_session(session, run)
    assert run.status == "done" and run.done == 120 and run.changed == 0
    assert await cells(session.id) == incremental


async def test_a_new_rule_changes_cells_and_marks_the_override_under_it(setup) -> None:
    plan, bus, _, ingestor, session = setup
    id_field = plan.f("page_info.id")
    await ingestor.ingest(plan.project.id, [caught("home", "ep-1", 1), caught("home", "bad id", 2)])
    body = [{"id": id_field, "results": {"iOS": "SUCCESS"}, "reason": "looked at both"}]
    await actions.override_fields(bus, session, body, "alice")
    await ingestor.ingest(plan.project.id, [caught("home", "ep-3", 3)])
    before = await ResultCell.get(session_id=session.id, field_id=id_field, platform="iOS")
    assert (before.o_uncertain, before.n_uncertain) == (1, 3)
    # The plan learns what an id looks like.
    await Field.filter(id=id_field).update(rules={"pattern": "ep-[0-9]+"})
    run = await rejudge_session(session, await RejudgeRun.create(session_id=session.id))
    after = await ResultCell.get(session_id=session.id, field_id=id_field, platform="iOS")
    # Covered by the override: logs 1-2; judged again: log 3 (SUCCESS now).
    assert (after.n_success, after.n_fail, after.o_success, after.o_fail) == (2, 1, 1, 0)
    assert after.override_verdict == "SUCCESS"
    change = next(c for c in run.changes["cells"] if c["field"] == id_field)
    assert (change["before"], change["after"]) == ("UNCERTAIN 1 of 1", "SUCCESS 1 of 1")
    override = await VerdictOverride.get(session_id=session.id, field_id=id_field)
    assert override.rule_changed_at is not None and override.id in run.changes["overridesMarked"]
    # The stored logs carry the new verdicts too.
    verdicts = [log.verdicts[str(id_field)][0] for log in await EventLog.all().order_by("id")]
    assert verdicts == ["SUCCESS", "FAIL", "SUCCESS"]


async def test_events_caught_during_a_rejudge_are_counted_once(setup) -> None:
    plan, _, _, ingestor, session = setup
    await ingestor.ingest(plan.project.id, [caught("nowhere", "x", k) for k in range(200)])
    run = await RejudgeRun.create(session_id=session.id)
    await asyncio.gather(
        rejudge_session(session, run),
        ingestor.ingest(plan.project.id, [caught("nowhere", "x", 1000 + k) for k in range(50)]),
    )
    cell = await ResultCell.get(
        session_id=session.id, field_id=plan.f("event_info.current_page_name"), platform="iOS"
    )
    assert cell.n_fail == 250


async def test_rejudge_over_http_reports_progress_and_changes(client) -> None:
    plan = await make_plan()
    started = await client.post(
        "/api/v3/realTime/start",
        json={"project": plan.project.id, "accounts": [plan.alice.id], "events": [plan.play.id]},
    )
    sid = started.json()["id"]
    logs = [play_log(user_id="alice-42", page_info={"id": "nope"}) for _ in range(3)]
    sent = await client.post("/collect", json=logs, headers={"X-Write-Key": plan.project.write_key})
    assert sent.status_code == 200, sent.text
    field_id = plan.f("page_info.id")
    rules = await client.put(f"/api/v3/fields/{field_id}/rules", json={"rules": {"type": "number"}})
    assert rules.status_code == 200, rules.text
    answer = await client.post(f"/api/v3/sessions/{sid}/rejudge")
    assert answer.status_code == 202, answer.text
    run_id = answer.json()["data"]["id"]
    for _ in range(100):
        run = (await client.get(f"/api/v3/sessions/{sid}/rejudge/{run_id}")).json()["data"]
        if run["status"] in ("done", "failed"):
            break
        await asyncio.sleep(0.1)
    assert run["status"] == "done" and run["done"] == run["total"] == 3, run
    change = next(c for c in run["changes"]["cells"] if c["field"] == field_id)
    assert change["before"].startswith("UNCERTAIN") and change["after"] == "FAIL 3 of 3"
    cell = (await client.get(f"/api/v3/sessions/{sid}/cells/{plan.play.id}/{field_id}/iOS")).json()
    assert cell["data"]["code"] == "type_mismatch" and cell["data"]["values"][0]["count"] == 3
    assert cell["data"]["path"] == "$.page_info.id"
