"""An action refreshes everything it changes on the page, without a reload (Chromium).

Import: the story list, its counts and the sync history. Jet sync: the stories too.
On a stopped session (no stream to rely on): Reset verdicts and an override refresh the
cells and the counts, Clear logs the list and the counts.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.fakes.jet import FakeJet
from tests.support.realtime import make_plan, play_log
from tests.test_pages_plan import jet_project
from trackmaster.models import Project

pytestmark = pytest.mark.browser
WAIT_MS = 10_000
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "plan.yaml"


async def mark(page: Page) -> None:
    await page.evaluate("window.__not_reloaded = true")


async def not_reloaded(page: Page) -> None:
    assert await page.evaluate("window.__not_reloaded === true"), "the page was reloaded"


async def test_import_refreshes_stories_counts_and_history(page: Page, live_server, db) -> None:
    project = await Project.create(name="files app")
    await page.goto(f"{live_server.url}/projects/{project.id}")
    await expect(page.locator("#stories")).to_contain_text("No story in this plan yet")
    await mark(page)
    await page.set_input_files("#plan-import input[type=file]", str(EXAMPLE))
    await page.locator("#plan-import button", has_text="Import").click()
    await expect(page.locator("#import-result")).to_contain_text("Imported", timeout=WAIT_MS)
    # The stories, their event counts and the history changed with it, on this page.
    await expect(page.locator("#stories tbody tr").first).to_be_visible()
    await expect(page.locator("#stories")).to_contain_text("Playback")
    await expect(page.locator("#stories")).not_to_contain_text("No story in this plan yet")
    await expect(page.locator("#stories .pager")).to_contain_text("in all")
    await expect(page.locator("#sync-history .sync-run")).to_have_count(1)
    await not_reloaded(page)


async def test_jet_sync_refreshes_the_stories(page: Page, jet_server, fake_jet: FakeJet) -> None:
    project, _ = await jet_project(fake_jet)
    await page.goto(f"{jet_server.url}/projects/{project.id}")
    await mark(page)
    await page.click(f"#sync-button-{project.id}")
    await expect(page.locator(f"#sync-status-{project.id} .sync-summary")).to_contain_text(
        "2 stories created", timeout=WAIT_MS
    )
    await expect(page.locator("#stories tbody tr")).to_have_count(2, timeout=WAIT_MS)
    await not_reloaded(page)


async def test_actions_on_a_stopped_session_refresh_cells_and_counts(
    page: Page, live_server, db
) -> None:
    plan = await make_plan()
    async with httpx.AsyncClient(base_url=live_server.url, timeout=10) as http:
        started = await http.post(
            "/api/v3/realTime/start",
            json={"project": plan.project.id, "accounts": ["alice-42"], "events": [plan.play.id]},
        )
        sid = started.json()["id"]
        sent = await http.post(
            "/collect",
            json=[play_log(page="nowhere", user_id="alice-42")],
            headers={"X-Write-Key": plan.project.write_key},
        )
        assert sent.status_code == 200, sent.text
        stopped = await http.post("/api/v3/realTime/stop", params={"record": sid})
        assert stopped.status_code == 200, stopped.text
    await page.goto(f"{live_server.url}/sessions/{sid}")
    await expect(page.locator("#live")).to_have_text("stopped")
    await mark(page)
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    field = plan.f("event_info.current_page_name")
    cell = page.locator(f"#cell-{plan.play.id}-{field}-iOS")
    await expect(cell).to_have_attribute("data-verdict", "FAIL")
    fail_count = page.locator("#counts [data-verdict='FAIL']")
    await expect(fail_count).to_be_visible()

    # Override one cell: the cell and the counts change here, with no stream to bring them.
    await cell.click()
    form = page.locator("#inspector form.override")
    await form.locator("select[name=verdict]").select_option("SUCCESS")
    await form.locator("input[name=reason]").fill("checked by hand")
    await form.locator("button[type=submit]").click()
    await expect(cell).to_have_attribute("data-verdict", "SUCCESS", timeout=WAIT_MS)
    # The panel keeps the value seen, its link to the event, and says who set it, when, why.
    await expect(page.locator("#inspector #cell-values")).to_contain_text("nowhere")
    await expect(page.locator("#inspector #cell-values a").first).to_have_attribute(
        "href", re.compile(rf"/sessions/{sid}/logs/\d+")
    )
    await expect(page.locator("#inspector #cell-overrides")).to_contain_text("checked by hand")
    await expect(page.locator("#inspector #cell-overrides time")).to_have_count(1)
    counts_after_override = await page.inner_text("#counts")

    # Reset the event: every cell of it back to UNTESTED, and the counts follow.
    await page.locator(f"#event-{plan.play.id} button", has_text="Reset verdicts").click()
    await expect(
        page.locator(f"#event-{plan.play.id} .cell[data-verdict='SUCCESS']")
    ).to_have_count(0, timeout=WAIT_MS)
    await expect(page.locator("#counts")).not_to_have_text(counts_after_override)

    # Clear the caught events: the list empties and the counts say so.
    await page.get_by_role("button", name="Clear logs").click()
    await expect(page.locator("#log-list article.log")).to_have_count(0, timeout=WAIT_MS)
    await expect(page.locator("#counts")).to_contain_text("cleared from the list")
    await not_reloaded(page)


async def test_import_lists_every_problem_with_its_line(page: Page, live_server, db) -> None:
    project = await Project.create(name="files app")
    bad = (
        "format: trackmaster-plan/1\n"
        "stories:\n"
        "  - name: A\n"
        "    events:\n"
        "      - name: e1\n"
        "        fields:\n"
        "          - key: x\n"
        "          - key: x\n"
        "      - name: e1\n"
        "  - events: []\n"
        "  - name: A\n"
    )
    await page.goto(f"{live_server.url}/projects/{project.id}")
    await page.set_input_files(
        "#plan-import input[type=file]",
        files=[{"name": "plan.yaml", "mimeType": "application/yaml", "buffer": bad.encode()}],
    )
    await page.locator("#plan-import button", has_text="Import").click()
    items = page.locator("#import-result li")
    await expect(items).to_have_count(4, timeout=WAIT_MS)
    assert await items.all_inner_texts() == [
        "line 10 stories[1].name: is missing",
        "line 11: story 'A' appears twice",
        "line 9: story 'A': event 'e1' appears twice",
        "line 8: story 'A', event 'e1': field 'x' appears twice",
    ]
    await expect(page.locator("#import-result")).not_to_contain_text("{")
