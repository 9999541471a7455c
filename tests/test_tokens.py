"""API tokens: shown once, stored hashed, act with their user's role, revocable, CLI-made."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import running_app
from tests.support.access import (
    PASSWORD,
    api_token_for,
    browser_for,
    create_personas,
    run_cli,
    secured,
)
from tests.support.servers import RunningServer
from trackmaster.auth import tokens
from trackmaster.models import ApiToken, User
from trackmaster.settings import Settings

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    await create_personas()
    async with running_app(secured(settings)) as running:
        yield running


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_token_is_random_prefixed_and_only_its_hash_is_stored(db) -> None:
    user = await User.create(username="ci-bot", password_hash="x", role="viewer")
    first = await tokens.create_token(user, "ci")
    second = await tokens.create_token(user, "ci")
    assert first.plaintext.startswith("tm_") and len(first.plaintext) >= 40
    assert first.plaintext != second.plaintext
    stored = await ApiToken.get(id=first.token.id)
    assert stored.token_hash == hashlib.sha256(first.plaintext.encode()).hexdigest()
    assert first.plaintext not in str(await ApiToken.all().values())


async def test_token_names_are_validated(db) -> None:
    user = await User.create(username="ci-bot", password_hash="x", role="viewer")
    with pytest.raises(Exception, match="name: must be 1-100 characters"):
        await tokens.create_token(user, "   ")
    with pytest.raises(Exception, match="name: must be 1-100 characters"):
        await tokens.create_token(user, "x" * 101)


async def test_tokens_act_with_their_users_role(db, server: RunningServer) -> None:
    viewer, tester = await api_token_for("vera"), await api_token_for("tess")
    async with httpx.AsyncClient(base_url=server.url) as http:
        listing = await http.get("/api/v3/realTime/sessions", headers=bearer(viewer))
        assert listing.status_code == 200, listing.text
        refused = await http.post("/api/v3/realTime/start", json={}, headers=bearer(viewer))
        assert refused.status_code == 403
        assert "needs the tester role" in refused.json()["msg"]
        # A tester may; the body is wrong, so the answer is a validation error, not 401/403.
        allowed = await http.post("/api/v3/realTime/start", json={}, headers=bearer(tester))
        assert allowed.status_code == 400, allowed.text
    stored = await ApiToken.get(user__username="vera")
    assert stored.last_used_at is not None


async def test_bad_revoked_and_disabled_tokens_answer_401(db, server: RunningServer) -> None:
    token = await api_token_for("tess")
    async with httpx.AsyncClient(base_url=server.url) as http:
        for bad in ("tm_" + "A" * 43, "not-a-token", "tm_"):
            response = await http.get("/api/v3/realTime/sessions", headers=bearer(bad))
            assert response.status_code == 401, bad
            assert response.json()["code"] == 6
        await tokens.revoke_token((await ApiToken.get(user__username="tess")).id)
        assert (
            await http.get("/api/v3/realTime/sessions", headers=bearer(token))
        ).status_code == 401
        other = await api_token_for("vera")
        await User.filter(username="vera").update(disabled=True)
        assert (
            await http.get("/api/v3/realTime/sessions", headers=bearer(other))
        ).status_code == 401


async def test_token_requests_need_no_csrf_token(db, server: RunningServer) -> None:
    token = await api_token_for("tess")
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post(
            "/api/v3/realTime/start", json={}, headers={**bearer(token), "Origin": server.url}
        )
        assert response.status_code == 400  # reached the handler


async def test_admin_creates_a_token_in_the_page_and_sees_it_once(
    db, server: RunningServer
) -> None:
    async with browser_for(server, "ada") as ada:
        response = await ada.http.post(
            "/admin/tokens",
            data={"username": "tess", "name": "ci pipeline"},
            headers=ada.headers(),
        )
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        plaintext = next(
            word
            for word in response.text.replace("<", " ").replace(">", " ").split()
            if word.startswith("tm_")
        )
        listing = await ada.http.get("/admin/tokens")
        assert "ci pipeline" in listing.text and plaintext not in listing.text
        async with httpx.AsyncClient(base_url=server.url) as program:
            ok = await program.get("/api/v3/realTime/sessions", headers=bearer(plaintext))
            assert ok.status_code == 200
            token_id = (await ApiToken.get(name="ci pipeline")).id
            revoked = await ada.http.post(
                f"/admin/tokens/{token_id}/revoke",
                data={"confirmed": "yes"},
                headers=ada.headers(),
            )
            assert revoked.status_code == 303
            gone = await program.get("/api/v3/realTime/sessions", headers=bearer(plaintext))
            assert gone.status_code == 401


async def test_only_admins_see_or_make_tokens(db, server: RunningServer) -> None:
    async with browser_for(server, "tess") as tess:
        assert (await tess.http.get("/admin/tokens")).status_code == 403
        made = await tess.http.post(
            "/admin/tokens", data={"username": "tess", "name": "mine"}, headers=tess.headers()
        )
        assert made.status_code == 403
    assert not await ApiToken.exists()


def test_cli_creates_a_user_and_a_token(tmp_path: Path) -> None:
    env = {**os.environ, "SQLITE_PATH": str(tmp_path / "cli.sqlite3"), "DB_HOST": ""}

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return run_cli(env, *args, stdin=stdin, cwd=str(tmp_path))

    made = run("create-user", "ada", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    assert "created admin ada" in made.stdout
    again = run("create-user", "ada", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    assert again.returncode == 1 and "'ada' is taken" in again.stderr
    short = run("create-user", "bob", "--role", "viewer", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "at least 8 characters" in short.stderr
    token = run("create-token", "ada", "--name", "ci")
    assert token.returncode == 0, token.stderr
    assert token.stdout.strip().startswith("tm_") and "shown only now" in token.stderr
    missing = run("create-token", "nobody", "--name", "ci")
    assert missing.returncode == 1 and "no enabled user named 'nobody'" in missing.stderr
