"""Helpers for access-control tests: users of each role, real logins over HTTP, CSRF tokens.

Persona names follow the roles: vera the viewer, tess the tester, ada the admin.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from tests.support.html import parse_tree
from tests.support.servers import RunningServer
from trackmaster.auth import tokens, users
from trackmaster.settings import Settings

PASSWORD = "correct horse battery staple"
PERSONAS = {"viewer": "vera", "tester": "tess", "admin": "ada"}


@dataclass
class _PageTokens:
    """The CSRF token a page hands out: on <body hx-headers> and in hidden form fields."""

    header_token: str | None
    field_tokens: list[str]


def page_tokens(html: str) -> _PageTokens:
    tree = parse_tree(html)
    body = tree.find("body")
    headers = body.get("hx-headers:inherited") if body is not None else None
    return _PageTokens(
        json.loads(headers).get("X-CSRF-Token") if headers else None,
        [field.get("value") or "" for field in tree.find_all("input", name="csrf_token")],
    )


async def csrf_token(client: httpx.AsyncClient, path: str = "/login") -> str:
    response = await client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    token = page_tokens(response.text).header_token
    assert token, f"{path} hands out no CSRF token"
    return token


def secured(settings: Settings) -> Settings:
    """The same database, but bound (by setting) to every interface: login is required."""
    return settings.replace(host="0.0.0.0")


async def create_personas() -> dict[str, str]:
    """One user per role; returns role -> username."""
    for role, name in PERSONAS.items():
        await users.create_user(name, PASSWORD, role, actor="test")
    return dict(PERSONAS)


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> str:
    """Sign `client` in through the login form; returns the CSRF token of the new session."""
    token = await csrf_token(client, "/login")
    response = await client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": "/"},
        headers={"Origin": str(client.base_url).rstrip("/")},
    )
    assert response.status_code == 303, (response.status_code, response.text[:500])
    return await csrf_token(client, "/")


async def sign_in_page(page, base_url: str, username: str, password: str = PASSWORD) -> None:
    """Sign a Chromium page in through the login form, as a person would (JavaScript or not)."""
    import re

    await page.goto(f"{base_url}/login")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r"/$"))


@dataclass
class Browser:
    """An httpx client that behaves like a signed-in browser: cookies, Origin, CSRF header."""

    http: httpx.AsyncClient
    token: str

    @property
    def origin(self) -> dict[str, str]:
        return {"Origin": str(self.http.base_url).rstrip("/")}

    def headers(self, **extra: str) -> dict[str, str]:
        return {**self.origin, "X-CSRF-Token": self.token, **extra}


@contextlib.asynccontextmanager
async def browser_for(server: RunningServer, username: str | None) -> AsyncIterator[Browser]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        if username is None:
            token = await csrf_token(http, "/login")
        else:
            token = await login(http, username)
        yield Browser(http, token)


async def api_token_for(username: str, name: str = "tests") -> str:
    from trackmaster.models import User

    user = await User.get(username=username)
    return (await tokens.create_token(user, name, actor="test")).plaintext


def run_cli(
    env: dict[str, str], *args: str, stdin: str = "", cwd: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`trackmaster ARGS...` in a child process, as an operator would run it."""
    return subprocess.run(
        [sys.executable, "-m", "trackmaster", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )
