"""Jet's clear deletes a whole filter, so the puller clears rarely: only once a read
returns JET_CLEAR_AT_LOGS logs, and at a stop after setting the filter STOPPED.

Against the fake Jet (a real HTTP server) and the test's database (SQLite or MariaDB).
"""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from tests.conftest import running_app
from tests.support.realtime import play_log
from tests.test_jet_pull import (
    API,
    arrive_after_the_first_read,
    eventually,
    jet_plan,
    jet_settings,
    logs_count_is,
    start_jet_session,
)
from trackmaster.models import EventLog, JetStagedLog, TestSession

__all__ = ["jet_plan"]  # the fixture, used by the tests below


@contextlib.asynccontextmanager
async def jet_server(settings, fake_jet, **more):
    """TrackMaster pointed at the fake Jet, an HTTP client for it, and its puller."""
    async with (
        running_app(jet_settings(settings, fake_jet, **more)) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        yield http, server.server.config.app.state.jet_puller


async def stored_ids(session_id: int) -> list[str]:
    return await EventLog.filter(session_id=session_id).values_list("message_id", flat=True)


def calls(fake_jet, *names: str) -> list[str]:
    return [r.call for r in fake_jet.requests if r.call in names]


async def reads_after(fake_jet, count: int) -> None:
    """Wait until the puller has read Jet `count` more times (a few rounds)."""
    target = len(fake_jet.calls("logs")) + count
    await eventually(lambda: asyncio.sleep(0, len(fake_jet.calls("logs")) >= target))


async def test_below_the_threshold_nothing_is_cleared_so_a_log_arriving_mid_round_is_kept(
    jet_plan, fake_jet, settings
) -> None:
    # With a clear every round, the log arriving right after the first read was deleted.
    async with jet_server(settings, fake_jet) as (http, puller):
        session = (await start_jet_session(http, jet_plan)).json()
        jet_filter = fake_jet.filters[session["jetFilterId"]]
        fake_jet.after_read = arrive_after_the_first_read(fake_jet)
        fake_jet.emit(jet_plan.jet_project_id, "alice-42", "play_click", play_log())

        async def both_stored():
            return len(await stored_ids(session["id"])) == 2

        assert await eventually(both_stored)
        # Re-reads of the same two uncleared logs stage and store nothing twice.
        await reads_after(fake_jet, 5)
        ids = await stored_ids(session["id"])
        assert sorted(ids) == sorted(entry["id"] for entry in jet_filter["logs"])
        assert len(ids) == len(set(ids)) == 2
        assert puller.stats.staged == 2
        assert await JetStagedLog.filter(session_id=session["id"]).count() == 0
    assert fake_jet.calls("clear_logs") == []
    assert jet_filter["cleared_unread"] == 0


async def test_the_clear_comes_at_the_threshold_and_then_the_staged_ids_reset(
    jet_plan, fake_jet, settings
) -> None:
    async with jet_server(settings, fake_jet, jet_clear_at_logs=3) as (http, puller):
        session = (await start_jet_session(http, jet_plan)).json()
        filter_id = session["jetFilterId"]
        jet_filter = fake_jet.filters[filter_id]
        for page in ("home", "player"):
            fake_jet.emit(jet_plan.jet_project_id, "alice-42", "play_click", play_log(page=page))
        assert await eventually(lambda: logs_count_is(session["id"], 2))
        await reads_after(fake_jet, 2)
        assert fake_jet.calls("clear_logs") == [] and len(jet_filter["logs"]) == 2
        assert len(puller._seen[filter_id]) == 2

        fake_jet.emit(jet_plan.jet_project_id, "alice-42", "play_click", play_log())  # the 3rd
        assert await eventually(lambda: asyncio.sleep(0, fake_jet.calls("clear_logs")))
        assert await eventually(lambda: logs_count_is(session["id"], 3))
        assert jet_filter["logs"] == [] and jet_filter["cleared_unread"] == 0
        assert filter_id not in puller._seen  # forgotten with the logs Jet deleted

        # After the clear a new log is staged as new, and one log is below the threshold.
        fake_jet.emit(jet_plan.jet_project_id, "alice-42", "play_click", play_log())
        assert await eventually(lambda: logs_count_is(session["id"], 4))
        await reads_after(fake_jet, 3)
        assert len(fake_jet.calls("clear_logs")) == 1
        ids = await stored_ids(session["id"])
        assert len(ids) == len(set(ids)) == 4


async def test_a_stop_sets_stopped_then_reads_stages_and_clears_losing_nothing(
    jet_plan, fake_jet, settings
) -> None:
    # A poll interval far longer than the test: only the stop's own read can catch the log.
    async with jet_server(settings, fake_jet, poll_interval_s=60) as (http, puller):
        session = (await start_jet_session(http, jet_plan)).json()
        jet_filter = fake_jet.filters[session["jetFilterId"]]
        await eventually(lambda: asyncio.sleep(0, fake_jet.calls("logs")))
        sent_at_stop = []

        def app_sends_during_the_stop(changed) -> None:
            # An app sends one log just before Jet takes the STOPPED, and tries another after.
            if not sent_at_stop:
                sent_at_stop.append(fake_jet.push_log(changed["id"], "alice-42", "play_click",
                                                      play_log(page="search")))  # fmt: skip

        fake_jet.emit(jet_plan.jet_project_id, "alice-42", "play_click", play_log())
        fake_jet.before_change_filter = app_sends_during_the_stop
        stopped = await http.post(f"{API}/stop", params={"record": session["id"]})
        assert stopped.json()["status"] == "OFF"
        late = fake_jet.emit(jet_plan.jet_project_id, "alice-42", "play_click", play_log())
        assert session["jetFilterId"] not in puller._seen  # the stop's clear forgot them
    assert late == 0  # STOPPED: Jet catches nothing more for the filter
    ids = await stored_ids(session["id"])
    assert len(ids) == 2 and sent_at_stop[0]["id"] in ids
    assert jet_filter["logs"] == [] and jet_filter["cleared_unread"] == 0
    assert calls(fake_jet, "change_filter", "logs", "clear_logs")[-3:] == [
        "change_filter", "logs", "clear_logs",
    ]  # fmt: skip
    assert jet_filter["status"] == "STOPPED"


async def test_the_time_limit_stop_also_stops_the_filter_before_its_last_read_and_clear(
    jet_plan, fake_jet, settings
) -> None:
    async with jet_server(settings, fake_jet) as (http, _):
        session = (await start_jet_session(http, jet_plan, limitS=2)).json()
        jet_filter = fake_jet.filters[session["jetFilterId"]]
        fake_jet.emit(jet_plan.jet_project_id, "alice-42", "play_click", play_log())
        # Stored by a round before the limit (a log read at the limit is judged as
        # received after it, and so goes to the unmatched list).
        assert await eventually(lambda: logs_count_is(session["id"], 1))
        assert fake_jet.calls("clear_logs") == []

        async def stopped():
            return (await TestSession.get(id=session["id"])).status == "OFF"

        assert await eventually(stopped)
    assert len(await stored_ids(session["id"])) == 1
    assert jet_filter["logs"] == [] and jet_filter["cleared_unread"] == 0
    # Below the threshold only the stop clears, after it set the filter STOPPED.
    assert calls(fake_jet, "change_filter", "clear_logs")[-2:] == ["change_filter", "clear_logs"]
    assert len(fake_jet.calls("clear_logs")) == 1


async def test_a_malformed_item_blocks_neither_the_good_logs_nor_the_clear(
    jet_plan, fake_jet, settings
) -> None:
    async with jet_server(settings, fake_jet, jet_clear_at_logs=3) as (http, puller):
        session = (await start_jet_session(http, jet_plan)).json()
        jet_filter = fake_jet.filters[session["jetFilterId"]]
        # No userId: the whole answer used to be refused, every round, and never cleared.
        jet_filter["logs"].append({"id": "no-user", "event": "play_click", "log": "{}"})
        fake_jet.emit(jet_plan.jet_project_id, "alice-42", "play_click", play_log())
        assert await eventually(lambda: logs_count_is(session["id"], 1))
        await reads_after(fake_jet, 3)
        assert puller.stats.bad_logs == 1  # reported once, not at every re-read
        assert fake_jet.calls("clear_logs") == []

        fake_jet.emit(jet_plan.jet_project_id, "alice-42", "play_click", play_log())  # 3 items
        assert await eventually(lambda: asyncio.sleep(0, fake_jet.calls("clear_logs")))
        assert await eventually(lambda: logs_count_is(session["id"], 2))
        assert jet_filter["logs"] == []
        assert puller.stats.bad_logs == 1
