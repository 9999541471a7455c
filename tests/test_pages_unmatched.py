"""The unmatched panel of the session page in Chromium: live over the page's stream, with
the reason of each group, and its buttons changing the live session (and without JS)."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.support.realtime import make_plan, play_log
from trackmaster.models import Account, Event, Field, SessionAccount, SessionEvent, Story, SyncRun
from web.unmatched_view import near_miss

pytestmark = pytest.mark.browser
WAIT_MS = 10_000


def test_near_misses() -> None:
    names = ["checkout_start", "play_click", "share_click"]
    assert near_miss("Checkout_Start", names) == "checkout_start"
    assert near_miss("checkout-start", names) == "checkout_start"
    assert near_miss("play_clik", names) == "play_click"
    assert near_miss("login_success", names) is None


@pytest.fixture
async def plan(db):
    return await make_plan()


async def post(live_server, plan, *logs) -> None:
    # Not test_pages_sessions.post_events: these events are meant to match nothing.
    async with httpx.AsyncClient(base_url=live_server.url, timeout=10) as http:
        answer = await http.post(
            "/collect", json=list(logs), headers={"X-Write-Key": plan.project.write_key}
        )
    assert answer.status_code == 200, answer.text


async def start(live_server, plan) -> int:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=10) as http:
        answer = await http.post(
            "/api/v3/realTime/start",
            json={"project": plan.project.id, "accounts": ["alice-42"], "events": [plan.play.id]},
        )
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


async def test_unmatched_events_show_live_with_reasons_and_buttons_fix_them(
    page: Page, live_server, plan
) -> None:
    sid = await start(live_server, plan)
    await page.goto(f"{live_server.url}/sessions/{sid}")
    await expect(page.locator("#live")).to_contain_text("live ·", timeout=WAIT_MS)
    panel = page.locator("#unmatched")
    await expect(panel).to_contain_text("Nothing so far")
    await page.evaluate("window.__not_reloaded = true")

    await post(
        live_server,
        plan,
        {"event": "Play_Click", "userId": "alice-42", "$os": "iOS"},
        {"event": "Play_Click", "userId": "alice-42", "$os": "Android"},
        {"event": "search_submit", "userId": "alice-42", "$os": "iOS"},
        {"event": "login_success", "userId": "alice-42", "$os": "iOS"},
        play_log(user_id="carol-1"),
    )
    near = panel.locator(".unmatched-group[data-name='Play_Click']")
    await expect(near).to_contain_text("not in the plan; did you mean play_click?", timeout=WAIT_MS)
    await expect(near).to_contain_text("2 times")
    unwatched = panel.locator(".unmatched-group[data-name='search_submit']")
    await expect(unwatched).to_contain_text("in the plan, not watched by this session")
    await expect(panel.locator(".unmatched-group[data-name='login_success']")).to_contain_text(
        "not in the plan"
    )
    outsider = panel.locator(".unmatched-group[data-kind='other-account']")
    await expect(outsider).to_contain_text("sent by carol-1: not an account of this session")
    # A plan kept in files can take a draft of the missing event.
    await expect(near.get_by_role("link", name="Draft a plan entry")).to_be_visible()

    await unwatched.get_by_role("button", name="Watch this event").click()
    await expect(page.locator("#unmatched-notice")).to_contain_text(
        "Watching search_submit now", timeout=WAIT_MS
    )
    await expect(unwatched).to_have_count(0)
    await expect(page.locator(f"#event-{plan.search.id}")).to_be_visible(timeout=WAIT_MS)
    assert await SessionEvent.filter(session_id=sid, event_id=plan.search.id).exists()

    await outsider.get_by_role("button", name="Add account carol-1").click()
    await expect(page.locator("#unmatched-notice")).to_contain_text(
        "carol-1 is an account of this session", timeout=WAIT_MS
    )
    await expect(outsider).to_have_count(0)
    carol = await Account.get(project=plan.project, user_id="carol-1")
    assert await SessionAccount.filter(session_id=sid, account_id=carol.id).exists()
    # carol's next event is caught and checked, on this page.
    await post(live_server, plan, play_log(user_id="carol-1", os="Android"))
    await expect(page.locator("#log-list article.log", has_text="carol-1")).to_have_count(
        1, timeout=WAIT_MS
    )
    assert await page.evaluate("window.__not_reloaded === true")


async def test_the_buttons_work_without_javascript(browser, live_server, plan) -> None:
    sid = await start(live_server, plan)
    await post(
        live_server,
        plan,
        {"event": "search_submit", "userId": "alice-42"},
        play_log(user_id="carol-1"),
        {"event": "checkout_start", "userId": "alice-42", "$os": "iOS", "cart": {"items": 3}},
    )
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    try:
        await page.goto(f"{live_server.url}/sessions/{sid}")
        await page.get_by_role("button", name="Watch this event").click()
        await page.wait_for_url(re.compile(rf"/sessions/{sid}#unmatched$"))
        await expect(page.locator(f"#event-{plan.search.id}")).to_be_visible()
        await expect(page.locator(".unmatched-group[data-name='search_submit']")).to_have_count(0)
        assert await SessionEvent.filter(session_id=sid, event_id=plan.search.id).exists()

        # Add this account: a plain POST, back on the session page, carol in it.
        await page.get_by_role("button", name="Add account carol-1").click()
        await page.wait_for_url(re.compile(rf"/sessions/{sid}#unmatched$"))
        await expect(page.locator(".unmatched-group[data-kind='other-account']")).to_have_count(0)
        await expect(page.locator(".session-head")).to_contain_text("carol-1")
        carol = await Account.get(project=plan.project, user_id="carol-1")
        assert await SessionAccount.filter(session_id=sid, account_id=carol.id).exists()

        # Draft a plan entry: a link to a page whose form is plain too.
        group = page.locator(".unmatched-group[data-name='checkout_start']")
        await group.get_by_role("link", name="Draft a plan entry").click()
        await expect(page.locator("h1")).to_contain_text("checkout_start")
        await expect(page.locator("table.draft-fields tbody tr")).to_have_count(1)
        await page.get_by_placeholder("new story name").fill("Checkout")
        await page.get_by_role("button", name="Add to the plan").click()
        await page.wait_for_url(re.compile(r"/projects/\d+/sync/\d+$"))
        await expect(page.locator("main")).to_contain_text("created")
        event = await Event.get(name="checkout_start", story__project=plan.project)
        assert [f.key for f in await Field.filter(event=event)] == ["cart.items"]
    finally:
        await context.close()


async def test_draft_a_plan_entry_from_an_unmatched_event(page: Page, live_server, plan) -> None:
    sid = await start(live_server, plan)
    await post(
        live_server,
        plan,
        {
            "event": "checkout_start",
            "userId": "alice-42",
            "$os": "iOS",
            "cart": {"id": "c-981", "items": 3, "currency": "EUR"},
            "express": False,
        },
    )
    await page.goto(f"{live_server.url}/sessions/{sid}")
    group = page.locator(".unmatched-group[data-name='checkout_start']")
    await group.get_by_role("link", name="Draft a plan entry").click()
    await expect(page.locator("h1")).to_contain_text("checkout_start")
    rows = page.locator("table.draft-fields tbody tr")
    await expect(rows).to_have_count(4)  # cart.id, cart.items, cart.currency, express
    # An id is dynamic: proposed as "any value"; the currency as the value seen.
    assert not await page.get_by_label("Expect exactly c-981 in cart.id").is_checked()
    assert await page.get_by_label("Expect exactly EUR in cart.currency").is_checked()
    await page.get_by_label("Keep cart.items").uncheck()
    await page.get_by_placeholder("new story name").fill("Checkout")
    await page.get_by_role("button", name="Add to the plan").click()
    await page.wait_for_url(re.compile(r"/projects/\d+/sync/\d+$"))
    await expect(page.locator("main")).to_contain_text("created", timeout=WAIT_MS)

    event = await Event.get(name="checkout_start", story__project=plan.project)
    fields = {f.key: f.values for f in await Field.filter(event=event)}
    assert fields == {"cart.id": [], "cart.currency": ["EUR"], "express": ["false"]}
    assert (await Story.get(id=event.story_id)).name == "Checkout"
    run = await SyncRun.filter(project=plan.project).order_by("-id").first()
    assert run.trigger == "draft" and run.status == "ok"
