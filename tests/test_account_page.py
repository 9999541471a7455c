"""The self-service account page in a real browser: change your password, sign out everywhere.

The page works without JavaScript (plain forms with the CSRF field) and keeps
the browser that changed the password signed in; the old password stops working.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import running_app
from tests.support.access import PASSWORD, create_personas, secured
from tests.support.servers import RunningServer
from trackmaster.auth.users import authenticate
from trackmaster.settings import Settings

NEW_PASSWORD = "a different long passphrase"


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    await create_personas()
    async with running_app(secured(settings)) as running:
        yield running


async def _sign_in(page, server: RunningServer, name: str, password: str = PASSWORD) -> None:
    await page.goto(server.url + "/account")
    await page.fill("input[name=username]", name)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/account")


async def test_a_user_changes_their_password_in_the_browser(
    db, server: RunningServer, page
) -> None:
    await _sign_in(page, server, "tess")
    await page.click("a[href='/account']")  # the name in the header leads here
    form = page.locator("form#password-form")
    await form.locator("input[name=current_password]").fill(PASSWORD)
    await form.locator("input[name=new_password]").fill(NEW_PASSWORD)
    await form.locator("input[name=new_password_again]").fill(NEW_PASSWORD)
    await form.locator("button[type=submit]").click()
    await page.wait_for_url("**/account?changed=1")
    assert await page.locator(".alert-ok", has_text="Password changed").count() == 1
    assert await authenticate("tess", PASSWORD) is None
    assert await authenticate("tess", NEW_PASSWORD) is not None


async def test_a_mismatched_new_password_is_shown_next_to_the_form(
    db, server: RunningServer, page
) -> None:
    await _sign_in(page, server, "vera")
    form = page.locator("form#password-form")
    await form.locator("input[name=current_password]").fill(PASSWORD)
    await form.locator("input[name=new_password]").fill(NEW_PASSWORD)
    await form.locator("input[name=new_password_again]").fill(NEW_PASSWORD + "!")
    await form.locator("button[type=submit]").click()
    assert await page.locator(".alert-error", has_text="does not match").count() == 1
    assert await authenticate("vera", PASSWORD) is not None


async def test_sign_out_everywhere_from_the_browser(db, server: RunningServer, page) -> None:
    await _sign_in(page, server, "ada")
    await page.click("form#signout-all-form button")
    await page.wait_for_url("**/login")
    await page.goto(server.url + "/account")
    assert "/login" in page.url
