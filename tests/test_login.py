"""Logging in and out over real HTTP: hashing, wrong passwords, the throttle, cookies, rehash."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from argon2 import PasswordHasher

from tests.conftest import running_app
from tests.support.access import PASSWORD, csrf_token, login, page_tokens, secured
from tests.support.servers import RunningServer
from trackmaster.auth import passwords, users
from trackmaster.auth.throttle import MAX_FAILURES
from trackmaster.models import AuditEntry, User
from trackmaster.settings import Settings


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    async with running_app(secured(settings)) as running:
        yield running


@pytest.fixture
async def http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


async def attempt(
    http: httpx.AsyncClient, username: str, password: str, token: str
) -> httpx.Response:
    """One login form post, as a program would send it (no Origin)."""
    return await http.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )


def test_passwords_are_argon2id_and_verify() -> None:
    stored = passwords.hash_password("s3cret-enough")
    assert stored.startswith("$argon2id$")
    assert passwords.verify_password(stored, "s3cret-enough").ok
    assert not passwords.verify_password(stored, "s3cret-enougH").ok
    assert not passwords.verify_password(None, "anything").ok
    assert not passwords.verify_password(stored, "x" * 5000).ok


async def test_users_are_validated_with_clear_errors(db) -> None:
    with pytest.raises(Exception, match="username: must be 2-150 characters"):
        await users.create_user("<script>", PASSWORD, "tester")
    with pytest.raises(Exception, match="password: must be at least 8 characters"):
        await users.create_user("alice", "short", "tester")
    with pytest.raises(Exception, match="role: must be one of viewer, tester, admin"):
        await users.create_user("alice", PASSWORD, "root")
    await users.create_user("alice", PASSWORD, "tester")
    with pytest.raises(Exception, match="'alice' is taken"):
        await users.create_user("alice", PASSWORD, "viewer")
    assert await User.all().count() == 1


async def test_last_admin_cannot_be_demoted_or_disabled(db) -> None:
    ada = await users.create_user("ada", PASSWORD, "admin")
    with pytest.raises(Exception, match="last enabled admin"):
        await users.set_role(ada.id, "viewer")
    with pytest.raises(Exception, match="last enabled admin"):
        await users.set_disabled(ada.id, True)
    await users.create_user("bob", PASSWORD, "admin")
    await users.set_role(ada.id, "viewer")
    assert (await User.get(id=ada.id)).role == "viewer"


async def test_anonymous_pages_redirect_to_login_and_api_answers_401(
    db, http: httpx.AsyncClient
) -> None:
    await users.create_user("ada", PASSWORD, "admin")
    response = await http.get("/?x=1", headers={"accept": "text/html"})
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2F%3Fx%3D1"
    api = await http.get("/api/v3/realTime/getLog?record=1")
    assert api.status_code == 401
    assert api.json()["code"] == 6 and "Authorization: Bearer" in api.json()["msg"]
    assert api.headers["www-authenticate"].startswith("Bearer")
    htmx = await http.get(
        "/admin/users",
        headers={"HX-Request": "true", "HX-Current-URL": str(http.base_url.join("/admin/users"))},
    )
    assert htmx.status_code == 401 and htmx.headers["hx-redirect"] == "/login?next=%2Fadmin%2Fusers"


async def test_login_sets_a_hardened_session_cookie_and_logout_clears_it(
    db, http: httpx.AsyncClient
) -> None:
    await users.create_user("ada", PASSWORD, "admin")
    token = await csrf_token(http, "/login")
    response = await http.post(
        "/login",
        data={"username": "ada", "password": PASSWORD, "csrf_token": token, "next": "/admin/users"},
        headers={"Origin": str(http.base_url).rstrip("/")},
    )
    assert response.status_code == 303 and response.headers["location"] == "/admin/users"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("tm_session="))
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "samesite", "path", "max-age"} <= flags
    assert "samesite=lax" in cookie.lower()
    assert "secure" not in flags  # plain http here; https requests get Secure
    page = await http.get("/admin/users")
    assert page.status_code == 200 and "ada · admin" in page.text
    assert (await User.get(username="ada")).last_login_at is not None
    assert await AuditEntry.filter(action="login", actor="ada").exists()

    session_token = page_tokens(page.text).header_token
    out = await http.post("/logout", data={"csrf_token": session_token})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert (await http.get("/admin/users")).status_code == 303


async def test_open_redirects_through_next_are_refused(db, http: httpx.AsyncClient) -> None:
    await users.create_user("ada", PASSWORD, "admin")
    token = await csrf_token(http, "/login")
    for evil in ("//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:x"):
        http.cookies.clear()
        token = await csrf_token(http, "/login")
        response = await http.post(
            "/login",
            data={"username": "ada", "password": PASSWORD, "csrf_token": token, "next": evil},
        )
        assert response.status_code == 303 and response.headers["location"] == "/", evil


async def test_wrong_password_and_unknown_user_look_the_same(db, http: httpx.AsyncClient) -> None:
    await users.create_user("ada", PASSWORD, "admin")
    token = await csrf_token(http, "/login")
    wrong = await attempt(http, "ada", "nope-nope", token)
    unknown = await attempt(http, "zed", "nope-nope", token)
    assert wrong.status_code == unknown.status_code == 401
    assert (
        "wrong username or password" in wrong.text and "wrong username or password" in unknown.text
    )
    assert "tm_session" not in http.cookies


async def test_disabled_user_cannot_log_in_and_loses_the_session(
    db, http: httpx.AsyncClient
) -> None:
    await users.create_user("ada", PASSWORD, "admin")
    tess = await users.create_user("tess", PASSWORD, "tester")
    await login(http, "tess")
    assert (await http.get("/")).status_code == 200
    await users.set_disabled(tess.id, True)
    assert (await http.get("/")).status_code == 303  # the cookie no longer counts
    http.cookies.clear()
    token = await csrf_token(http, "/login")
    response = await attempt(http, "tess", PASSWORD, token)
    assert response.status_code == 401


async def test_a_new_password_ends_existing_sessions(db, http: httpx.AsyncClient) -> None:
    ada = await users.create_user("ada", PASSWORD, "admin")
    await login(http, "ada")
    assert (await http.get("/")).status_code == 200
    await users.set_password(ada.id, "another long password")
    assert (await http.get("/")).status_code == 303


async def test_a_forged_or_tampered_cookie_is_ignored(db, http: httpx.AsyncClient) -> None:
    await users.create_user("ada", PASSWORD, "admin")
    await login(http, "ada")
    real = http.cookies["tm_session"]
    http.cookies.clear()
    http.cookies.set("tm_session", real[:-3] + ("AAA" if not real.endswith("AAA") else "BBB"))
    response = await http.get("/")
    assert response.status_code == 303
    assert any(c.startswith("tm_session=;") for c in response.headers.get_list("set-cookie"))


async def test_login_is_throttled_after_repeated_failures(db, http: httpx.AsyncClient) -> None:
    await users.create_user("ada", PASSWORD, "admin")
    token = await csrf_token(http, "/login")
    for _ in range(MAX_FAILURES):
        response = await attempt(http, "ada", "guess-guess", token)
        assert response.status_code == 401
    # Now even the right password is refused until the window ends.
    response = await attempt(http, "ada", PASSWORD, token)
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 60
    assert "too many failed logins" in response.text
    # Another username from the same address is not locked out.
    await users.create_user("tess", PASSWORD, "tester")
    response = await attempt(http, "tess", PASSWORD, token)
    assert response.status_code == 303


async def test_login_throttle_lives_in_redis_when_set(
    settings: Settings, redis_url: str, redis_prefix: str
) -> None:
    await users.create_user("ada", PASSWORD, "admin")
    shared = secured(settings).replace(redis=redis_url, redis_prefix=redis_prefix)
    # Two web processes share one Redis: failures on the first lock the second out.
    async with (
        running_app(shared) as first,
        running_app(shared) as second,
        httpx.AsyncClient(base_url=first.url) as a,
        httpx.AsyncClient(base_url=second.url) as b,
    ):
        token_a = await csrf_token(a, "/login")
        for _ in range(MAX_FAILURES):
            await attempt(a, "ada", "wrong-wrong", token_a)
        token_b = await csrf_token(b, "/login")
        response = await attempt(b, "ada", PASSWORD, token_b)
        assert response.status_code == 429


async def test_outdated_hash_is_upgraded_on_login(db, http: httpx.AsyncClient) -> None:
    ada = await users.create_user("ada", PASSWORD, "admin")
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    ada.password_hash = weak
    await ada.save(update_fields=["password_hash"])
    await login(http, "ada")
    upgraded = (await User.get(id=ada.id)).password_hash
    assert upgraded != weak and upgraded.startswith("$argon2id$")
    assert not PasswordHasher().check_needs_rehash(upgraded)
    # The session made during the upgrade still holds (its fingerprint is of the new hash).
    assert (await http.get("/")).status_code == 200
