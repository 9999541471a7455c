"""A live page survives its web process being killed and started again: every event caught
while it was away shows as a row, without a reload.

The web is a real `trackmaster serve` process (killed with SIGKILL, as a crash would, and
started again on the same port); a second web (in this test's process) shares only the
database and catches the events while the first is down, as a sibling replica would.
Headless Chromium holds the page; htmx reconnects it with `Last-Event-ID`.
"""

from __future__ import annotations

import contextlib

import httpx
from playwright.async_api import expect

from tests.conftest import running_app
from tests.support.realtime import make_plan, play_log
from tests.support.schedule import ROOT, Proc, eventually, process_env
from tests.support.servers import free_port
from trackmaster.models import EventLog
from web.streams import LOGS_PER_PAGE

WAIT_MS = 15_000
# htmx backs off 1, 2, 4, 8, 16 s (+-30%) between attempts: a reconnect may take that long.
RECONNECT_MS = 60_000
GAP_ROWS = 10  # the restarted web's LIVE_GAP_ROWS: some rows sent, a button for the rest
CAUGHT_WHILE_DOWN = LOGS_PER_PAGE + GAP_ROWS + 5


async def _up(url: str, web: Proc) -> None:
    async def answers() -> bool:
        assert web.popen.poll() is None, f"the web exited:\n{web.output}"
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                return (await http.get(f"{url}/ping")).status_code == 200
        except httpx.HTTPError:
            return False

    await eventually(answers, timeout_s=60, every_s=0.2, what=f"{url}/ping")


async def test_a_page_shows_every_event_caught_while_its_web_process_was_down(
    db, settings, tmp_path, page
) -> None:
    plan = await make_plan()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = process_env(settings, REDIS="", JET_URL="", LIVE_GAP_ROWS=str(GAP_ROWS))
    command = [str(ROOT / ".venv/bin/trackmaster"), "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port)]
    webs = [Proc(command, env, ROOT, tmp_path / "web-1.log")]
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(lambda: [web.popen.kill() for web in webs if web.popen.poll() is None])
        sibling = await stack.enter_async_context(running_app(settings))
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=10))
        await _up(url, webs[0])
        started = await http.post(
            f"{url}/api/v3/realTime/start",
            json={"project": plan.project.id, "accounts": ["alice-42"], "events": [plan.play.id]},
        )
        assert started.status_code == 201, started.text
        session_id = started.json()["id"]

        async def catch(server: str, n: int) -> None:
            answer = await http.post(
                f"{server}/collect",
                json=play_log(page="player", user_id="alice-42", messageId=f"m-{n}"),
                headers={"X-Write-Key": plan.project.write_key},
            )
            assert answer.status_code == 200 and answer.json()["stored"] == 1, answer.text

        await page.goto(f"{url}/sessions/{session_id}")
        await expect(page.locator("#live")).to_contain_text("live ·", timeout=WAIT_MS)
        await catch(url, 0)
        rows = page.locator("#logs article.log")
        await expect(rows).to_have_count(1, timeout=WAIT_MS)
        await page.evaluate("window.notReloaded = true")

        webs[0].popen.kill()  # SIGKILL: no clean end of the stream, as in a crash
        webs[0].popen.wait(timeout=10)
        await expect(page.locator("#live")).to_contain_text("connection lost", timeout=WAIT_MS)
        for n in range(1, CAUGHT_WHILE_DOWN + 1):
            await catch(sibling.url, n)
        webs.append(Proc(command, env, ROOT, tmp_path / "web-2.log"))
        await _up(url, webs[1])

        # Back: the window of the newest 50, then the 10 rows below it, then a button.
        more = page.locator("#log-gap-more button")
        await expect(more).to_have_text("5 more: load them", timeout=RECONNECT_MS)
        await expect(page.locator("#live")).to_contain_text("live ·")
        await expect(page.locator("#log-list article.log")).to_have_count(LOGS_PER_PAGE)
        await expect(page.locator("#log-gap article.log")).to_have_count(GAP_ROWS)
        await more.click()
        await expect(page.locator("#log-gap-more")).to_have_count(0, timeout=WAIT_MS)

        stored = (
            await EventLog.filter(session_id=session_id)
            .order_by("-id")
            .values_list("id", flat=True)
        )
        assert len(stored) == CAUGHT_WHILE_DOWN + 1
        shown = await rows.evaluate_all("rows => rows.map(row => Number(row.dataset.logId))")
        # Every event caught while the web was down, newest first, each once.
        assert shown == stored[:CAUGHT_WHILE_DOWN]
        assert await page.evaluate("window.notReloaded") is True

        # And it is live again: an event caught now by the restarted web shows at the top.
        await catch(url, CAUGHT_WHILE_DOWN + 1)
        await expect(rows.first).not_to_have_attribute(
            "data-log-id", str(shown[0]), timeout=WAIT_MS
        )
