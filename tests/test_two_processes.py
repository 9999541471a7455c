"""Two web processes on one database and one Redis: one Jet puller per session, and take-over.

Both servers run in this test's process but share nothing except what real
replicas share: the database, Redis (locks and bus) and the fake Jet.
"""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from tests.conftest import running_app
from tests.support.realtime import make_plan, play_log
from tests.test_jet_pull import eventually
from trackmaster.models import EventLog


async def logs_are(session_id: int, count: int) -> bool:
    return await EventLog.filter(session_id=session_id).count() == count


def puller(server):
    return server.server.config.app.state.jet_puller


async def test_one_poller_per_session_and_another_takes_over(
    db, settings, fake_jet, redis_url, redis_prefix
) -> None:
    jet_project = fake_jet.add_project("video")
    plan = await make_plan(jet_id=jet_project["id"])
    shared = settings.replace(
        jet_url=fake_jet.url,
        poll_interval_s=0.1,
        jet_lease_ttl_s=1.0,
        redis=redis_url,
        redis_prefix=redis_prefix,
    )
    stacks = [contextlib.AsyncExitStack(), contextlib.AsyncExitStack()]
    try:
        servers = [await stack.enter_async_context(running_app(shared)) for stack in stacks]
        async with httpx.AsyncClient(base_url=servers[1].url) as http:
            answer = await http.post(
                "/api/v3/realTime/start",
                json={"project": plan.project.id, "accounts": ["alice-42"],
                      "events": [plan.play.id]},
            )  # fmt: skip
        session_id, filter_id = answer.json()["id"], answer.json()["jetFilterId"]

        async def claimed():
            return puller(servers[0]).pulling | puller(servers[1]).pulling

        assert await eventually(claimed) == {session_id}
        first_read = len(fake_jet.calls("logs"))
        await asyncio.sleep(1.0)  # about ten rounds: still exactly one holder
        holders = [n for n, server in enumerate(servers) if session_id in puller(server).pulling]
        assert len(holders) == 1
        # At 0.1 s one poller reads about 10 times a second; two would read about 20.
        reads = [
            r for r in fake_jet.calls("logs")[first_read:] if r.query.get("filter") == filter_id
        ]
        assert 3 <= len(reads) <= 13, len(reads)

        fake_jet.emit(jet_project["id"], "alice-42", "play_click", play_log())
        assert await eventually(lambda: logs_are(session_id, 1))

        # The holder goes away; the other process takes over when the lease runs out.
        holder, survivor = holders[0], 1 - holders[0]
        await stacks[holder].aclose()
        took_over = await eventually(
            lambda: asyncio.sleep(0, session_id in puller(servers[survivor]).pulling),
            timeout_s=5,
        )
        assert took_over
        fake_jet.emit(jet_project["id"], "alice-42", "play_click", play_log(page="player"))
        assert await eventually(lambda: logs_are(session_id, 2))
    finally:
        for stack in stacks:
            await stack.aclose()
