"""The live session pages in headless Chromium, against a real server and database.

Events are posted over HTTP to the ingest endpoint, as an app would; the page
must show them without a reload (a marker set on `window` survives only if
the page was never reloaded).
"""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from playwright.async_api import expect

from tests.support.realtime import make_plan, play_log

STREAM_PATH = re.compile(r"/sessions/\d+/stream")
WAIT_MS = 10_000


@pytest.fixture
async def plan(db):
    return await make_plan()


async def post_events(live_server, plan, *logs) -> None:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=10) as http:
        answer = await http.post(
            "/collect", json=list(logs), headers={"X-Write-Key": plan.project.write_key}
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["stored"] == len(logs), answer.text


async def start_session_from_ui(page, live_server, plan) -> int:
    await page.goto(f"{live_server.url}/projects/{plan.project.id}/sessions/new")
    await page.get_by_label("alice-42").check()
    # "Select all of a story": the story's box ticks its events.
    await page.locator(f"[data-select-all='{plan.player_story.id}']").check()
    assert await page.locator(f"input[name=events][value='{plan.play.id}']").is_checked()
    assert await page.locator(f"input[name=events][value='{plan.share.id}']").is_checked()
    await page.get_by_role("button", name="Start the session").click()
    await page.wait_for_url(re.compile(r"/sessions/\d+$"))
    await wait_live(page)
    return int(page.url.rsplit("/", 1)[1])


async def wait_live(page) -> None:
    await expect(page.locator("#live")).to_contain_text("live ·", timeout=WAIT_MS)


async def mark_page(page) -> None:
    await page.evaluate("window.__not_reloaded = true")


async def assert_not_reloaded(page) -> None:
    assert await page.evaluate("window.__not_reloaded === true"), "the page was reloaded"


def cell(plan, event, key: str, platform: str = "iOS") -> str:
    return f"#cell-{event.id}-{plan.f(key)}-{platform}"


async def wait_verdict(page, selector: str, verdict: str) -> None:
    await page.wait_for_selector(f"{selector}[data-verdict='{verdict}']", timeout=WAIT_MS)


async def test_start_from_the_ui_and_see_cells_change_without_reload(
    page, live_server, plan
) -> None:
    await start_session_from_ui(page, live_server, plan)
    page_cell = cell(plan, plan.play, "event_info.current_page_name")
    assert await page.get_attribute(page_cell, "data-verdict") == "UNTESTED"
    await mark_page(page)

    await post_events(live_server, plan, play_log(page="home", user_id="alice-42"))
    await wait_verdict(page, page_cell, "SUCCESS")
    await wait_verdict(page, cell(plan, plan.play, "page_info.id"), "UNCERTAIN")
    # Other platforms stay untested; counts, coverage and the log list follow.
    assert (
        await page.get_attribute(
            cell(plan, plan.play, "content_info.type", "Android"), "data-verdict"
        )
        == "UNTESTED"
    )
    assert "1/2" in await page.inner_text(
        f"#cov-{plan.play.id}-{plan.f('event_info.current_page_name')} [data-platform='iOS']"
    )
    assert await page.locator("#log-list article.log").count() == 1
    # One event, not "1 events".
    assert re.search(r"caught 1 event(?!s)", " ".join((await page.inner_text("#counts")).split()))

    await post_events(live_server, plan, play_log(page="nowhere", user_id="alice-42", os="Android"))
    await wait_verdict(
        page, cell(plan, plan.play, "event_info.current_page_name", "Android"), "FAIL"
    )
    assert await page.locator("#log-list article.log").count() == 2
    reason = await page.get_attribute(
        cell(plan, plan.play, "event_info.current_page_name", "Android"), "title"
    )
    assert "nowhere" in reason and "home" in reason
    await assert_not_reloaded(page)


async def test_page_catches_up_after_its_stream_is_cut(page, live_server, plan) -> None:
    streams: list[dict[str, str]] = []
    page.on(
        "request",
        lambda request: (
            streams.append(request.headers) if STREAM_PATH.search(request.url) else None
        ),
    )
    session_id = await start_session_from_ui(page, live_server, plan)
    await post_events(live_server, plan, play_log(page="home", user_id="alice-42"))
    await wait_verdict(page, cell(plan, plan.play, "event_info.current_page_name"), "SUCCESS")
    await mark_page(page)

    # A network blip: the browser goes offline and its stream is cut; events arrive meanwhile.
    await page.context.set_offline(True)
    live_server.server.config.app.state.live_feeds.feeds[session_id].disconnect()
    await page.wait_for_selector("#live.offline", timeout=WAIT_MS)
    await post_events(
        live_server, plan, play_log(page="player", user_id="alice-42", os="Android"),
        play_log(page="bad", kind="MOVIE", user_id="alice-42"),
    )  # fmt: skip
    await asyncio.sleep(0.3)
    assert (
        await page.get_attribute(cell(plan, plan.play, "content_info.type"), "data-verdict")
        == "SUCCESS"
    )
    await page.context.set_offline(False)

    await wait_verdict(page, cell(plan, plan.play, "content_info.type"), "FAIL")
    await wait_verdict(
        page, cell(plan, plan.play, "event_info.current_page_name", "Android"), "SUCCESS"
    )
    assert await page.locator("#log-list article.log").count() == 3
    await assert_not_reloaded(page)
    # It came back as a reconnect that said where it was, not as a new page.
    assert len(streams) >= 2
    assert any("last-event-id" in headers for headers in streams[1:])


async def open_failing_cell(page, live_server, plan):
    """Start a session, catch an event with a wrong page name, open that cell's inspector."""
    session_id = await start_session_from_ui(page, live_server, plan)
    await post_events(live_server, plan, play_log(page="nowhere", user_id="alice-42"))
    target = cell(plan, plan.play, "event_info.current_page_name")
    await wait_verdict(page, target, "FAIL")
    await page.click(target)
    form = page.locator("#inspector form.override")
    await form.wait_for(timeout=WAIT_MS)
    return session_id, target, form


async def test_override_a_verdict_with_a_reason(page, live_server, plan) -> None:
    session_id, target, form = await open_failing_cell(page, live_server, plan)
    assert "nowhere" in await page.inner_text("#inspector")
    await form.locator("select[name=verdict]").select_option("SUCCESS")
    await form.locator("input[name=reason]").fill("new page added after the plan, checked by hand")
    await form.get_by_role("button", name="Override").click()

    await wait_verdict(page, target, "SUCCESS")
    assert "checked by hand" in await page.get_attribute(target, "title")
    # The stream may turn the cell before the form's own answer fills the inspector.
    await expect(page.locator("#inspector")).to_contain_text("Saved", timeout=WAIT_MS)
    # Stored, not only shown: a fresh load says the same.
    await page.goto(f"{live_server.url}/sessions/{session_id}")
    assert await page.get_attribute(target, "data-verdict") == "SUCCESS"


async def test_override_without_a_reason_is_refused_and_changes_nothing(
    page, live_server, plan
) -> None:
    _, target, form = await open_failing_cell(page, live_server, plan)
    await form.locator("input[name=reason]").evaluate("input => input.removeAttribute('required')")
    await form.locator("input[name=reason]").fill("   ")
    await form.locator("select[name=verdict]").select_option("SUCCESS")
    await form.get_by_role("button", name="Override").click()
    await page.wait_for_selector("#inspector .alert-error", timeout=WAIT_MS)
    assert "reason" in await page.inner_text("#inspector .alert-error")
    assert await page.get_attribute(target, "data-verdict") == "FAIL"


async def test_script_payloads_show_as_text(page, live_server, plan) -> None:
    dialogs: list[str] = []
    page.on(
        "dialog",
        lambda dialog: (dialogs.append(dialog.message), asyncio.ensure_future(dialog.dismiss())),
    )
    await start_session_from_ui(page, live_server, plan)
    script = "<script>alert('xss-script')</script>"
    image = "<img src=x onerror=alert('xss-img')>"
    await post_events(
        live_server, plan,
        play_log(page=script, kind=image, user_id="alice-42", note=f"{script}{image}"),
    )  # fmt: skip
    target = cell(plan, plan.play, "event_info.current_page_name")
    await wait_verdict(page, target, "FAIL")
    assert script in await page.get_attribute(target, "title")

    row = page.locator("#log-list article.log").first
    await row.locator("summary").click()
    payload = await row.locator("pre.payload").inner_text()
    assert script in payload and image in payload
    assert await page.locator("#log-list img").count() == 0
    assert await page.locator("#log-list script").count() == 0

    await page.click(target)
    await page.wait_for_selector("#inspector form.override", timeout=WAIT_MS)
    assert script in await page.inner_text("#inspector")
    await page.reload()  # the server-rendered page escapes the same way
    await page.locator("#log-list article.log summary").first.click()
    assert image in await page.locator("#log-list pre.payload").first.inner_text()
    assert await page.locator("main img, main script").count() == 0
    await asyncio.sleep(0.3)
    assert dialogs == []


async def test_stop_ends_the_stream_and_the_page_says_so(page, live_server, plan) -> None:
    await start_session_from_ui(page, live_server, plan)
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.get_by_role("button", name="Stop").click()
    await page.wait_for_selector("#status.status-OFF", timeout=WAIT_MS)
    await expect(page.locator("#live")).to_contain_text("stopped", timeout=WAIT_MS)


@pytest.mark.parametrize("slow_script", ["vendor/htmx/ext/hx-sse.min.js", "app.js"])
async def test_the_page_goes_live_however_late_its_scripts_arrive(
    page, live_server, plan, slow_script: str
) -> None:
    # htmx initialised itself on a timer when its script ran after parsing (`defer`): an SSE
    # extension arriving after that timer was never applied, and the page stayed at
    # "connecting..." with no request made and no retry. A slow script makes that certain.
    async def late(route) -> None:
        await asyncio.sleep(0.5)
        await route.continue_()

    await page.route(f"**/static/{slow_script}*", late)
    async with httpx.AsyncClient(base_url=live_server.url, timeout=10) as http:
        started = await http.post(
            "/api/v3/realTime/start",
            json={"project": plan.project.id, "accounts": ["alice-42"], "events": [plan.play.id]},
        )
    assert started.status_code == 201, started.text
    streams: list[str] = []
    page.on(
        "request", lambda request: streams.append(request.url) if "/stream" in request.url else 0
    )
    await page.goto(f"{live_server.url}/sessions/{started.json()['id']}")
    await wait_live(page)
    assert len(streams) == 1, streams
