"""Caught events in Chromium: filters (live, and as a plain GET form), copy the payload,
and one event's expected-vs-got view."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.support.realtime import make_plan, play_log
from tests.test_pages_sessions import post_events, wait_live

pytestmark = pytest.mark.browser
WAIT_MS = 10_000


@pytest.fixture
async def plan(db):
    return await make_plan()


async def start(live_server, plan) -> int:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=10) as http:
        answer = await http.post(
            "/api/v3/realTime/start",
            json={
                "project": plan.project.id,
                "accounts": ["alice-42", "bob-7"],
                "events": [plan.play.id, plan.share.id],
            },
        )
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


async def seed(live_server, plan) -> int:
    sid = await start(live_server, plan)
    await post_events(
        live_server,
        plan,
        play_log(page="home", user_id="alice-42"),
        play_log(page="nowhere", os="Android", user_id="bob-7"),
        {"event": "share_click", "userId": "alice-42", "$os": "iOS", "share": {"channel": "sms"}},
    )
    return sid


async def test_filters_narrow_the_live_list(page: Page, live_server, plan) -> None:
    sid = await seed(live_server, plan)
    await page.goto(f"{live_server.url}/sessions/{sid}")
    rows = page.locator("#log-list article.log")
    await expect(rows).to_have_count(3)
    visible = page.locator("#log-list article.log:visible")
    form = page.locator("#log-filter")
    await form.get_by_label("Platform").select_option("Android")
    await expect(visible).to_have_count(1)
    await expect(visible).to_contain_text("bob-7")
    await form.get_by_label("Platform").select_option("")
    await form.get_by_label("Verdict").select_option("FAIL")
    await expect(visible).to_have_count(2)  # bob's page and alice's share channel
    await form.get_by_label("Event").fill("share_click")
    await expect(visible).to_have_count(1)
    await form.get_by_label("Event").fill("")
    await form.get_by_label("Verdict").select_option("")
    await form.get_by_label("Text").fill("nowhere")
    await expect(visible).to_have_count(1)
    await expect(page.locator("#log-filter-count")).to_have_text("1 shown")
    # A new event that does not pass the filter arrives hidden.
    await post_events(live_server, plan, play_log(page="home", user_id="alice-42"))
    await expect(rows).to_have_count(4, timeout=WAIT_MS)
    await expect(visible).to_have_count(1)


async def test_filters_without_javascript(browser, live_server, plan) -> None:
    sid = await seed(live_server, plan)
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    try:
        await page.goto(f"{live_server.url}/sessions/{sid}")
        await page.locator("#log-filter").get_by_label("User").fill("bob")
        await page.locator("#log-filter").get_by_role("button", name="Filter").click()
        await page.wait_for_url(re.compile(rf"/sessions/{sid}/logs\?"))
        await expect(page.locator("#log-page article.log")).to_have_count(1)
        await expect(page.locator("#log-page")).to_contain_text("bob-7")
        await expect(page.locator(".copy-payload").first).to_be_hidden()
    finally:
        await context.close()


async def test_copy_payload_and_expected_vs_got(browser, live_server, plan) -> None:
    sid = await seed(live_server, plan)
    context = await browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = await context.new_page()
    try:
        await page.goto(f"{live_server.url}/sessions/{sid}")
        row = page.locator("#log-list article.log", has_text="bob-7")
        await row.locator("summary").click()
        await row.get_by_role("button", name="Copy payload").click()
        await expect(row.get_by_role("button", name="Copied")).to_be_visible()
        copied = await page.evaluate("navigator.clipboard.readText()")
        assert '"current_page_name": "nowhere"' in copied

        log_id = await row.get_attribute("data-log-id")
        await page.goto(f"{live_server.url}/sessions/{sid}/logs/{log_id}")
        line = page.locator("table.expected-vs-got tr[data-key='event_info.current_page_name']")
        await expect(line.locator("td.expected")).to_have_text("home | player")
        await expect(line.locator("td.got")).to_have_text("nowhere")
        await expect(line).to_contain_text("FAIL")
    finally:
        await context.close()


async def test_parity_shows_platforms_and_fields_missing_on_one_live(
    page: Page, live_server, plan
) -> None:
    sid = await start(live_server, plan)
    await page.goto(f"{live_server.url}/sessions/{sid}")
    await expect(page.locator("#live")).to_contain_text("live ·", timeout=WAIT_MS)
    play = page.locator(f"#parity-{plan.play.id}")
    await expect(play.locator("[data-platform='iOS']")).to_have_text("not yet")
    android_log = play_log(os="Android", user_id="bob-7")
    del android_log["page_info"]
    await post_events(live_server, plan, play_log(user_id="alice-42"), android_log)
    await expect(play.locator("[data-platform='iOS']")).to_have_text("sent 1", timeout=WAIT_MS)
    await expect(play.locator("[data-platform='Android']")).to_have_text("sent 1")
    await expect(play.locator("[data-platform='Other']")).to_have_text("not yet")
    await expect(play.locator(".parity-gaps")).to_contain_text(
        "page_info.id: on iOS, missing on Android"
    )
    share = page.locator(f"#parity-{plan.share.id}")
    await expect(share.locator(".parity-gaps")).to_have_text("none")


async def test_a_burst_lists_its_newest_rows_live_and_links_to_the_rest(
    page: Page, live_server, plan
) -> None:
    """A frame lists the newest LIVE_LOG_ROWS (10) of a burst; the rest are a mark and a link."""
    sid = await start(live_server, plan)
    await page.goto(f"{live_server.url}/sessions/{sid}")
    await wait_live(page)
    burst = [play_log(page="home", user_id="alice-42", extra=n) for n in range(13)]
    await post_events(live_server, plan, *burst)
    await expect(page.locator("#count-logs")).to_have_text("13", timeout=WAIT_MS)
    await expect(page.locator("#log-list article.log")).to_have_count(10)
    mark = page.locator("#log-list .log-skipped")
    await expect(mark).to_contain_text("3 more events caught here")
    # The mark sits below the ten rows, and its link lists the three it left out.
    assert await page.locator("#log-list > :last-child").get_attribute("class") == (
        "log-skipped muted"
    )
    # Every cell the stream swapped shows what a page loaded now shows: exact counts.
    live_cells = await _cells(page)
    fresh = await page.context.new_page()
    await fresh.goto(f"{live_server.url}/sessions/{sid}")
    assert live_cells == await _cells(fresh)
    assert any("13 of 13" in label for _, _, label, _ in live_cells)
    await fresh.close()
    await mark.get_by_role("link", name="see them").click()
    await expect(page.locator("#log-page article.log")).to_have_count(3)


async def _cells(page: Page) -> list[tuple]:
    """Each matrix cell as a tester reads it: id, verdict, label, reason."""
    return await page.eval_on_selector_all(
        "#matrix a.cell",
        "cells => cells.map(c => [c.id, c.dataset.verdict, c.textContent, c.title])",
    )
