"""Two web processes, one database, one Redis: a page served by one sees events caught by the other.

Both uvicorn servers run in this test's process but share only what real
replicas share: the database and Redis (the bus). Runs on SQLite and MariaDB.
"""

from __future__ import annotations

import contextlib

import httpx
from playwright.async_api import expect

from tests.conftest import running_app
from tests.support.realtime import make_plan, play_log
from tests.support.sse import messages, next_message
from trackmaster.models import TestSession

WAIT_MS = 10_000


async def test_a_page_on_one_process_shows_an_event_posted_to_the_other(
    db, settings, redis_url, redis_prefix, page
) -> None:
    plan = await make_plan()
    shared = settings.replace(redis=redis_url, redis_prefix=redis_prefix)
    async with contextlib.AsyncExitStack() as stack:
        viewer = await stack.enter_async_context(running_app(shared))
        catcher = await stack.enter_async_context(running_app(shared))
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=10))
        started = await http.post(
            f"{viewer.url}/api/v3/realTime/start",
            json={"project": plan.project.id, "accounts": ["alice-42"], "events": [plan.play.id]},
        )
        assert started.status_code == 201, started.text
        session_id = started.json()["id"]

        await page.goto(f"{viewer.url}/sessions/{session_id}")
        await expect(page.locator("#live")).to_contain_text("live ·", timeout=WAIT_MS)
        target = f"#cell-{plan.play.id}-{plan.f('event_info.current_page_name')}-iOS"
        assert await page.get_attribute(target, "data-verdict") == "UNTESTED"

        caught = await http.post(
            f"{catcher.url}/collect",
            json=play_log(page="player", user_id="alice-42"),
            headers={"X-Write-Key": plan.project.write_key},
        )
        assert caught.status_code == 200 and caught.json()["stored"] == 1, caught.text
        await page.wait_for_selector(f"{target}[data-verdict='SUCCESS']", timeout=WAIT_MS)
        await expect(page.locator("#log-list article.log")).to_have_count(1)

        # A stop made on the catcher ends the viewer's stream too.
        async with http.stream("GET", f"{viewer.url}/sessions/{session_id}/stream") as response:
            events = messages(response)
            await next_message(events)
            stopped = await http.post(
                f"{catcher.url}/api/v3/realTime/stop", params={"record": session_id}
            )
            assert stopped.status_code == 200
            while (message := await next_message(events)).event != "done":
                assert message.event is None
        await expect(page.locator("#status")).to_have_text("OFF", timeout=WAIT_MS)
        assert (await TestSession.get(id=session_id)).status == "OFF"
