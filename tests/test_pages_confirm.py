"""Destructive actions ask first: in Chromium with the dialog dismissed and accepted, and
without JavaScript through the confirm page (cancelled, then confirmed).

Each case checks the database, not only the page: a dismissed dialog or a cancelled
confirm page must change nothing.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import Page, expect

from tests.support.realtime import make_plan
from trackmaster.auth import tokens, users
from trackmaster.models import (
    Account,
    ApiToken,
    EventLog,
    Project,
    ShareLink,
    TestSession,
    VerdictOverride,
)

pytestmark = pytest.mark.browser
WAIT_MS = 10_000
API = "/api/v3/realTime"


@pytest.fixture
async def plan(db):
    return await make_plan()


async def start_session(client, plan) -> int:
    answer = await client.post(
        f"{API}/start",
        json={"project": plan.project.id, "accounts": ["alice-42"], "events": [plan.play.id]},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


async def send_play(client, plan) -> None:
    answer = await client.post(
        "/collect",
        json=[{"event": "play_click", "userId": "alice-42", "$os": "iOS"}],
        headers={"X-Write-Key": plan.project.write_key},
    )
    assert answer.status_code == 200, answer.text


class Dialogs:
    """Answers every dialog of a page as told, and keeps what each one asked."""

    def __init__(self, page: Page) -> None:
        self.messages: list[str] = []
        self.accept = False
        page.on("dialog", self._answer)

    async def _answer(self, dialog) -> None:
        self.messages.append(dialog.message)
        await (dialog.accept() if self.accept else dialog.dismiss())


async def press(page: Page, dialogs: Dialogs, button, *, accept: bool) -> None:
    asked = len(dialogs.messages)
    dialogs.accept = accept
    await button.click()
    for _ in range(100):
        if len(dialogs.messages) > asked:
            break
        await asyncio.sleep(0.05)
    assert len(dialogs.messages) == asked + 1, "no dialog asked"


async def test_session_controls_ask_and_a_dismissed_dialog_changes_nothing(
    page: Page, live_server, client, plan
) -> None:
    session_id = await start_session(client, plan)
    await send_play(client, plan)
    await page.goto(f"{live_server.url}/sessions/{session_id}")
    await expect(page.locator("#live")).to_contain_text("live ·", timeout=WAIT_MS)
    await expect(page.locator("#log-list article.log")).to_have_count(1, timeout=WAIT_MS)
    dialogs = Dialogs(page)

    # Reset verdicts: dismissed, nothing; accepted, a reset is recorded.
    reset = page.locator(f"#event-{plan.play.id} button", has_text="Reset verdicts")
    await press(page, dialogs, reset, accept=False)
    assert "Reset every verdict of play_click" in dialogs.messages[-1]
    await asyncio.sleep(0.3)
    assert await VerdictOverride.filter(kind="reset").count() == 0
    await press(page, dialogs, reset, accept=True)
    await expect(page.locator(f"#event-{plan.play.id} .cell").first).to_have_attribute(
        "data-verdict", "UNTESTED", timeout=WAIT_MS
    )
    assert await VerdictOverride.filter(kind="reset").count() == 1

    # Clear logs: the message names what leaves and what stays.
    clear = page.get_by_role("button", name="Clear logs")
    await press(page, dialogs, clear, accept=False)
    assert "verdicts, counts and coverage stay" in dialogs.messages[-1]
    await asyncio.sleep(0.3)
    assert await EventLog.filter(session_id=session_id, cleared=False).count() == 1
    await expect(page.locator("#log-list article.log")).to_have_count(1)
    await press(page, dialogs, clear, accept=True)
    await expect(page.locator("#log-list article.log")).to_have_count(0, timeout=WAIT_MS)
    assert await EventLog.filter(session_id=session_id, cleared=False).count() == 0

    # Stop: dismissed leaves it live; accepted stops it.
    stop = page.get_by_role("button", name="Stop")
    await press(page, dialogs, stop, accept=False)
    assert f"Stop session #{session_id}?" in dialogs.messages[-1]
    await asyncio.sleep(0.3)
    assert (await TestSession.get(id=session_id)).status == "ON"
    await press(page, dialogs, stop, accept=True)
    await page.wait_for_selector("#status.status-OFF", timeout=WAIT_MS)
    assert (await TestSession.get(id=session_id)).status == "OFF"


async def test_account_key_and_token_ask_in_a_dialog(page: Page, live_server, client, plan) -> None:
    session_id = await start_session(client, plan)  # before a user exists: no login yet
    # A token needs a user, and with a user login is required: sign in as the admin.
    user = await users.create_user("ada", "correct horse battery staple", "admin", actor="test")
    await tokens.create_token(user, "ci pipeline", actor="test")
    await page.goto(f"{live_server.url}/login")
    await page.get_by_label("Username").fill("ada")
    await page.get_by_label("Password").fill("correct horse battery staple")
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r"/$"))
    dialogs = Dialogs(page)

    await page.goto(f"{live_server.url}/projects/{plan.project.id}")
    key = plan.project.write_key
    rotate = page.get_by_role("button", name="Rotate the key")
    await press(page, dialogs, rotate, accept=False)
    assert f"Rotate the write key of {plan.project.name}?" in dialogs.messages[-1]
    await asyncio.sleep(0.3)
    assert (await Project.get(id=plan.project.id)).write_key == key
    await press(page, dialogs, rotate, accept=True)
    await page.wait_for_url(re.compile(r"#write-key$"))
    new_key = (await Project.get(id=plan.project.id)).write_key
    assert new_key != key
    await expect(page.locator("#write-key-value")).to_have_text(new_key)

    delete = page.locator("#accounts tr.account[data-user-id='bob-7'] button", has_text="Delete")
    await press(page, dialogs, delete, accept=False)
    assert "Delete test account bob-7?" in dialogs.messages[-1]
    await asyncio.sleep(0.3)
    assert await Account.filter(user_id="bob-7").count() == 1
    await press(page, dialogs, delete, accept=True)
    await expect(page.locator("#accounts tr.account[data-user-id='bob-7']")).to_have_count(
        0, timeout=WAIT_MS
    )
    assert await Account.filter(user_id="bob-7").count() == 0

    await page.goto(f"{live_server.url}/admin/tokens")
    revoke = page.get_by_role("button", name="Revoke")
    await press(page, dialogs, revoke, accept=False)
    assert "Revoke API token ci pipeline of ada?" in dialogs.messages[-1]
    await asyncio.sleep(0.3)
    assert (await ApiToken.get(name="ci pipeline")).revoked_at is None
    await press(page, dialogs, revoke, accept=True)
    await expect(page.locator("#tokens")).to_contain_text("revoked", timeout=WAIT_MS)
    assert (await ApiToken.get(name="ci pipeline")).revoked_at is not None

    await page.goto(f"{live_server.url}/sessions/{session_id}/share")
    await page.get_by_role("button", name="Create a share link").click()
    link = await ShareLink.get(session_id=session_id)
    revoke = page.locator("#links").get_by_role("button", name="Revoke")
    await press(page, dialogs, revoke, accept=False)
    assert f"Revoke share link #{link.id} of session #{session_id}?" in dialogs.messages[-1]
    await asyncio.sleep(0.3)
    assert (await ShareLink.get(id=link.id)).revoked_at is None
    await press(page, dialogs, revoke, accept=True)
    await expect(page.locator("#links")).to_contain_text("revoked", timeout=WAIT_MS)
    assert (await ShareLink.get(id=link.id)).revoked_at is not None


async def test_without_javascript_a_confirm_page_asks_and_cancel_changes_nothing(
    browser, live_server, client, plan
) -> None:
    session_id = await start_session(client, plan)
    await send_play(client, plan)
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    try:
        await page.goto(f"{live_server.url}/sessions/{session_id}")
        for button, question in (
            ("Reset verdicts", "Reset every verdict of play_click to UNTESTED?"),
            ("Clear logs", f"Clear the caught events of session #{session_id}?"),
            ("Stop", f"Stop session #{session_id}?"),
        ):
            await page.get_by_role("button", name=button, exact=True).click()
            await expect(page.locator("h1")).to_have_text(question)
            await page.get_by_role("link", name="Cancel").click()
            await page.wait_for_url(re.compile(rf"/sessions/{session_id}$"))
        assert await VerdictOverride.filter(kind="reset").count() == 0
        assert await EventLog.filter(session_id=session_id, cleared=False).count() == 1
        assert (await TestSession.get(id=session_id)).status == "ON"

        for button, confirm in (
            ("Reset verdicts", "Reset the verdicts"),
            ("Clear logs", "Clear the caught events"),
            ("Stop", "Stop the session"),
        ):
            await page.get_by_role("button", name=button, exact=True).click()
            await page.get_by_role("button", name=confirm).click()
            await page.wait_for_url(re.compile(rf"/sessions/{session_id}$"))
        assert await VerdictOverride.filter(kind="reset").count() == 1
        assert await EventLog.filter(session_id=session_id, cleared=False).count() == 0
        assert (await TestSession.get(id=session_id)).status == "OFF"
        await expect(page.locator("#status")).to_have_text("OFF")

        # Deleting an account and rotating the key ask the same way (local admin mode).
        await page.goto(f"{live_server.url}/projects/{plan.project.id}")
        await page.locator("#accounts tr.account[data-user-id='bob-7'] button").click()
        await expect(page.locator("h1")).to_have_text("Delete test account bob-7?")
        await page.get_by_role("button", name="Delete the account").click()
        await page.wait_for_url(re.compile(rf"/projects/{plan.project.id}/accounts$"))
        assert await Account.filter(user_id="bob-7").count() == 0
        key = plan.project.write_key
        await page.goto(f"{live_server.url}/projects/{plan.project.id}")
        await page.get_by_role("button", name="Rotate the key").click()
        await page.get_by_role("link", name="Cancel").click()
        assert (await Project.get(id=plan.project.id)).write_key == key
        await page.get_by_role("button", name="Rotate the key").click()
        await page.get_by_role("button", name="Rotate the key").click()
        await page.wait_for_url(re.compile(r"#write-key$"))
        assert (await Project.get(id=plan.project.id)).write_key != key
    finally:
        await context.close()
