"""Plan pages in headless Chromium (sync button, story page, accounts) and without JavaScript."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.fakes.jet import FakeJet, seed_realistic_plan
from tests.support.html import parse_tree
from trackmaster.models import Account, Project, Story, SyncRun
from trackmaster.plan.demo import ensure_demo

WAIT_MS = 10_000


def tags_of(html: str) -> list[tuple[str, dict]]:
    return [(e.tag, e.attrs) for e in parse_tree(html).iter() if e.tag != "#document"]


async def jet_project(fake_jet: FakeJet, stories: int = 0) -> tuple[Project, dict]:
    plan = seed_realistic_plan(fake_jet)
    for n in range(stories):
        fake_jet.add_story(plan["project"]["id"], f"extra story {n}")
    project = await Project.create(name="视频 App", jet_id=plan["project"]["id"])
    return project, plan


@pytest.mark.browser
async def test_sync_button_shows_progress_then_the_diff(
    page: Page, jet_server, fake_jet: FakeJet
) -> None:
    project, _ = await jet_project(fake_jet)
    # Slow story details, so that the running state and its progress are visible.
    fake_jet.delay("story", 0.4, times=2)
    await page.goto(f"{jet_server.url}/projects/{project.id}")
    await page.click(f"#sync-button-{project.id}")
    status = page.locator(f"#sync-status-{project.id}")
    await expect(status).to_contain_text("Syncing run", timeout=WAIT_MS)
    await expect(status.locator(".sync-summary")).to_contain_text(
        "2 stories created", timeout=WAIT_MS
    )
    # The history below was refreshed out of band with the new run.
    await expect(page.locator("#sync-history .sync-run")).to_have_count(1)
    await expect(page.locator("#sync-history")).to_contain_text("2 stories created")
    # The stories table shows the synced stories after a search, without a reload.
    await page.fill("#story-search", "搜索")
    await expect(page.locator("#stories")).to_contain_text("搜索 Search", timeout=WAIT_MS)
    await expect(page.locator("#stories tbody tr")).to_have_count(1)
    assert (await SyncRun.get(project=project)).status == "ok"


@pytest.mark.browser
async def test_a_failed_sync_says_why(page: Page, jet_server, fake_jet: FakeJet) -> None:
    project, _ = await jet_project(fake_jet)
    fake_jet.fail("enum_types", 500, times=None)
    await page.goto(f"{jet_server.url}/projects/{project.id}")
    await page.click(f"#sync-button-{project.id}")
    status = page.locator(f"#sync-status-{project.id}")
    await expect(status).to_contain_text("failed", timeout=WAIT_MS)
    await expect(status).to_contain_text("enumType")
    await expect(status).to_contain_text("The plan was left as it was.")


@pytest.mark.browser
async def test_story_page_shows_names_and_escapes_html(
    page: Page, jet_server, jet_http: httpx.AsyncClient, fake_jet: FakeJet
) -> None:
    project, plan = await jet_project(fake_jet)
    synced = await jet_http.post("/api/v3/stories/sync", params={"project": project.id})
    assert synced.status_code == 200, synced.text
    story = await Story.get(jet_id=plan["player_story"]["id"])
    await page.goto(f"{jet_server.url}/stories/{story.id}")
    await expect(page.locator("h1")).to_have_text("Player <v2> & friends")
    await expect(page.locator(".story-description")).to_have_text(
        "Play episodes; <script>alert(1)</script>"
    )
    row = page.locator("tr.field", has=page.locator("code", has_text="current_page_name"))
    await expect(row.locator(".badge.value")).to_have_text(["home", "player"])
    await expect(page.locator("tr.field", has_text="share.url")).to_contain_text(
        "https://example.com/a/b"
    )
    await expect(page.locator("tr.field", has_text="page_info.id")).to_contain_text("any value")
    # Nothing the plan said became markup.
    assert await page.locator("b", has_text="play").count() == 0


@pytest.mark.browser
async def test_adding_and_deleting_an_account(page: Page, live_server) -> None:
    project, _ = await ensure_demo()
    await page.goto(f"{live_server.url}/projects/{project.id}")
    accounts = page.locator("#accounts")
    await expect(accounts.locator("tr.account")).to_have_count(2)
    await accounts.locator("input[name=id]").fill("tester-web-1")
    await accounts.locator("input[name=description]").fill("x")
    await accounts.locator("button", has_text="Add account").click()
    error = page.locator("#account-description-error")
    await expect(error).to_contain_text("must be 2 to 50 characters", timeout=WAIT_MS)
    await expect(page.locator("#accounts input[name=description]")).to_have_attribute(
        "aria-invalid", "true"
    )
    # What was typed stays, and nothing was added.
    await expect(page.locator("#accounts input[name=id]")).to_have_value("tester-web-1")
    assert await Account.filter(user_id="tester-web-1").count() == 0

    await page.locator("#accounts input[name=description]").fill("Chromium")
    await page.locator("#accounts button", has_text="Add account").click()
    added = page.locator("#accounts tr.account[data-user-id='tester-web-1']")
    await expect(added).to_contain_text("Chromium", timeout=WAIT_MS)
    await expect(page.locator("#account-description-error")).to_have_count(0)

    page.once("dialog", lambda dialog: dialog.accept())
    await added.locator("button", has_text="Delete").click()
    await expect(page.locator("#accounts tr.account[data-user-id='tester-web-1']")).to_have_count(
        0, timeout=WAIT_MS
    )
    assert await Account.filter(project=project).count() == 2


# --- without JavaScript: every page whole, forms that post and redirect -----------------


async def test_pages_render_whole_and_htmx_gets_fragments(client: httpx.AsyncClient) -> None:
    project, _ = await ensure_demo()
    story = await Story.filter(project=project).first()
    for path in (
        "/projects",
        f"/projects/{project.id}",
        f"/projects/{project.id}/stories?q=play",
        f"/projects/{project.id}/accounts",
        f"/stories/{story.id}",
        "/api/docs",
    ):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert ("html", {"lang": "en"}) in tags_of(response.text), path
    project_page = await client.get(f"/projects/{project.id}")
    start_link = {"class": "button", "id": "start-session"}
    start_link["href"] = f"/projects/{project.id}/sessions/new"
    assert ("a", start_link) in tags_of(project_page.text)
    fragment = await client.get(
        f"/projects/{project.id}/stories?q=search", headers={"HX-Request": "true"}
    )
    tags = [tag for tag, _ in tags_of(fragment.text)]
    assert tags[0] == "section" and "html" not in tags
    assert "Search" in fragment.text and "Playback" not in fragment.text


async def test_forms_work_without_javascript(client: httpx.AsyncClient) -> None:
    project, _ = await ensure_demo()
    added = await client.post(
        f"/projects/{project.id}/accounts", data={"id": "no-js", "description": "plain form"}
    )
    assert added.status_code == 303
    assert added.headers["location"] == f"/projects/{project.id}/accounts"
    refused = await client.post(
        f"/projects/{project.id}/accounts", data={"id": "no-js-2", "description": "x"}
    )
    assert refused.status_code == 400
    assert ("html", {"lang": "en"}) in tags_of(refused.text)
    assert "must be 2 to 50 characters" in refused.text
    account = await Account.get(user_id="no-js")
    # Deleting asks first (a confirm page without JavaScript); nothing is gone until confirmed.
    asked = await client.post(f"/projects/{project.id}/accounts/{account.id}/delete")
    assert asked.status_code == 200 and "Delete test account no-js?" in asked.text
    assert await Account.filter(user_id="no-js").count() == 1
    deleted = await client.post(
        f"/projects/{project.id}/accounts/{account.id}/delete", data={"confirmed": "yes"}
    )
    assert deleted.status_code == 303
    assert await Account.filter(user_id__startswith="no-js").count() == 0
    upload = await client.post(
        f"/projects/{project.id}/plan",
        files={"file": ("plan.yaml", b"stories:\n  - events: []\n", "application/yaml")},
    )
    assert upload.status_code == 400
    assert "stories[0].name" in upload.text and "line 2" in upload.text


async def test_sync_without_javascript_follows_the_run(jet_http: httpx.AsyncClient, fake_jet):
    project, _ = await jet_project(fake_jet)
    fake_jet.delay("enum_types", 1.5, times=1)
    started = await jet_http.post(f"/projects/{project.id}/sync")
    assert started.status_code == 303
    status_url = started.headers["location"]
    running = await jet_http.get(status_url)
    assert running.status_code == 200 and running.headers.get("refresh") == "1"
    assert "Syncing run" in running.text
    for _ in range(100):
        if (await SyncRun.get(project=project)).status != "running":
            break
        await asyncio.sleep(0.05)
    done = await jet_http.get(status_url)
    assert "refresh" not in done.headers and "2 stories created" in done.text
