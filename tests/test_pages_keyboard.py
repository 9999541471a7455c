"""The keyboard alone, in Chromium, on every page the link walk reaches (tests/support/walk.py),
in local admin mode and signed in as each role:
Tab first lands on the skip link, which moves the focus to the content; Tab then reaches
every visible control, in the order they are read (the document's order), each with a
visible focus style. On the session page, Enter on a cell moves the focus into the cell
panel, whose override form comes right after that cell: Tab past the panel goes on to the
next cell, Shift+Tab before it back to the cell, Escape back to the cell.
"""

from __future__ import annotations

import itertools
import re

import pytest
from playwright.async_api import Page, expect

from tests.conftest import running_app
from tests.support.access import create_personas, secured, sign_in_page
from tests.support.walk import walk
from tests.test_pages_layout import session_id  # noqa: F401 (a fixture)
from tests.test_pages_walk import seed

pytestmark = [pytest.mark.browser, pytest.mark.slow]
WAIT_MS = 10_000
MAX_TABS = 600  # per page: the demo session page has about 200 controls

# Every control a keyboard user can reach, in document order, numbered in data-kb.
# Radios count once per group (Tab visits the group once); tabindex=-1 is out by design.
_MARK = """() => {
  const seenRadios = new Set();
  const found = [];
  const candidates = document.querySelectorAll(
    "a[href], button, input, select, textarea, summary, [tabindex], [contenteditable]");
  for (const el of candidates) {
    delete el.dataset.kb;
    if (el.matches("input[type=hidden]") || el.disabled || el.closest("[inert]")) continue;
    if (el.getAttribute("tabindex") === "-1") continue;
    if (!el.getClientRects().length || !el.checkVisibility({ visibilityProperty: true })) continue;
    if (el.type === "radio") {
      if (seenRadios.has(el.form?.id + ":" + el.name)) continue;
      seenRadios.add(el.form?.id + ":" + el.name);
    }
    el.dataset.kb = String(found.length);
    found.push(describe(el));
  }
  return found;
  function describe(el) {
    const text = (el.getAttribute("aria-label") || el.textContent || el.value || el.name || "")
      .trim();
    return `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""} "${text.slice(0, 40)}"`;
  }
}"""

# Where the focus is now: its number, what it is, and whether its focus can be seen.
_FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return null;
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
  const ring = style.boxShadow && style.boxShadow !== "none";
  const scroller = el.scrollHeight > el.clientHeight || el.scrollWidth > el.clientWidth;
  return {
    kb: el.dataset.kb ?? null,
    what: `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}.${el.className}`,
    visible: outline || ring,
    scroller,
  };
}"""


async def tab_through(page: Page) -> tuple[list[str], list[dict]]:
    """Marks the controls, then Tabs from the top until the focus leaves the page."""
    controls = await page.evaluate(_MARK)
    await page.evaluate("() => { document.activeElement?.blur(); window.scrollTo(0, 0); }")
    stops: list[dict] = []
    for _ in range(min(len(controls) + 20, MAX_TABS)):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(_FOCUSED)
        if focused is None or (stops and focused["kb"] == "0"):
            break  # past the last control: the focus left the document, or wrapped
        stops.append(focused)
    return controls, stops


def problems_of(url: str, controls: list[str], stops: list[dict]) -> list[str]:
    found: list[str] = []
    order = [int(stop["kb"]) for stop in stops if stop["kb"] is not None]
    if not order or order[0] != 0 or not controls[0].startswith('a "Skip to the content'):
        found.append(f"{url}: the first Tab does not land on the skip link ({stops[:1]})")
    backwards = [(controls[a], controls[b]) for a, b in itertools.pairwise(order) if b <= a]
    if backwards:
        found.append(f"{url}: the focus goes back in the document: {backwards[:3]}")
    missed = [controls[i] for i in range(len(controls)) if i not in set(order)]
    if missed:
        found.append(f"{url}: {len(missed)} controls never reached by Tab: {missed[:5]}")
    for stop in stops:
        if stop["kb"] is None and not stop["scroller"]:
            found.append(f"{url}: Tab stops on {stop['what']}, which is not a control")
        if not stop["visible"]:
            found.append(f"{url}: no visible focus on {stop['what']}")
    return found


async def tab_every_page(page, base: str) -> None:
    found = await walk(page, base)
    assert not found.problems, found.problems
    pages = {found.shape(url): url for url in found.visited}
    assert len(pages) >= 12, sorted(pages)
    problems: list[str] = []
    tabbed = 0
    for url in pages.values():
        await page.goto(url)
        if await page.locator("#live[hx-sse\\:connect]").count():
            # The stream redraws some regions once connected; mark the controls after that.
            await expect(page.locator("#live")).to_contain_text("live ·", timeout=WAIT_MS)
        await page.wait_for_timeout(100)
        controls, stops = await tab_through(page)
        tabbed += len(stops)
        problems += problems_of(url, controls, stops)
    assert not problems, "\n".join(problems)
    assert tabbed > 200, tabbed  # the walk really pressed Tab through the pages


async def test_every_page_tabs_through_every_control_in_order(page, live_server, db) -> None:
    await seed(live_server.url)
    await tab_every_page(page, live_server.url)


@pytest.mark.parametrize("role", ["viewer", "tester", "admin"])
async def test_every_page_of_each_role_by_keyboard(browser, settings, role) -> None:
    """Signed in, each role's pages hold other controls (Sign out, no admin forms...)."""
    async with running_app(settings) as local:
        await seed(local.url)
    names = await create_personas()
    async with running_app(secured(settings)) as server:
        context = await browser.new_context()
        page = await context.new_page()
        try:
            await sign_in_page(page, server.url, names[role])
            await tab_every_page(page, server.url)
        finally:
            await context.close()


async def test_the_skip_link_moves_the_focus_to_the_content(page, live_server, db) -> None:
    await seed(live_server.url)
    for path in ("/", "/projects", "/sessions"):
        await page.goto(live_server.url + path)
        await page.keyboard.press("Tab")
        skip = page.get_by_role("link", name="Skip to the content")
        await expect(skip).to_be_focused()
        await expect(skip).to_be_in_viewport()
        await page.keyboard.press("Enter")
        assert await page.evaluate("document.activeElement.id") == "main"
        # The next Tab is the first control of the content, not of the top bar.
        await page.keyboard.press("Tab")
        assert await page.evaluate(
            "document.getElementById('main').contains(document.activeElement)"
        ), path


async def active_id(page: Page) -> str:
    return await page.evaluate("document.activeElement.id")


async def test_the_cell_panel_comes_right_after_its_cell(
    page,
    live_server,
    session_id,  # noqa: F811 (the fixture)
) -> None:
    sid, plan = session_id
    await page.goto(f"{live_server.url}/sessions/{sid}")
    await expect(page.locator("#live")).to_contain_text("live ·", timeout=WAIT_MS)
    field = plan.f("event_info.current_page_name")
    cell_id = f"cell-{plan.play.id}-{field}-iOS"
    next_id = f"cell-{plan.play.id}-{field}-Android"
    await page.locator(f"#{cell_id}").focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#inspector form.override")).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator("#inspector")).to_be_focused(timeout=WAIT_MS)
    panel = page.locator("#inspector-panel")

    # Tab goes through the panel (the override form among it), then on to the next cell.
    reached: list[str] = []
    for _ in range(40):
        await page.keyboard.press("Tab")
        if not await panel.evaluate("(p) => p.contains(document.activeElement)"):
            break
        reached.append(
            await page.evaluate(
                "document.activeElement.name || document.activeElement.textContent.trim()"
            )
        )
    assert "reason" in reached and "verdict" in reached, reached
    assert await active_id(page) == next_id

    # Shift+Tab from the next cell: back into the panel's last control, then up to the cell.
    await page.keyboard.press("Shift+Tab")
    assert await panel.evaluate("(p) => p.contains(document.activeElement)")
    for _ in range(40):
        await page.keyboard.press("Shift+Tab")
        if not await panel.evaluate("(p) => p.contains(document.activeElement)"):
            break
    assert await active_id(page) == cell_id

    # Escape from inside the panel gives the focus back to the cell. (The old form is still
    # shown: wait for the answer's swap, which moves the focus into the panel.)
    await page.keyboard.press("Enter")
    await expect(page.locator("#inspector")).to_be_focused(timeout=WAIT_MS)
    await page.keyboard.press("Tab")
    await page.keyboard.press("Escape")
    assert await active_id(page) == cell_id
    assert re.search(r"/sessions/\d+$", page.url)
