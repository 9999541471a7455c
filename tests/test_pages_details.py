"""The small things a tester reads all day (Chromium): times say their zone and show the
viewer's local time on hover, audit details read as words, the favicon, the wording."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.support.realtime import make_plan
from trackmaster.auth import audit

pytestmark = pytest.mark.browser


async def test_times_carry_their_zone_and_the_local_time_on_hover(browser, live_server, db) -> None:
    plan = await make_plan()
    context = await browser.new_context(timezone_id="Asia/Tokyo", locale="en-GB")
    page = await context.new_page()
    try:
        await page.goto(f"{live_server.url}/projects/{plan.project.id}")
        first = page.locator("#accounts time.at").first
        await expect(first).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$"))
        utc_hour = int((await first.inner_text())[11:13])
        title = await first.get_attribute("title")
        assert title and title.startswith("your time: "), title
        # Tokyo is UTC+9: the hover shows the viewer's hour, not the server's.
        local_hour = int(title.split(", ")[-1][:2])
        assert local_hour == (utc_hour + 9) % 24, (title, utc_hour)
    finally:
        await context.close()


async def test_audit_details_read_as_words(page: Page, live_server, db) -> None:
    await audit.record(
        "ada", "plan.import", "project:1", summary={"stories": 2, "events": 5}, names=["a", "b"]
    )
    await page.goto(f"{live_server.url}/admin/audit")
    details = page.locator("#audit td.audit-details").first
    await expect(details).to_contain_text("summary: stories: 2, events: 5")
    await expect(details).to_contain_text("names: a, b")
    text = await details.inner_text()
    assert "{" not in text and "[" not in text, text


async def test_favicon_and_wording(page: Page, live_server, db) -> None:
    plan = await make_plan()
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        icon = await http.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    await page.goto(f"{live_server.url}/projects/{plan.project.id}/sessions/new")
    assert await page.locator("link[rel=icon]").get_attribute("href") == "/static/favicon.svg"
    search_story = page.locator(f"fieldset.story[data-story='{plan.search_story.id}'] legend")
    await expect(search_story).to_contain_text("Search 1 event")
    await expect(
        page.locator(f"fieldset.story[data-story='{plan.player_story.id}']")
    ).to_contain_text("all 2 events")
