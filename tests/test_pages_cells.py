"""The session page in Chromium: a cell counts every caught event, live, and its panel says why."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import expect

from tests.support.realtime import make_plan, play_log

WAIT_MS = 15_000


@pytest.fixture
async def plan(db):
    return await make_plan()


async def post(live_server, plan, logs: list[dict]) -> None:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        answer = await http.post(
            "/collect", json=logs, headers={"X-Write-Key": plan.project.write_key}
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["stored"] == len(logs), answer.text


async def start(page, live_server, plan) -> int:
    await page.goto(f"{live_server.url}/projects/{plan.project.id}/sessions/new")
    await page.get_by_label("alice-42").check()
    await page.locator(f"input[name=events][value='{plan.play.id}']").check()
    await page.get_by_role("button", name="Start the session").click()
    await page.wait_for_url(re.compile(r"/sessions/\d+$"))
    await expect(page.locator("#live")).to_contain_text("live ·", timeout=WAIT_MS)
    return int(page.url.rsplit("/", 1)[1])


def android(page_name: str) -> dict:
    return play_log(page=page_name, os="Android", user_id="alice-42")


async def test_300_events_a_third_failing_show_fail_100_of_300_live(page, live_server, plan):
    await start(page, live_server, plan)
    await page.evaluate("window.__not_reloaded = true")
    target = f"#cell-{plan.play.id}-{plan.f('event_info.current_page_name')}-Android"
    pages = ["home", "player", "nowhere"]
    for batch in range(3):
        await post(
            live_server,
            plan,
            [android(pages[n % 3]) for n in range(batch * 100, batch * 100 + 100)],
        )
    cell = page.locator(target)
    await expect(cell).to_have_text("FAIL 100 of 300", timeout=WAIT_MS)
    assert await cell.get_attribute("data-verdict") == "FAIL"
    # A good event after them leaves the failure showing.
    await post(live_server, plan, [android("home")])
    await expect(cell).to_have_text("FAIL 100 of 301", timeout=WAIT_MS)
    assert await page.evaluate("window.__not_reloaded === true"), "the page was reloaded"
    # Counters at the top count cells and events.
    counts = page.locator("#count-events [data-event-verdict='FAIL']")
    await expect(counts).to_contain_text("100", timeout=WAIT_MS)
    assert "caught 301 events" in " ".join((await page.inner_text("#counts")).split())

    # The panel: the distinct values, most frequent first, each with an example event.
    await cell.click()
    rows = page.locator("#cell-values tbody tr")
    await expect(rows).to_have_count(3, timeout=WAIT_MS)
    texts = [" ".join((await rows.nth(i).inner_text()).split()) for i in range(3)]
    assert texts[0].startswith("home 101 SUCCESS")
    assert "nowhere 100 FAIL unexpected_value" in texts[2]
    await rows.nth(2).get_by_role("link").click()
    await page.wait_for_url(re.compile(r"/sessions/\d+/logs/\d+$"))
    assert "nowhere" in await page.content()


async def test_override_covers_the_past_and_a_new_failure_shows_again(page, live_server, plan):
    await start(page, live_server, plan)
    target = f"#cell-{plan.play.id}-{plan.f('event_info.current_page_name')}-Android"
    await post(live_server, plan, [android("nowhere"), android("home")])
    cell = page.locator(target)
    await expect(cell).to_have_text("FAIL 1 of 2", timeout=WAIT_MS)
    await cell.click()
    form = page.locator("#inspector form.override")
    await form.wait_for(timeout=WAIT_MS)
    await form.locator("select[name=verdict]").select_option("SUCCESS")
    await form.locator("input[name=reason]").fill("nowhere is the new page, checked by hand")
    await form.get_by_role("button", name=re.compile("Override")).click()
    await expect(page.locator(target)).to_have_attribute("data-verdict", "SUCCESS", timeout=WAIT_MS)
    await expect(page.locator("#cell-overrides")).to_contain_text(
        "checked by hand", timeout=WAIT_MS
    )
    await post(live_server, plan, [android("home"), android("nowhere")])
    await expect(page.locator(target)).to_contain_text("FAIL 1 of 2 ✎", timeout=WAIT_MS)


async def test_rejudge_from_the_page_shows_progress_then_what_changed(page, live_server, plan):
    from trackmaster.models import Field

    await start(page, live_server, plan)
    id_field = plan.f("page_info.id")
    target = f"#cell-{plan.play.id}-{id_field}-Android"
    await post(live_server, plan, [android("home"), android("home")])
    await expect(page.locator(target)).to_have_text("UNCERTAIN 2 of 2", timeout=WAIT_MS)
    # The plan learns that page ids are numbers; the stored events are judged again.
    await Field.filter(id=id_field).update(rules={"type": "number"})
    await page.get_by_role("button", name="Re-judge").click()
    done = page.locator("#rejudge[data-status='done']")
    await expect(done).to_contain_text("1 cells changed verdict", timeout=WAIT_MS)
    await expect(done).to_contain_text("UNCERTAIN 2 of 2 → FAIL 2 of 2")
    await expect(page.locator(target)).to_have_text("FAIL 2 of 2", timeout=WAIT_MS)
