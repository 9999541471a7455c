"""The session page's unplanned-properties panel in Chromium: an event with `curency` shows
up live (no reload) with its count per platform and "did you mean currency", and marking
it expected hides it on every page of the session; without JavaScript the form works too."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.support.realtime import make_plan
from tests.test_pages_unmatched import post, start
from trackmaster.models import AuditEntry, EventLog, ExpectedProperty, Field

pytestmark = pytest.mark.browser
WAIT_MS = 10_000


@pytest.fixture
async def plan(db):
    plan = await make_plan()
    await Field.create(event=plan.play, key="currency", values=[], raw_values=[])
    return plan


def purchase(os: str, **properties) -> dict:
    return {"event": "play_click", "userId": "alice-42", "platform": os,
            "properties": {"event_info": {"current_page_name": "home"}, **properties}}  # fmt: skip


async def test_unplanned_panel_is_live_and_marking_expected_hides_it(
    page: Page, browser, live_server, plan
) -> None:
    sid = await start(live_server, plan)
    await page.goto(f"{live_server.url}/sessions/{sid}")
    await expect(page.locator("#live")).to_contain_text("live ·", timeout=WAIT_MS)
    panel = page.locator("#unplanned-properties")
    await expect(panel).to_contain_text("None so far")
    other = await browser.new_page()
    await other.goto(f"{live_server.url}/sessions/{sid}")
    await expect(other.locator("#live")).to_contain_text("live ·", timeout=WAIT_MS)
    await page.evaluate("window.__not_reloaded = true")

    await post(
        live_server, plan, purchase("iOS", curency="EUR"), purchase("iOS", curency="USD"),
        purchase("Android", curency="EUR"), purchase("iOS", currency="EUR"),
    )  # fmt: skip
    row = panel.locator(".unplanned-row[data-key='curency']")
    await expect(row).to_contain_text("did you mean currency?", timeout=WAIT_MS)
    await expect(row.locator("td[data-platform='iOS']")).to_have_text("2")
    await expect(row.locator("td[data-platform='Android']")).to_have_text("1")
    await expect(row.locator("td[data-platform='Other']")).to_have_text("0")
    await expect(row).to_contain_text("$.curency")
    # A planned field's cell is judged as before: the unplanned keys neither fail nor pass it.
    page_field = plan.fields["event_info.current_page_name"].id
    await expect(page.locator(f"#cell-{plan.play.id}-{page_field}-iOS")).to_contain_text(
        "SUCCESS 3 of 3"
    )
    assert await page.evaluate("window.__not_reloaded") is True

    await row.get_by_role("button", name="Expected here").click()
    await expect(page.locator("#unplanned-notice")).to_contain_text("is expected", timeout=WAIT_MS)
    await expect(row).to_have_count(0, timeout=WAIT_MS)
    await expect(other.locator(".unplanned-row[data-key='curency']")).to_have_count(
        0, timeout=WAIT_MS
    )
    await expect(panel).to_contain_text("Marked expected in this session (1)")
    assert await ExpectedProperty.filter(session_id=sid, key="curency").count() == 1
    assert await AuditEntry.filter(action="property.expected").count() == 1
    # Still hidden when more of it arrives.
    await post(live_server, plan, purchase("Other", curency="EUR", coupon="X"))
    await expect(panel.locator(".unplanned-row[data-key='coupon']")).to_have_count(
        1, timeout=WAIT_MS
    )
    await expect(row).to_have_count(0)
    await other.close()


async def test_marking_expected_without_javascript(browser, live_server, plan) -> None:
    sid = await start(live_server, plan)
    await post(live_server, plan, purchase("iOS", curency="EUR"))
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    await page.goto(f"{live_server.url}/sessions/{sid}")
    row = page.locator(".unplanned-row[data-key='curency']")
    await expect(row).to_contain_text("did you mean currency?")
    await row.get_by_role("button", name="Expected here").click()
    await expect(page.locator("#unplanned-properties")).to_contain_text("None so far")
    assert page.url.endswith(f"/sessions/{sid}#unplanned-properties")
    # The caught event's own page lists it beside the fields, as its own check.
    log = await EventLog.get(session_id=sid)
    await page.goto(f"{live_server.url}/sessions/{sid}/logs/{log.id}")
    checked = page.locator("tr[data-key='curency']")
    await expect(checked).to_contain_text("did you mean currency?")
    await expect(checked).to_contain_text("unplanned_property")
    await expect(checked).to_contain_text("marked expected in this session")
    await expect(checked.locator(".verdict")).to_have_text("UNCERTAIN")
    await context.close()
