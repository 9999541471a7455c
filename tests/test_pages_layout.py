"""The pages at a phone's, a tablet's, a laptop's and a desktop's width, light and dark,
in Chromium: no sideways page scroll, the key parts in view, the cell panel beside or over
the matrix with the focus in it. Screenshots are kept as test artifacts in
`var/test-artifacts/screens/` (or $TEST_ARTIFACTS/screens) to look at.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.support.realtime import make_plan, play_log

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "var" / "test-artifacts")) / "screens"
WIDTHS = {
    "phone": (390, 844),
    "tablet": (768, 1024),
    "laptop": (1366, 768),
    "desktop": (1920, 1080),
}
WAIT_MS = 10_000


@pytest.fixture
async def session_id(db, live_server) -> tuple[int, object]:
    plan = await make_plan()
    async with httpx.AsyncClient(base_url=live_server.url, timeout=10) as http:
        started = await http.post(
            "/api/v3/realTime/start",
            json={
                "project": plan.project.id,
                "accounts": ["alice-42", "bob-7"],
                "events": [plan.play.id, plan.share.id, plan.search.id],
                "name": "player v2.31 on iPhone 15",
            },
        )
        assert started.status_code == 201, started.text
        sent = await http.post(
            "/collect",
            json=[
                play_log(page="home", user_id="alice-42"),
                play_log(page="nowhere", os="Android", user_id="bob-7"),
                {"event": "share_click", "userId": "alice-42", "$os": "iOS",
                 "share": {"channel": "wechat"}},
            ],
            headers={"X-Write-Key": plan.project.write_key},
        )  # fmt: skip
        assert sent.status_code == 200, sent.text
    return started.json()["id"], plan


_WIDEST = """() => [...document.querySelectorAll("body *")]
  .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
  .slice(0, 5).map((e) => e.tagName + "." + e.className + "#" + e.id)"""


async def no_sideways_scroll(page: Page) -> None:
    widths = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if widths[0] > widths[1]:
        sticking_out = await page.evaluate(_WIDEST)
        raise AssertionError(
            f"{page.url} scrolls sideways: {widths[0]} px in {widths[1]}; {sticking_out}"
        )


async def in_view(page: Page, selector: str) -> None:
    await expect(page.locator(selector).first).to_be_in_viewport()


async def shoot(page: Page, name: str, *, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=full_page)
    return path


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("device", list(WIDTHS))
async def test_pages_fit_every_width(browser, live_server, session_id, device, scheme) -> None:
    sid, plan = session_id
    width, height = WIDTHS[device]
    context = await browser.new_context(
        viewport={"width": width, "height": height}, color_scheme=scheme
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        for name, path in (
            ("home", "/"),
            ("project", f"/projects/{plan.project.id}"),
            ("sessions", "/sessions"),
            ("new-session", f"/projects/{plan.project.id}/sessions/new"),
            ("report", f"/sessions/{sid}/report"),
            ("session", f"/sessions/{sid}"),
        ):
            await page.goto(live_server.url + path)
            await in_view(page, "h1")
            await no_sideways_scroll(page)
            await shoot(page, f"{name}-{device}-{scheme}")
        await expect(page.locator("#live")).to_contain_text("live ·", timeout=WAIT_MS)
        await in_view(page, "#matrix .cell")
    finally:
        await context.close()
    assert not errors


async def focused_inside(page: Page, selector: str) -> bool:
    return await page.evaluate(
        "(s) => document.querySelector(s).contains(document.activeElement)", selector
    )


@pytest.mark.parametrize("device", ["phone", "laptop"])
async def test_the_cell_panel_opens_in_view_and_takes_the_focus(
    browser, live_server, session_id, device
) -> None:
    sid, plan = session_id
    width, height = WIDTHS[device]
    context = await browser.new_context(viewport={"width": width, "height": height})
    page = await context.new_page()
    try:
        await page.goto(f"{live_server.url}/sessions/{sid}")
        await expect(page.locator("#live")).to_contain_text("live ·", timeout=WAIT_MS)
        if device == "phone":
            # The menu folds behind its button, and opens.
            await expect(page.locator("#topbar-menu nav")).to_be_hidden()
            toggle = page.get_by_role("button", name="Menu")
            await toggle.click()
            await expect(page.get_by_role("link", name="Projects")).to_be_visible()
            assert await toggle.get_attribute("aria-expanded") == "true"
            await toggle.click()
        # The last field of the matrix: on a phone the panel below would be far away.
        cell = page.locator(f"#cell-{plan.share.id}-{plan.f('share.channel')}-iOS")
        await cell.focus()
        await page.keyboard.press("Enter")
        await expect(page.locator("#inspector form.override")).to_be_visible(timeout=WAIT_MS)
        await expect(page.locator("#inspector h3")).to_be_in_viewport()
        assert await focused_inside(page, "#inspector-panel")
        panel = await page.locator("#inspector-panel").bounding_box()
        matrix = await page.locator("#matrix").bounding_box()
        if device == "laptop":
            assert panel["x"] >= matrix["x"] + matrix["width"], (panel, matrix)  # beside
        else:
            assert panel["y"] + panel["height"] <= height + 1, panel  # a sheet over it
        # Its values table stays inside it (it spilled past the panel's edge on a laptop).
        values = await page.locator("#cell-values").bounding_box()
        inside = await page.locator("#cell-values").locator("..").bounding_box()
        assert values["x"] + values["width"] <= inside["x"] + inside["width"] + 1, (values, inside)
        await shoot(page, f"session-panel-{device}", full_page=False)
        # Tab goes on into the override form, Escape gives the focus back to the cell.
        await page.keyboard.press("Tab")
        assert await focused_inside(page, "#inspector-panel")
        await page.keyboard.press("Escape")
        assert await page.evaluate("document.activeElement.id") == await cell.get_attribute("id")
        await no_sideways_scroll(page)
    finally:
        await context.close()
