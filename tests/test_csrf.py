"""CSRF: a browser's unsafe request must carry the page's token and come from our origin."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import running_app
from tests.support.access import PASSWORD, browser_for, create_personas, csrf_token, secured
from tests.support.servers import RunningServer
from trackmaster.models import User
from trackmaster.settings import Settings

NEW_USER = {"username": "newbie", "password": PASSWORD, "role": "viewer"}


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    await create_personas()
    async with running_app(secured(settings)) as running:
        yield running


async def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 403, (response.status_code, response.text[:300])
    assert "CSRF" in response.text
    assert not await User.filter(username="newbie").exists()


async def test_every_page_hands_out_the_token_on_body(db, server: RunningServer) -> None:
    async with browser_for(server, "ada") as ada:
        for path in ("/", "/admin/users", "/admin/tokens", "/admin/audit"):
            assert await csrf_token(ada.http, path) == ada.token


async def test_without_token_refused(db, server: RunningServer) -> None:
    async with browser_for(server, "ada") as ada:
        await assert_refused(await ada.http.post("/admin/users", data=NEW_USER))
        await assert_refused(await ada.http.post("/admin/users", data=NEW_USER, headers=ada.origin))


async def test_wrong_or_foreign_token_refused(db, server: RunningServer) -> None:
    async with browser_for(server, "ada") as ada, browser_for(server, "tess") as tess:
        for token in ("0" * 64, "", tess.token, ada.token[:-1]):
            response = await ada.http.post(
                "/admin/users", data=NEW_USER, headers={**ada.origin, "X-CSRF-Token": token}
            )
            await assert_refused(response)


async def test_cross_origin_refused_even_with_the_token(db, server: RunningServer) -> None:
    async with browser_for(server, "ada") as ada:
        for headers in (
            {"Origin": "https://evil.example"},
            {"Origin": "null"},
            {"Origin": server.url.replace("127.0.0.1", "localhost")},
            {"Sec-Fetch-Site": "cross-site"},
        ):
            response = await ada.http.post(
                "/admin/users", data=NEW_USER, headers={"X-CSRF-Token": ada.token, **headers}
            )
            await assert_refused(response)


async def test_header_token_is_accepted(db, server: RunningServer) -> None:
    async with browser_for(server, "ada") as ada:
        response = await ada.http.post(
            "/admin/users", data=NEW_USER, headers=ada.headers(**{"HX-Request": "true"})
        )
        assert response.status_code == 303
    assert await User.filter(username="newbie", role="viewer").exists()


async def test_form_field_token_is_accepted_and_the_handler_still_reads_the_form(
    db, server: RunningServer
) -> None:
    async with browser_for(server, "ada") as ada:
        response = await ada.http.post(
            "/admin/users", data={**NEW_USER, "csrf_token": ada.token}, headers=ada.origin
        )
        assert response.status_code == 303, response.text[:300]
        # multipart, as a form with a file input sends it
        response = await ada.http.post(
            "/admin/users",
            data={**NEW_USER, "username": "multi", "csrf_token": ada.token},
            files={"unused": ("x.txt", b"hello", "text/plain")},
            headers=ada.origin,
        )
        assert response.status_code == 303, response.text[:300]
    # The body the middleware read was replayed whole: the user got every field.
    assert await User.filter(username="newbie", role="viewer").exists()
    assert await User.filter(username="multi", role="viewer").exists()


async def test_a_huge_form_is_refused_with_413(db, server: RunningServer) -> None:
    async with browser_for(server, "ada") as ada:
        limit = server.server.config.app.state.guard.form_limit_bytes
        response = await ada.http.post(
            "/admin/users",
            content=b"username=newbie&padding=" + b"x" * (limit + 10),
            headers={**ada.origin, "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 413
        assert not await User.filter(username="newbie").exists()


async def test_login_form_is_protected_too(db, server: RunningServer) -> None:
    """Login CSRF: another site must not sign a victim in as the attacker."""
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post(
            "/login",
            data={"username": "ada", "password": PASSWORD},
            headers={"Origin": server.url},
        )
        assert response.status_code == 403
        assert "tm_session" not in http.cookies


async def test_logout_needs_the_token(db, server: RunningServer) -> None:
    async with browser_for(server, "tess") as tess:
        refused = await tess.http.post("/logout", headers=tess.origin)
        assert refused.status_code == 403
        assert (await tess.http.get("/")).status_code == 200
        done = await tess.http.post("/logout", headers=tess.headers())
        assert done.status_code == 303


@pytest.mark.browser
async def test_a_real_browser_signs_in_and_uses_forms(db, server: RunningServer, page) -> None:
    """No JavaScript needed: the forms carry the token in a hidden field."""
    await page.goto(server.url + "/admin/users")
    assert "/login" in page.url
    await page.fill("input[name=username]", "ada")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/admin/users")
    form = page.locator("form#new-user")
    await form.locator("input[name=username]").fill("newbie")
    await form.locator("input[name=password]").fill(PASSWORD)
    await form.locator("select[name=role]").select_option("viewer")
    await form.locator("button[type=submit]").click()
    await page.wait_for_url("**/admin/users?notice=*")
    assert await page.locator("#users td", has_text="newbie").count() == 1
    await page.click("form.logout button")
    await page.wait_for_url("**/login")
    assert await User.filter(username="newbie").exists()
