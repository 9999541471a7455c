"""A field that leaves the plan stays on the session page, marked removed, with its verdicts.

docs/plans.md: the test sessions that used an event or field keep it (marked removed)
with every verdict. In Chromium: the row shows the badge live (the next caught event
after the import brings it, without a reload) and on a fresh load, its cell keeps the
verdict it had, and nothing judges it any more.
"""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import expect

from tests.support.realtime import make_plan, play_log
from tests.test_pages_cells import WAIT_MS, post, start


@pytest.fixture
async def plan(db):
    return await make_plan()


async def remove_field(live_server, project_id: int, event: str, key: str) -> None:
    """Import the project's own plan back without one field, as a person would."""
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        url = f"/api/v3/projects/{project_id}/plan"
        exported = (await http.get(url, params={"format": "json"})).json()
        found = 0
        for story in exported["stories"]:
            for planned in story["events"]:
                if planned["name"] == event:
                    before = len(planned["fields"])
                    planned["fields"] = [f for f in planned["fields"] if f["key"] != key]
                    found += before - len(planned["fields"])
        assert found == 1, exported
        answer = await http.put(url, params={"format": "json"}, json=exported)
    assert answer.status_code == 200, answer.text
    assert "1 field removed" in answer.json()["data"]["summary"], answer.text


async def test_a_field_removed_from_the_plan_shows_removed_with_its_verdict(
    page, live_server, plan
) -> None:
    await start(page, live_server, plan)
    await page.evaluate("window.__not_reloaded = true")
    key = "content_info.type"
    row = page.locator(f"tr.field-row[data-key='{key}']")
    cell = page.locator(f"#cell-{plan.play.id}-{plan.f(key)}-iOS")
    # A wrong value: FAIL.
    await post(live_server, plan, [play_log(kind="MOVIE", user_id="alice-42")])
    await expect(cell).to_have_text("FAIL 1 of 1", timeout=WAIT_MS)
    await expect(row.locator(".badge")).to_have_count(0)

    await remove_field(live_server, plan.project.id, "play_click", key)
    await post(live_server, plan, [play_log(kind="MOVIE", page="player", user_id="alice-42")])
    # The next event's frame redraws the matrix: the row is still there, marked removed,
    # and its cell kept the verdict it had (the new event was not judged on it).
    await expect(row.locator(".badge")).to_have_text("removed", timeout=WAIT_MS)
    await expect(cell).to_have_text("FAIL 1 of 1")
    other = page.locator(f"#cell-{plan.play.id}-{plan.f('event_info.current_page_name')}-iOS")
    await expect(other).to_have_text("SUCCESS 2 of 2")
    assert await page.evaluate("window.__not_reloaded === true"), "the page was reloaded"
    other_rows = page.locator("tr.field-row .badge")
    await expect(other_rows).to_have_count(1)

    await page.reload()
    await expect(row.locator(".badge")).to_have_text("removed", timeout=WAIT_MS)
    await expect(cell).to_have_text("FAIL 1 of 1")


async def test_a_field_removed_before_the_session_began_is_not_one_of_its_columns(
    page, live_server, plan
) -> None:
    # A session that began after the field left the plan never used it: showing it as a
    # "removed" column would only add UNTESTED cells nobody can test.
    key = "content_info.type"
    await remove_field(live_server, plan.project.id, "play_click", key)
    await start(page, live_server, plan)
    await expect(
        page.locator("tr.field-row[data-key='event_info.current_page_name']")
    ).to_have_count(1)
    await expect(page.locator(f"tr.field-row[data-key='{key}']")).to_have_count(0)
    await expect(page.locator("tr.field-row .badge")).to_have_count(0)

    # Removed while this session runs: from then on it is one of its removed columns.
    await remove_field(live_server, plan.project.id, "play_click", "page_info.id")
    await post(live_server, plan, [play_log(kind="MOVIE", page="player", user_id="alice-42")])
    row = page.locator("tr.field-row[data-key='page_info.id']")
    await expect(row.locator(".badge")).to_have_text("removed", timeout=WAIT_MS)
    await expect(page.locator(f"tr.field-row[data-key='{key}']")).to_have_count(0)
