"""Jet pull end to end against the fake Jet: the filter; read, stage, clear, then store;
failures and restarts lose nothing read and store nothing twice.

Tests about what happens around a clear set JET_CLEAR_AT_LOGS=1 (`CLEARING`): any read
that returns a log is followed by a clear, the worst case for loss and duplicates.
tests/test_jet_clear.py covers the threshold itself."""

from __future__ import annotations

import asyncio
import contextlib
import json

import httpx
import pytest

from tests.conftest import running_app
from tests.support.realtime import make_plan, play_log
from trackmaster.models import EventLog, JetStagedLog, Platform, Project, TestSession
from trackmaster.sessions import jet_staging

API = "/api/v3/realTime"


async def eventually(check, timeout_s: float = 5.0):
    """Wait until `check()` is truthy; fail with the last value after `timeout_s`."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = await check()
        if value or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.05)


@pytest.fixture
async def jet_plan(db, fake_jet):
    jet_project = fake_jet.add_project("video")
    plan = await make_plan(jet_id=jet_project["id"])
    plan.jet_project_id = jet_project["id"]
    return plan


CLEARING = {"jet_clear_at_logs": 1}


def jet_settings(settings, fake_jet, **more):
    return settings.replace(**({"jet_url": fake_jet.url, "poll_interval_s": 0.1} | more))


@contextlib.asynccontextmanager
async def jet_app(settings, fake_jet, **more):
    """TrackMaster pointed at the fake Jet, and an HTTP client for it."""
    async with (
        running_app(jet_settings(settings, fake_jet, **more)) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        yield http


async def start_jet_session(http, plan, **extra) -> httpx.Response:
    body = {"project": plan.project.id, "accounts": ["alice-42"], "events": [plan.play.id]}
    return await http.post(f"{API}/start", json=body | extra)


async def _rename_event_log(settings, to: str, back: str) -> None:
    from tortoise import connections

    conn = connections.get("default")
    if settings.uses_mysql:
        await conn.execute_script(f"RENAME TABLE `{back}` TO `{to}`")
    else:
        await conn.execute_script(f'ALTER TABLE "{back}" RENAME TO "{to}"')


async def test_pull_stores_then_clears_and_stop_sets_the_filter_stopped(
    jet_plan, fake_jet, settings
) -> None:
    async with jet_app(settings, fake_jet, **CLEARING) as http:
        answer = await start_jet_session(http, jet_plan, accounts=["alice-42", "bob-7"])
        assert answer.status_code == 201, answer.text
        session = answer.json()
        assert session["source"] == "jet"
        jet_filter = fake_jet.filters[session["jetFilterId"]]
        assert jet_filter["status"] == "RECORDING"
        assert jet_filter["events"] == ["play_click"]
        assert sorted(jet_filter["userIds"]) == ["alice-42", "bob-7"]

        caught = fake_jet.emit(jet_plan.jet_project_id, "alice-42", "play_click",
                               play_log(page="player", os="Android"))  # fmt: skip
        assert caught == 1
        stored = await eventually(lambda: EventLog.filter(session_id=session["id"]).count())
        assert stored == 1
        await eventually(lambda: asyncio.sleep(0, not jet_filter["logs"]))
        assert jet_filter["logs"] == []
        log = await EventLog.get(session_id=session["id"])
        assert (log.source, log.platform, log.user_id) == ("jet", Platform.ANDROID, "alice-42")
        page = str(jet_plan.f("event_info.current_page_name"))
        assert log.verdicts[page][0] == "SUCCESS"
        # The clear came after the read that fetched the log.
        calls = [r.call for r in fake_jet.requests if r.call in ("logs", "clear_logs")]
        assert calls.index("clear_logs") > calls.index("logs")

        answer = await http.post(f"{API}/stop", params={"record": session["id"]})
        assert answer.json()["status"] == "OFF"
        assert jet_filter["status"] == "STOPPED"
        assert jet_filter["events"] == ["play_click"]  # STOPPED keeps what it held


async def _session_with_an_unread_log(http, jet_plan, fake_jet) -> tuple[dict, dict]:
    """A live Jet session whose filter holds one log the puller has not read yet."""
    answer = await start_jet_session(http, jet_plan)
    assert answer.status_code == 201, answer.text
    session = answer.json()
    # Let the loop take its first round (before the event exists), then send one.
    await eventually(lambda: asyncio.sleep(0, any(r.call == "logs" for r in fake_jet.requests)))
    fake_jet.emit(jet_plan.jet_project_id, "alice-42", "play_click", play_log(page="home"))
    return session, fake_jet.filters[session["jetFilterId"]]


async def test_stop_reads_the_last_logs_before_it_stops(jet_plan, fake_jet, settings) -> None:
    # A poll interval far longer than the test: only the stop's own last read can catch it.
    slow = settings.replace(jet_url=fake_jet.url, poll_interval_s=60)
    async with running_app(slow) as server, httpx.AsyncClient(base_url=server.url) as http:
        session, jet_filter = await _session_with_an_unread_log(http, jet_plan, fake_jet)
        assert await EventLog.filter(session_id=session["id"]).count() == 0

        stopped = await http.post(f"{API}/stop", params={"record": session["id"]})
        assert stopped.json()["status"] == "OFF"
        assert await EventLog.filter(session_id=session["id"]).count() == 1
        assert jet_filter["logs"] == [] and jet_filter["status"] == "STOPPED"
        # Set STOPPED first, then read and cleared: nothing could arrive in between.
        calls = [r.call for r in fake_jet.requests if r.call in ("change_filter", "logs",
                                                                  "clear_logs")]  # fmt: skip
        assert calls[-3:] == ["change_filter", "logs", "clear_logs"]
        assert jet_filter["cleared_unread"] == 0


async def test_a_stop_while_the_pool_drains_keeps_its_last_jet_logs(
    jet_plan, fake_jet, settings
) -> None:
    # The lifespan drains the pool while the expiry loop may still stop sessions: the
    # stop's last read clears Jet, so its logs must be judged even with the pool closed.
    slow = settings.replace(jet_url=fake_jet.url, poll_interval_s=60)
    async with running_app(slow) as server, httpx.AsyncClient(base_url=server.url) as http:
        state = server.server.config.app.state
        session, jet_filter = await _session_with_an_unread_log(http, jet_plan, fake_jet)
        await state.pool.close(0.1)  # what the lifespan does first on shutdown
        await state.runtime.realtime.lifecycle.stop(session["id"], "time limit")  # expiry
        assert jet_filter["logs"] == []  # read and cleared by the stop
        assert await EventLog.filter(session_id=session["id"]).count() == 1
        assert await JetStagedLog.filter(session_id=session["id"]).count() == 0


async def test_a_stop_goes_through_when_jet_is_down_for_the_last_read(
    jet_plan, fake_jet, settings
) -> None:
    slow = settings.replace(jet_url=fake_jet.url, poll_interval_s=60)
    async with running_app(slow) as server, httpx.AsyncClient(base_url=server.url) as http:
        session = (await start_jet_session(http, jet_plan)).json()
        fake_jet.fail("logs", status=503, times=100)
        stopped = await http.post(f"{API}/stop", params={"record": session["id"]})
        assert stopped.status_code == 200 and stopped.json()["status"] == "OFF"
        assert (await TestSession.get(id=session["id"])).status == "OFF"


async def test_logs_are_staged_before_jet_is_cleared_and_stored_after(
    jet_plan, fake_jet, settings
) -> None:
    # Hold Jet's clear for a moment: while it runs, the log must be staged and not yet stored.
    fake_jet.delay("clear_logs", 0.5, times=1)
    async with jet_app(settings, fake_jet, **CLEARING) as http:
        session = (await start_jet_session(http, jet_plan)).json()
        fake_jet.emit(jet_plan.jet_project_id, "alice-42", "play_click", play_log())
        assert await eventually(lambda: asyncio.sleep(0, fake_jet.calls("clear_logs")))
        staged = await JetStagedLog.filter(session_id=session["id"]).values_list(
            "jet_id", flat=True
        )
        # The clear is still running: Jet holds the log, and so does the staging table.
        jet_filter = fake_jet.filters[session["jetFilterId"]]
        assert len(staged) == 1 and staged == [entry["id"] for entry in jet_filter["logs"]]
        assert await EventLog.filter(session_id=session["id"]).count() == 0
        assert await eventually(lambda: EventLog.filter(session_id=session["id"]).count()) == 1
        log = await EventLog.get(session_id=session["id"])
        assert log.message_id == staged[0]  # stored from the staged copy, under Jet's id
        # The staged row went in the transaction that stored the log.
        assert await JetStagedLog.filter(session_id=session["id"]).count() == 0


def arrive_after_the_first_read(fake_jet):
    """A fake Jet read hook: right after the first read that returned something, a log
    reaches Jet (inside the round, before anything else of it)."""
    arrived = []

    def arrive_once(jet_filter) -> None:
        if jet_filter["logs"] and not arrived:
            arrived.append(fake_jet.push_log(jet_filter["id"], "alice-42", "play_click",
                                             play_log(page="player")))  # fmt: skip

    return arrive_once


async def test_a_log_that_arrives_while_a_read_is_staged_is_read_again_before_the_clear(
    jet_plan, fake_jet, settings
) -> None:
    async with jet_app(settings, fake_jet, **CLEARING) as http:
        session = (await start_jet_session(http, jet_plan)).json()
        jet_filter = fake_jet.filters[session["jetFilterId"]]
        fake_jet.after_read = arrive_after_the_first_read(fake_jet)
        fake_jet.emit(jet_plan.jet_project_id, "alice-42", "play_click", play_log())
        assert await eventually(lambda: logs_count_is(session["id"], 2))
    assert jet_filter["cleared_unread"] == 0  # the clear deleted nothing unread
    calls = [r.call for r in fake_jet.requests if r.call in ("logs", "clear_logs")]
    first_clear = calls.index("clear_logs")
    assert calls[first_clear - 2 : first_clear] == ["logs", "logs"]


async def test_a_failed_store_keeps_the_logs_staged_and_a_later_round_stores_them(
    jet_plan, fake_jet, settings
) -> None:
    async with jet_app(settings, fake_jet, **CLEARING) as http:
        answer = await start_jet_session(http, jet_plan)
        session = answer.json()
        jet_filter = fake_jet.filters[session["jetFilterId"]]
        await _rename_event_log(settings, "event_log_away", "event_log")
        try:
            fake_jet.emit(jet_plan.jet_project_id, "alice-42", "play_click", play_log())
            polls = len(fake_jet.calls("logs"))
            await eventually(lambda: asyncio.sleep(0, len(fake_jet.calls("logs")) >= polls + 3))
            # Staged, then cleared in Jet: Jet no longer holds it, the staging table does.
            assert jet_filter["logs"] == []
            assert len(fake_jet.calls("clear_logs")) == 1
            assert await JetStagedLog.filter(session_id=session["id"]).count() == 1
        finally:
            await _rename_event_log(settings, "event_log", "event_log_away")
        assert await eventually(lambda: EventLog.filter(session_id=session["id"]).count()) == 1
        assert await JetStagedLog.filter(session_id=session["id"]).count() == 0
        await asyncio.sleep(0.3)  # a few more rounds store nothing twice
        assert await EventLog.filter(session_id=session["id"]).count() == 1


async def test_a_puller_that_dies_with_logs_staged_loses_none_and_duplicates_none(
    jet_plan, fake_jet, settings
) -> None:
    # First process: its stores fail and Jet's clears fail too, then it goes away with
    # two logs staged that Jet also still holds (the worst case for duplicates).
    fake_jet.fail("clear_logs", 500, times=None)
    async with jet_app(settings, fake_jet, **CLEARING) as http:
        session = (await start_jet_session(http, jet_plan)).json()
        await _rename_event_log(settings, "event_log_away", "event_log")
        try:
            for page in ("home", "player"):
                fake_jet.emit(jet_plan.jet_project_id, "alice-42", "play_click",
                              play_log(page=page))  # fmt: skip

            async def both_staged():
                return await JetStagedLog.filter(session_id=session["id"]).count() == 2

            assert await eventually(both_staged)
        finally:
            await _rename_event_log(settings, "event_log", "event_log_away")
            # The process ends here, before any later round could store them.
    assert await EventLog.filter(session_id=session["id"]).count() == 0
    jet_filter = fake_jet.filters[session["jetFilterId"]]
    assert len(jet_filter["logs"]) == 2
    fake_jet.clear_faults()

    # Second process on the same database: it takes the session over, reads Jet again
    # (the same two logs), stages nothing twice and stores each log once.
    fake_jet.emit(jet_plan.jet_project_id, "alice-42", "play_click", play_log(page="home"))
    async with jet_app(settings, fake_jet, **CLEARING):
        assert await eventually(lambda: logs_count_is(session["id"], 3))
        await eventually(lambda: asyncio.sleep(0, not jet_filter["logs"]))
        await asyncio.sleep(0.3)  # a few more rounds
        ids = await EventLog.filter(session_id=session["id"]).values_list("message_id", flat=True)
    assert len(ids) == len(set(ids)) == 3
    assert await JetStagedLog.filter(session_id=session["id"]).count() == 0
    assert jet_filter["logs"] == []


async def logs_count_is(session_id: int, count: int) -> bool:
    return await EventLog.filter(session_id=session_id).count() == count


async def test_jet_failures_do_not_stop_the_puller(jet_plan, fake_jet, settings) -> None:
    async with jet_app(settings, fake_jet, **CLEARING) as http:
        answer = await start_jet_session(http, jet_plan)
        session = answer.json()
        fake_jet.fail("logs", 503, times=3)
        fake_jet.fail("clear_logs", 500, times=1)
        fake_jet.emit(jet_plan.jet_project_id, "alice-42", "play_click", play_log())
        jet_filter = fake_jet.filters[session["jetFilterId"]]
        jet_filter["logs"].append(
            {"id": "broken", "event": "play_click", "filter": jet_filter["id"],
             "userId": "alice-42", "log": "{not json"}
        )  # fmt: skip
        assert await eventually(lambda: EventLog.filter(session_id=session["id"]).count()) == 1
        await eventually(lambda: asyncio.sleep(0, not jet_filter["logs"]))
        assert jet_filter["logs"] == []
        # The log stored before the failed clear was read again, and not stored twice.
        assert await EventLog.filter(session_id=session["id"]).count() == 1


async def test_jet_refusing_the_filter_stores_no_session(jet_plan, fake_jet, settings) -> None:
    fake_jet.fail("create_filter", 500, times=10)
    async with jet_app(settings, fake_jet) as http:
        answer = await start_jet_session(http, jet_plan)
    assert answer.status_code == 502, answer.text
    assert "Jet" in answer.json()["msg"]
    assert await TestSession.all().count() == 0


async def test_sessions_stop_by_themselves_at_their_time_limit(jet_plan, fake_jet, settings):
    async with jet_app(settings, fake_jet) as http:
        answer = await start_jet_session(http, jet_plan, limitS=0.3)
        session = answer.json()

        async def stopped():
            found = await TestSession.get(id=session["id"])
            return found if found.status == "OFF" else None

        found = await eventually(stopped, timeout_s=5)
        assert found and found.stop_reason == "time limit"
        jet_filter = fake_jet.filters[session["jetFilterId"]]
        # The filter is set STOPPED as the stop begins, before its last read.
        await eventually(lambda: asyncio.sleep(0, jet_filter["status"] == "STOPPED"))
        assert jet_filter["status"] == "STOPPED"
        listed = await http.get(f"{API}/sessions", params={"status": "OFF"})
        assert listed.json()["data"][0]["stopReason"] == "time limit"


async def test_staged_logs_of_a_stopped_session_are_judged_not_left_behind(
    jet_plan, fake_jet, settings
) -> None:
    async with jet_app(settings, fake_jet) as http:
        session = (await start_jet_session(http, jet_plan)).json()
        stopped = await http.post(f"{API}/stop", params={"record": session["id"]})
        assert stopped.json()["status"] == "OFF"
        # What a crash after staging leaves when the session then stops by itself.
        late = {"id": "late-1", "event": "play_click", "userId": "alice-42",
                "log": json.dumps(play_log())}  # fmt: skip
        await jet_staging.stage(session["id"], [late])

        async def swept():
            return await JetStagedLog.filter(session_id=session["id"]).count() == 0

        assert await eventually(swept)
        # No live session watches it any more: it is counted and shown as unmatched.
        project = await Project.get(id=jet_plan.project.id)
        assert project.unmatched_count == 1
        assert await EventLog.filter(session_id=session["id"]).count() == 0
