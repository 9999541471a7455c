"""A live session for protocol tests, and how their verdicts are read back through the API."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

from tests.support.realtime import Plan, make_plan
from trackmaster.models import EventLog


async def start_session(client: httpx.AsyncClient, *event_names: str) -> Plan:
    """The test plan plus a live session of alice-42 watching play_click, search_submit and
    any extra events (a Segment screen, a Snowplow schema...) with one enumerated field."""
    from trackmaster.models import Event, Field

    plan = await make_plan()
    events = [plan.play.id, plan.search.id]
    for name in event_names:
        extra = await Event.create(story=plan.player_story, name=name)
        plan.fields[f"{name}.page_name"] = await Field.create(
            event=extra, key="page_name", values=["home", "player"], raw_values=["home", "player"]
        )
        events.append(extra.id)
    answer = await client.post(
        "/api/v3/realTime/start",
        json={"project": plan.project.id, "accounts": ["alice-42"], "events": events},
    )
    assert answer.status_code == 201, answer.text
    plan.session_id = answer.json()["id"]
    return plan


async def logs_of(client: httpx.AsyncClient, plan: Plan, count: int, timeout_s: float = 10):
    """The session's logs through /api/v3/realTime/getLog once `count` are there (newest first)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        answer = await client.get("/api/v3/realTime/getLog", params={"record": plan.session_id})
        assert answer.status_code == 200, answer.text
        data = answer.json()["data"]
        if len(data) >= count or asyncio.get_running_loop().time() > deadline:
            return data
        await asyncio.sleep(0.1)


def verdict_of(log: dict, key: str) -> str:
    """The verdict of field `key` in one getLog entry."""
    for field in log["fields"]:
        if field["key"] == key:
            return field["verdict"]
    raise AssertionError(f"no field {key} in {log}")


async def stored() -> int:
    return await EventLog.all().count()


def run_sdk(send: Callable[[], None]) -> asyncio.Future:
    """Run a blocking SDK call off the event loop (the live server runs on it)."""
    return asyncio.to_thread(send)
