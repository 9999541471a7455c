"""The embedded default stays one command: on loopback with no user yet, you are admin.

The rule looks at the HOST setting (what the operator asked to bind), so the
test servers (always on 127.0.0.1) show both sides by changing the setting.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.conftest import running_app
from tests.support.access import PASSWORD, csrf_token
from trackmaster.auth import users
from trackmaster.settings import Settings
from web.auth import is_loopback


def test_loopback_addresses_are_recognised() -> None:
    for host in ("127.0.0.1", "127.0.0.53", "::1", "[::1]", "localhost"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "10.0.0.5", "192.168.1.2", "example.com", ""):
        assert not is_loopback(host), host


async def test_loopback_without_users_acts_as_local_admin(settings: Settings) -> None:
    async with running_app(settings) as server, httpx.AsyncClient(base_url=server.url) as http:
        page = await http.get("/admin/users")
        assert page.status_code == 200
        assert "local · admin" in page.text
        # A program without cookies or Origin needs no CSRF token: nothing to forge.
        made = await http.post(
            "/admin/users", data={"username": "ada", "password": PASSWORD, "role": "admin"}
        )
        assert made.status_code == 303, made.text[:300]


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::"])
async def test_any_other_bind_requires_login(settings: Settings, host: str) -> None:
    async with (
        running_app(settings.replace(host=host)) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        assert (await http.get("/", headers={"accept": "text/html"})).status_code == 303
        assert (await http.get("/admin/users")).status_code == 303
        assert (await http.post("/admin/users", data={"username": "x"})).status_code == 401
        assert (await http.get("/ping")).status_code == 200


async def test_local_admin_ends_when_the_first_user_exists(settings: Settings) -> None:
    async with running_app(settings) as server, httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.get("/admin/users")).status_code == 200
        # Made outside the web process (as `trackmaster create-user` does).
        await users.create_user("ada", PASSWORD, "admin", actor="cli")
        for _ in range(60):  # the web process caches "no users yet" for a moment
            status = (await http.get("/admin/users")).status_code
            if status != 200:
                break
            await asyncio.sleep(0.1)
        assert status == 303
        assert (await http.post("/admin/users", data={"username": "x"})).status_code == 401


async def test_creating_the_first_user_in_the_browser_ends_local_mode_at_once(
    settings: Settings,
) -> None:
    async with running_app(settings) as server, httpx.AsyncClient(base_url=server.url) as http:
        token = await csrf_token(http, "/admin/users")
        made = await http.post(
            "/admin/users",
            data={"username": "ada", "password": PASSWORD, "role": "admin", "csrf_token": token},
            headers={"Origin": server.url},
        )
        assert made.status_code == 303
        assert (await http.get("/admin/users")).status_code == 303


async def test_a_cross_site_form_cannot_use_local_admin(settings: Settings) -> None:
    """A page on another site posting to the local app: the browser adds Origin; refused."""
    async with running_app(settings) as server, httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post(
            "/admin/users",
            data={"username": "mallory", "password": PASSWORD, "role": "admin"},
            headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        )
        assert response.status_code == 403
        assert "CSRF" in response.text
        assert not await users.users_exist()


@pytest.mark.parametrize(
    "header",
    [
        {"X-Forwarded-For": "203.0.113.9"},
        {"Forwarded": "for=203.0.113.9"},
        {"X-Real-IP": "1.2.3.4"},
    ],
)
async def test_requests_through_a_proxy_are_never_local(settings: Settings, header) -> None:
    """A reverse proxy on the same machine must not make the internet 'local'."""
    async with running_app(settings) as server, httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.get("/admin/users")).status_code == 200  # truly local
        page = await http.get("/admin/users", headers=header)
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        api = await http.post("/api/v3/realTime/stop", params={"record": 1}, headers=header)
        assert api.status_code == 401


async def test_health_and_assets_need_no_identity(settings: Settings) -> None:
    async with (
        running_app(settings.replace(host="0.0.0.0")) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        for path in ("/ping", "/healthz", "/static/app.css"):
            response = await http.get(path, headers={"Cookie": "tm_session=forged"})
            assert response.status_code == 200, path
            assert "set-cookie" not in response.headers  # untouched by the auth middleware
            assert response.headers["x-content-type-options"] == "nosniff"
