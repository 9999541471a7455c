"""The plain forms of the pages, in Chromium with JavaScript off: each does what its
htmx twin does, lands on a page (never JSON), and a destructive one asks on a confirm page
first. The unmatched panel's buttons are in tests/test_pages_unmatched.py, Stop/Clear/
Reset/Delete account/Rotate key in tests/test_pages_confirm.py, the caught-event filter in
tests/test_pages_logs.py, project create/rename in tests/test_pages_projects_admin.py.

Each case checks the database as well as the page.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.support.access import PASSWORD, sign_in_page
from tests.support.realtime import make_plan, play_log
from trackmaster.auth import users
from trackmaster.models import (
    ApiToken,
    Event,
    Project,
    RejudgeRun,
    SessionEvent,
    ShareLink,
    Story,
    TestSession,
    User,
    VerdictOverride,
)

pytestmark = pytest.mark.browser
EXAMPLE_PLAN = Path(__file__).resolve().parent.parent / "examples" / "plan.yaml"


@pytest.fixture
async def plan(db):
    return await make_plan()


@pytest.fixture
async def no_js(browser):
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    yield page
    await context.close()


async def started(live_server, plan, *logs) -> int:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=10) as http:
        answer = await http.post(
            "/api/v3/realTime/start",
            json={"project": plan.project.id, "accounts": ["alice-42"], "events": [plan.play.id]},
        )
        assert answer.status_code == 201, answer.text
        if logs:
            sent = await http.post(
                "/collect", json=list(logs), headers={"X-Write-Key": plan.project.write_key}
            )
            assert sent.status_code == 200, sent.text
    return answer.json()["id"]


async def test_override_a_cell_from_its_own_page(no_js: Page, live_server, plan) -> None:
    sid = await started(live_server, plan, play_log(page="nowhere", user_id="alice-42"))
    field = plan.f("event_info.current_page_name")
    await no_js.goto(f"{live_server.url}/sessions/{sid}")
    cell = no_js.locator(f"#cell-{plan.play.id}-{field}-iOS")
    await expect(cell).to_have_attribute("data-verdict", "FAIL")
    await cell.click()  # a plain link: the cell's page, with the override form
    await no_js.wait_for_url(re.compile(rf"/sessions/{sid}/cells/{plan.play.id}/{field}/iOS$"))
    form = no_js.locator("form.override")
    await form.get_by_label("Verdict").select_option("SUCCESS")
    await form.get_by_label("Reason").fill("checked by hand on build 2.31")
    await form.get_by_role("button", name=re.compile("^Override")).click()
    # Back on the cell's page, which now lists the override with who and when.
    await no_js.wait_for_url(re.compile(rf"/sessions/{sid}/cells/{plan.play.id}/{field}/iOS$"))
    await expect(no_js.locator("#cell-overrides")).to_contain_text("checked by hand on build 2.31")
    await expect(no_js.locator("#cell-overrides time")).to_have_count(1)
    override = await VerdictOverride.get(session_id=sid)
    assert (override.verdict, override.platform) == ("SUCCESS", "iOS")
    await no_js.get_by_role("link", name=f"← Session #{sid}").click()
    await expect(no_js.locator(f"#cell-{plan.play.id}-{field}-iOS")).to_have_attribute(
        "data-verdict", "SUCCESS"
    )


async def test_import_a_plan_file_and_see_its_problems(no_js: Page, live_server, db, tmp_path):
    project = await Project.create(name="files app")
    await no_js.goto(f"{live_server.url}/projects/{project.id}")
    await no_js.get_by_label("Plan file").set_input_files(str(EXAMPLE_PLAN))
    await no_js.get_by_role("button", name="Import").click()
    await no_js.wait_for_url(re.compile(rf"/projects/{project.id}#sync-history$"))
    await expect(no_js.locator("#stories")).to_contain_text("Playback")
    await expect(no_js.locator("#sync-history")).to_contain_text("ok")
    assert await Story.filter(project=project).count() >= 1
    stories = await Story.filter(project=project).count()

    # A file with problems: every one listed with its line, and nothing changes.
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "format: trackmaster-plan/1\nstories:\n  - events: []\n  - name: Playback\n"
        "    events:\n      - name: play_click\n      - name: play_click\n"
    )
    await no_js.get_by_label("Plan file").set_input_files(str(broken))
    await no_js.get_by_role("button", name="Import").click()
    result = no_js.locator("#import-result")
    await expect(result).to_contain_text("line 3")
    await expect(result).to_contain_text("line 7")
    assert await Story.filter(project=project).count() == stories
    assert await Event.filter(story__project=project, name="play_click").count() == 1


async def test_start_a_session_change_it_and_rejudge(no_js: Page, live_server, plan) -> None:
    await no_js.goto(f"{live_server.url}/projects/{plan.project.id}/sessions/new")
    await no_js.get_by_label("Name (optional)").fill("no script")
    await no_js.get_by_role("checkbox", name=re.compile("alice-42")).check()
    await no_js.locator(f"input[name=events][value='{plan.play.id}']").check()
    await no_js.get_by_role("button", name="Start the session").click()
    await no_js.wait_for_url(re.compile(r"/sessions/\d+$"))
    session = await TestSession.get(name="no script")
    assert session.status == "ON"
    await expect(no_js.locator(f"#event-{plan.play.id}")).to_be_visible()

    # The same chooser changes the live session: the search story's events are added.
    await no_js.goto(f"{live_server.url}/sessions/{session.id}/edit")
    await no_js.locator(f"input[name=stories][value='{plan.search_story.id}']").check()
    await no_js.get_by_role("button", name="Save changes").click()
    await no_js.wait_for_url(re.compile(rf"/sessions/{session.id}$"))
    await expect(no_js.locator(f"#event-{plan.search.id}")).to_be_visible()
    assert await SessionEvent.filter(session_id=session.id, event_id=plan.search.id).exists()

    await no_js.get_by_role("button", name="Re-judge").click()
    await no_js.wait_for_url(re.compile(rf"/sessions/{session.id}$"))
    assert await RejudgeRun.filter(session_id=session.id).count() == 1


async def test_share_links_made_and_revoked_after_asking(no_js: Page, live_server, plan) -> None:
    sid = await started(live_server, plan)
    await no_js.goto(f"{live_server.url}/sessions/{sid}/share")
    await no_js.get_by_label("Note").fill("for the Android team")
    await no_js.get_by_role("button", name="Create a share link").click()
    url = await no_js.locator("#new-link-url").inner_text()
    assert url.startswith(f"{live_server.url}/share/")
    link = await ShareLink.get(session_id=sid)

    await no_js.get_by_role("button", name="Revoke").click()
    await expect(no_js.locator("h1")).to_have_text(
        f"Revoke share link #{link.id} (for the Android team) of session #{sid}?"
    )
    await no_js.get_by_role("link", name="Cancel").click()
    await no_js.wait_for_url(re.compile(rf"/sessions/{sid}/share$"))
    assert (await ShareLink.get(id=link.id)).revoked_at is None
    await no_js.get_by_role("button", name="Revoke").click()
    await no_js.get_by_role("button", name="Revoke the link").click()
    await no_js.wait_for_url(re.compile(rf"/sessions/{sid}/share$"))
    await expect(no_js.locator("#links")).to_contain_text("revoked")
    assert (await ShareLink.get(id=link.id)).revoked_at is not None


async def test_admin_forms_tokens_and_users(no_js: Page, live_server, db) -> None:
    await users.create_user("ada", PASSWORD, "admin", actor="test")
    await sign_in_page(no_js, live_server.url, "ada")

    await no_js.goto(f"{live_server.url}/admin/tokens")
    await no_js.get_by_label("Name").fill("ci pipeline")
    await no_js.get_by_role("button", name="Create").click()
    await expect(no_js.locator("#new-token code.token")).to_have_text(re.compile(r"\S{20,}"))
    token = await ApiToken.get(name="ci pipeline")
    await no_js.get_by_role("button", name="Revoke").click()
    await expect(no_js.locator("h1")).to_have_text("Revoke API token ci pipeline of ada?")
    await no_js.get_by_role("link", name="Cancel").click()
    assert (await ApiToken.get(id=token.id)).revoked_at is None
    await no_js.get_by_role("button", name="Revoke").click()
    await no_js.get_by_role("button", name="Revoke the token").click()
    await expect(no_js.locator("#tokens")).to_contain_text("revoked")
    assert (await ApiToken.get(id=token.id)).revoked_at is not None

    await no_js.goto(f"{live_server.url}/admin/users")
    form = no_js.locator("#new-user")
    await form.get_by_label("Username").fill("tess")
    await form.get_by_label("Password").fill(PASSWORD)
    await form.get_by_label("Role").select_option("tester")
    await form.get_by_role("button", name="Create").click()
    await expect(no_js.locator("main table")).to_contain_text("tess")
    tess = await User.get(username="tess")
    assert tess.role == "tester"
    await no_js.get_by_label("Role of tess").select_option("viewer")
    await no_js.locator(f"button[form='user-{tess.id}']").click()
    await expect(no_js.get_by_label("Role of tess")).to_have_value("viewer")
    assert (await User.get(id=tess.id)).role == "viewer"
