"""Issue 15, findings 6 and 7 (and 5's stream cap): logins end when they should, streams too.

Against a real `trackmaster serve` process with the demo session live:
- a cookie replayed after logout, or kept across disabling and re-enabling
  its user, is refused; a new password ends other browsers' logins and
  revokes the user's API tokens; "sign out everywhere" ends all of them;
  tokens can expire;
- an open live stream ends within about one ping (SSE_PING_S) of its user
  being disabled or signing out;
- one user holds at most SSE_STREAMS_PER_USER streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.access import PASSWORD, login
from tests.support.process_server import ServerProcess, server_process

PING_S = 0.5
STREAMS_PER_USER = 3


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with server_process(
        Path(tmp_path_factory.mktemp("sessions")),
        demo=True,
        SSE_PING_S=str(PING_S),
        SSE_STREAMS_PER_USER=str(STREAMS_PER_USER),
    ) as running:
        yield running


@pytest.fixture(scope="module")
def admin_token(server: ServerProcess) -> str:
    return server.cli("create-token", "ada", "--name", "admin").strip()


_made: set[str] = set()


def _user(server: ServerProcess, name: str, role: str = "tester") -> int:
    if name not in _made:
        server.cli("create-user", name, "--role", role, "--password-stdin", stdin=PASSWORD)
        _made.add(name)
    [(user_id,)] = server.sql("SELECT id FROM user WHERE username = ?", name)
    return user_id


@pytest.fixture
async def browser(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        yield http


async def _signed_in(server: ServerProcess, http: httpx.AsyncClient, name: str) -> str:
    _user(server, name)
    return await login(http, name)


async def _cookie_works(server: ServerProcess, cookie: str) -> bool:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        answer = await http.get("/", headers={"Cookie": f"tm_session={cookie}"})
    return answer.status_code == 200


async def _set_enabled(server: ServerProcess, token: str, user_id: int, enabled: bool) -> None:
    form = {"role": "tester", "enabled_state": "1", **({} if enabled else {"disabled": "on"})}
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        answer = await http.post(
            f"/admin/users/{user_id}", data=form, headers={"Authorization": f"Bearer {token}"}
        )
    assert answer.status_code == 303, answer.text[:300]


async def test_a_cookie_replayed_after_logout_is_refused(
    server: ServerProcess, browser: httpx.AsyncClient
) -> None:
    csrf = await _signed_in(server, browser, "lou")
    cookie = browser.cookies["tm_session"]
    assert await _cookie_works(server, cookie)
    out = await browser.post("/logout", headers={"X-CSRF-Token": csrf, "Origin": server.url})
    assert out.status_code == 303
    assert not await _cookie_works(server, cookie), "the cookie still works after logout"


async def test_reenabling_a_user_does_not_revive_old_cookies(
    server: ServerProcess, browser: httpx.AsyncClient, admin_token: str
) -> None:
    await _signed_in(server, browser, "ren")
    cookie = browser.cookies["tm_session"]
    user_id = _user(server, "ren")
    await _set_enabled(server, admin_token, user_id, enabled=False)
    assert not await _cookie_works(server, cookie)
    await _set_enabled(server, admin_token, user_id, enabled=True)
    assert not await _cookie_works(server, cookie), "re-enabling revived an old login"


async def test_a_new_password_ends_other_logins_and_revokes_tokens(
    server: ServerProcess, browser: httpx.AsyncClient
) -> None:
    csrf = await _signed_in(server, browser, "pat")
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as elsewhere:
        await login(elsewhere, "pat")
        other_cookie = elsewhere.cookies["tm_session"]
    token = server.cli("create-token", "pat", "--name", "ci").strip()
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await browser.get("/api/v3/projects", headers=bearer)).status_code == 200

    page = await browser.get("/account")
    assert page.status_code == 200 and "Change your password" in page.text
    changed = await browser.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "a brand new passphrase",
            "new_password_again": "a brand new passphrase",
            "csrf_token": csrf,
        },
        headers={"Origin": server.url},
    )
    assert changed.status_code == 303, changed.text[:300]
    assert (await browser.get("/account")).status_code == 200, "this browser stays signed in"
    assert not await _cookie_works(server, other_cookie), "another browser's login survived"
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as program:
        assert (await program.get("/api/v3/projects", headers=bearer)).status_code == 401


async def test_a_wrong_current_password_changes_nothing(
    server: ServerProcess, browser: httpx.AsyncClient
) -> None:
    csrf = await _signed_in(server, browser, "wes")
    cookie = browser.cookies["tm_session"]
    refused = await browser.post(
        "/account/password",
        data={
            "current_password": "not my password",
            "new_password": "whatever long enough",
            "new_password_again": "whatever long enough",
            "csrf_token": csrf,
        },
        headers={"Origin": server.url},
    )
    assert refused.status_code == 400
    assert "current password" in refused.text
    assert await _cookie_works(server, cookie)


async def test_sign_out_everywhere_ends_every_login(
    server: ServerProcess, browser: httpx.AsyncClient
) -> None:
    csrf = await _signed_in(server, browser, "eve")
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as elsewhere:
        await login(elsewhere, "eve")
        other_cookie = elsewhere.cookies["tm_session"]
    mine = browser.cookies["tm_session"]
    out = await browser.post(
        "/account/signout-all", data={"csrf_token": csrf}, headers={"Origin": server.url}
    )
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert not await _cookie_works(server, other_cookie)
    assert not await _cookie_works(server, mine)


async def test_api_tokens_can_expire(server: ServerProcess) -> None:
    token = server.cli("create-token", "ada", "--name", "short", "--expires-in", "2s").strip()
    bearer = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.url, timeout=10, headers=bearer) as http:
        assert (await http.get("/api/v3/projects")).status_code == 200
        await asyncio.sleep(2.5)
        late = await http.get("/api/v3/projects")
    assert late.status_code == 401
    assert "expired" in late.json()["msg"]


# --- live streams ---------------------------------------------------------------------------


def _live_session(server: ServerProcess) -> int:
    [(session_id,)] = server.sql("SELECT MAX(id) FROM test_session WHERE status = 'ON'")
    assert session_id, "the demo made no live session"
    return session_id


async def _stream_ends_within(response: httpx.Response, limit_s: float) -> float:
    """Seconds until the server ends the stream; fails after `limit_s`."""
    started = time.monotonic()
    async with asyncio.timeout(limit_s):
        async for _ in response.aiter_raw():
            pass
    return time.monotonic() - started


async def test_a_disabled_users_open_stream_ends_within_a_ping(
    server: ServerProcess, browser: httpx.AsyncClient, admin_token: str
) -> None:
    await _signed_in(server, browser, "sid")
    user_id = _user(server, "sid")
    path = f"/sessions/{_live_session(server)}/stream"
    async with browser.stream("GET", path) as stream:
        assert stream.status_code == 200
        await _set_enabled(server, admin_token, user_id, enabled=False)
        try:
            took_s = await _stream_ends_within(stream, limit_s=10 * PING_S + 3)
        except TimeoutError:
            pytest.fail("the stream kept sending to a disabled user")
    assert took_s <= 4 * PING_S + 2, took_s
    await _set_enabled(server, admin_token, user_id, enabled=True)


async def test_a_stream_ends_when_its_user_signs_out(
    server: ServerProcess, browser: httpx.AsyncClient
) -> None:
    csrf = await _signed_in(server, browser, "sol")
    path = f"/sessions/{_live_session(server)}/stream"
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=10, cookies=browser.cookies) as tab,
        tab.stream("GET", path) as stream,
    ):
        assert stream.status_code == 200
        out = await browser.post("/logout", headers={"X-CSRF-Token": csrf, "Origin": server.url})
        assert out.status_code == 303
        try:
            await _stream_ends_within(stream, limit_s=10 * PING_S + 3)
        except TimeoutError:
            pytest.fail("the stream outlived its user's logout")


async def test_one_user_holds_at_most_the_streams_allowed(
    server: ServerProcess, browser: httpx.AsyncClient
) -> None:
    await _signed_in(server, browser, "max")
    path = f"/sessions/{_live_session(server)}/stream"
    async with contextlib.AsyncExitStack() as held:
        for _ in range(STREAMS_PER_USER):
            stream = await held.enter_async_context(browser.stream("GET", path))
            assert stream.status_code == 200
        over = await browser.get(path)
        assert over.status_code == 429, over.text[:200]
        assert over.headers.get("retry-after")
    # Closed streams give their slots back (the server notices the disconnect shortly).
    for _ in range(50):
        async with browser.stream("GET", path) as again:
            if again.status_code == 200:
                break
        await asyncio.sleep(0.1)
    assert again.status_code == 200
