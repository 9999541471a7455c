"""The Jet client against the fake Jet: every call, retries, and errors that say what happened."""

from __future__ import annotations

import time

import pytest

from tests.fakes.jet import FakeJet, seed_realistic_plan
from tests.support.servers import free_port
from trackmaster.errors import UpstreamError
from trackmaster.plan.jet import JetClient, JetError


def client(fake_jet: FakeJet, **kwargs) -> JetClient:
    kwargs.setdefault("timeout_s", 2.0)
    return JetClient(fake_jet.url, backoff_s=0.01, **kwargs)


async def test_plan_calls_parse_jets_answers(fake_jet: FakeJet) -> None:
    plan = seed_realistic_plan(fake_jet)
    pid = plan["project"]["id"]
    async with client(fake_jet) as jet:
        projects = await jet.projects()
        assert [(p.id, p.local_name) for p in projects] == [
            (pid, "视频 App"),
            (plan["music"]["id"], "Müsik ♪"),
        ]
        enum_types = await jet.enum_types(pid)
        assert [t.name for t in enum_types] == ["page_name", "content_type"]
        assert [v.name for v in enum_types[0].values] == ["home", "player", "search"]
        listed = await jet.stories(pid, page=1, page_size=15)
        assert [s.name for s in listed] == ["搜索 Search", "Player <v2> & friends"]
        story = await jet.story(plan["player_story"]["id"])
        play = story.events[0]
        assert play.name == "play_click" and play.description.startswith("The <b>play</b>")
        page_name = play.fields[0]
        assert page_name.key == "event_info.current_page_name"
        assert page_name.type_name == "page_name"
        assert page_name.raw_values == fake_jet.enum_ids(pid, "page_name", "home", "player")
    assert fake_jet.calls("stories")[0].query == {
        "project": pid, "sortKey": "updatedAt", "sortDirection": "DESC", "pageSize": "15",
        "page": "1",
    }  # fmt: skip


async def test_full_listing_pages_until_a_short_page(fake_jet: FakeJet) -> None:
    project = fake_jet.add_project("p")
    for n in range(7):
        fake_jet.add_story(project["id"], f"story {n}")
    async with client(fake_jet, story_page_size=3) as jet:
        found = await jet.all_story_summaries(project["id"])
    assert len(found) == 7
    assert [call.query["page"] for call in fake_jet.calls("stories")] == ["1", "2", "3"]


async def test_timeouts_and_5xx_are_retried_then_succeed(fake_jet: FakeJet) -> None:
    seed_realistic_plan(fake_jet)
    fake_jet.fail("projects", 503, times=2)
    async with client(fake_jet, retries=3) as jet:
        assert len(await jet.projects()) == 2
    assert len(fake_jet.calls("projects")) == 3

    fake_jet.delay("projects", 0.5, times=1)
    async with client(fake_jet, timeout_s=0.2, retries=1) as jet:
        assert len(await jet.projects()) == 2


async def test_retries_give_up_with_the_last_problem(fake_jet: FakeJet) -> None:
    seed_realistic_plan(fake_jet)
    fake_jet.fail("projects", 502, times=None, body='{"message": "bad gateway"}')
    async with client(fake_jet, retries=2) as jet:
        with pytest.raises(JetError) as raised:
            await jet.projects()
    message = str(raised.value)
    assert "GET /v1/internals/project" in message and "502" in message
    assert "bad gateway" in message and "after 3 attempts" in message
    assert isinstance(raised.value, UpstreamError) and raised.value.status == 502
    assert len(fake_jet.calls("projects")) == 3


async def test_4xx_is_not_retried_and_names_the_call(fake_jet: FakeJet) -> None:
    seed_realistic_plan(fake_jet)
    async with client(fake_jet) as jet:
        with pytest.raises(JetError, match=r"requirement/nope answered 404.*not found"):
            await jet.story("nope")
    assert len(fake_jet.calls("story")) == 1


async def test_bad_json_and_missing_fields_are_clear_errors(fake_jet: FakeJet) -> None:
    plan = seed_realistic_plan(fake_jet)
    fake_jet.bad_json("enum_types")
    fake_jet.missing_field("projects", "name")
    fake_jet.missing_field("story", "events")
    async with client(fake_jet) as jet:
        with pytest.raises(JetError, match=r"enumType.*invalid JSON"):
            await jet.enum_types(plan["project"]["id"])
        with pytest.raises(JetError, match=r"without field `data\[0\].name`"):
            await jet.projects()
        with pytest.raises(JetError, match="without field `events`"):
            await jet.story(plan["player_story"]["id"])


async def test_unreachable_jet_fails_after_retries() -> None:
    started = time.monotonic()
    async with JetClient(f"http://127.0.0.1:{free_port()}", 1.0, 2, backoff_s=0.01) as jet:
        with pytest.raises(JetError, match=r"could not connect.*after 3 attempts"):
            await jet.projects()
    assert time.monotonic() - started < 5


async def test_no_base_url_is_a_clear_error() -> None:
    with pytest.raises(JetError, match="JET_URL"):
        JetClient("", 1.0)


async def test_log_filter_calls(fake_jet: FakeJet) -> None:
    plan = seed_realistic_plan(fake_jet)
    pid = plan["project"]["id"]
    async with client(fake_jet) as jet:
        created = await jet.create_filter(["play_click"], pid, ["u1"])
        assert created["status"] == "READY"
        await jet.change_filter(created["id"], "RECORDING", ["play_click"], ["u1"])
        fake_jet.emit(pid, "u1", "play_click", {"$os": "Android"})
        logs = await jet.logs(created["id"])
        assert [(log["userId"], log["event"]) for log in logs.items] == [("u1", "play_click")]
        assert logs.bad == []
        await jet.clear_logs(created["id"])
        assert len(await jet.logs(created["id"])) == 0
        with pytest.raises(ValueError, match="status"):
            await jet.change_filter(created["id"], "PAUSED", [], [])


async def test_a_malformed_log_item_is_set_aside_and_the_good_ones_kept(
    fake_jet: FakeJet,
) -> None:
    plan = seed_realistic_plan(fake_jet)
    pid = plan["project"]["id"]
    async with client(fake_jet) as jet:
        created = await jet.create_filter(["play_click"], pid, ["u1"])
        await jet.change_filter(created["id"], "RECORDING", ["play_click"], ["u1"])
        fake_jet.emit(pid, "u1", "play_click", {"$os": "Android"})
        jet_filter = fake_jet.filters[created["id"]]
        jet_filter["logs"].insert(0, {"id": "no-user", "event": "play_click", "log": "{}"})
        jet_filter["logs"].append({"id": "no-log", "event": "play_click", "userId": "u1"})
        logs = await jet.logs(created["id"])
    assert [log["userId"] for log in logs.items] == ["u1"]
    assert [bad.why for bad in logs.bad] == [
        "data[0] has no usable `userId` (null)",
        "data[2] has no `log` string",
    ]
    assert len(logs) == 3


async def test_a_post_is_not_repeated_after_a_5xx(fake_jet: FakeJet) -> None:
    plan = seed_realistic_plan(fake_jet)
    fake_jet.fail("create_filter", 500)
    async with client(fake_jet) as jet:
        with pytest.raises(JetError, match="eventLog/filter answered 500"):
            await jet.create_filter(["play_click"], plan["project"]["id"], ["u1"])
    assert len(fake_jet.calls("create_filter")) == 1
    assert fake_jet.filters == {}
