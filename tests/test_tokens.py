"""API tokens: shown once, stored hashed, act with their user's role, revocable, CLI-made,
and each user's own to manage over /api/v3/tokens."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
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
from trackmaster.models import ApiToken, AuditEntry, User
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


# --- /api/v3/tokens: one's own tokens over the JSON API, the page's rules -----------------
# Each user lists, makes and revokes their own tokens (the secret shown once); only
# admins reach other users' tokens; a request signed in with a token cannot make tokens;
# bad input is a clear 4xx that changes nothing; every change is audited as the page's.

TOKENS = "/api/v3/tokens"


async def audit_actions(action: str) -> list[tuple[str, str]]:
    return list(
        await AuditEntry.filter(action=action).order_by("id").values_list("actor", "target")
    )


async def test_a_user_makes_lists_and_revokes_their_own_token(db, server: RunningServer) -> None:
    async with browser_for(server, "vera") as vera, httpx.AsyncClient(base_url=server.url) as app:
        made = await vera.http.post(
            TOKENS, json={"name": "laptop", "expiresIn": "12h"}, headers=vera.headers()
        )
        assert made.status_code == 201, made.text
        assert made.headers["cache-control"] == "no-store"
        token = made.json()["data"]
        secret = token["token"]
        assert secret.startswith("tm_") and token["user"] == "vera"
        assert token["state"] == "active" and token["revokedAt"] is None
        expires = datetime.fromisoformat(token["expiresAt"])
        assert abs(expires - (datetime.now(UTC) + timedelta(hours=12))) < timedelta(minutes=5)
        # The secret works, with vera's role.
        works = await app.get("/api/v3/realTime/sessions", headers=bearer(secret))
        assert works.status_code == 200, works.text

        listing = await vera.http.get(TOKENS)
        assert listing.status_code == 200
        [shown] = listing.json()["data"]
        assert shown["id"] == token["id"] and shown["name"] == "laptop"
        assert "token" not in shown and secret not in listing.text
        stored = await ApiToken.get(id=token["id"])
        assert stored.token_hash not in listing.text
        assert await audit_actions("token.create") == [("vera", f"token:{token['id']}")]

        revoked = await vera.http.delete(f"{TOKENS}/{token['id']}", headers=vera.headers())
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["data"]["state"] == "revoked"
        gone = await app.get("/api/v3/realTime/sessions", headers=bearer(secret))
        assert gone.status_code == 401
        again = await vera.http.delete(f"{TOKENS}/{token['id']}", headers=vera.headers())
        assert again.status_code == 200
        assert again.json()["data"]["revokedAt"] == revoked.json()["data"]["revokedAt"]
        assert await audit_actions("token.revoke") == [("vera", f"token:{token['id']}")]


async def test_a_token_never_asked_to_expire_lives_90_days_and_never_is_explicit(
    db, server: RunningServer
) -> None:
    async with browser_for(server, "tess") as tess:
        default = await tess.http.post(TOKENS, json={"name": "ci"}, headers=tess.headers())
        assert default.status_code == 201, default.text
        expires = datetime.fromisoformat(default.json()["data"]["expiresAt"])
        assert abs(expires - (datetime.now(UTC) + timedelta(days=90))) < timedelta(minutes=5)
        never = await tess.http.post(
            TOKENS, json={"name": "forever", "expiresIn": "never"}, headers=tess.headers()
        )
        assert never.status_code == 201 and never.json()["data"]["expiresAt"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": 7}, "name"),
        ({"name": "ci", "expiresIn": "soon"}, "expiresIn"),
        ({"name": "ci", "expiresIn": "0d"}, "expiresIn"),
        ({"name": "ci", "expiresIn": "-3h"}, "expiresIn"),
        ({"name": "ci", "expiresIn": "3651d"}, "expiresIn"),
        ({"name": "ci", "expiresIn": 90}, "expiresIn"),
        ({"name": "ci", "expiresIn": "nand"}, "expiresIn"),
        ({"name": "ci", "user": ""}, "user"),
        ({"name": "ci", "user": ["tess"]}, "user"),
    ],
)
async def test_bad_bodies_are_a_400_naming_the_field_and_make_nothing(
    db, server: RunningServer, body: dict, field: str
) -> None:
    async with browser_for(server, "tess") as tess:
        answer = await tess.http.post(TOKENS, json=body, headers=tess.headers())
        assert answer.status_code == 400, answer.text
        error = answer.json()
        assert error["code"] == 2 and error["details"][0]["field"] == field, error
    assert not await ApiToken.exists()
    assert await audit_actions("token.create") == []


async def test_other_bad_requests_are_clear_and_change_nothing(db, server: RunningServer) -> None:
    async with browser_for(server, "tess") as tess:
        for content in (b"{nope", b"[1, 2]", b'"name"'):
            answer = await tess.http.post(
                TOKENS,
                content=content,
                headers=tess.headers(**{"Content-Type": "application/json"}),
            )
            assert answer.status_code == 400 and answer.json()["code"] == 5, answer.text
        odd = await tess.http.get(TOKENS, params={"all": "maybe"})
        assert odd.status_code == 400 and odd.json()["details"][0]["field"] == "all"
        not_id = await tess.http.delete(f"{TOKENS}/abc", headers=tess.headers())
        assert not_id.status_code == 400 and not_id.json()["code"] == 2
        unknown = await tess.http.delete(f"{TOKENS}/999999", headers=tess.headers())
        assert unknown.status_code == 404 and unknown.json()["code"] == 3
        unsafe = await tess.http.post(TOKENS, json={"name": "no csrf"}, headers=tess.origin)
        assert unsafe.status_code == 403, unsafe.text
    assert not await ApiToken.exists()


async def test_who_may_do_what(db, server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as anonymous:
        assert (await anonymous.get(TOKENS)).status_code == 401
        assert (await anonymous.post(TOKENS, json={"name": "x"})).status_code == 401
        assert (await anonymous.delete(f"{TOKENS}/1")).status_code == 401
    vera_secret = await api_token_for("vera", "vera's")
    vera_token = await ApiToken.get(name="vera's")
    async with browser_for(server, "tess") as tess:
        # A tester sees and touches only their own.
        assert (await tess.http.get(TOKENS)).json()["data"] == []
        everyone = await tess.http.get(TOKENS, params={"all": "true"})
        assert everyone.status_code == 403 and everyone.json()["code"] == 7
        for_other = await tess.http.post(
            TOKENS, json={"name": "for vera", "user": "vera"}, headers=tess.headers()
        )
        assert for_other.status_code == 403, for_other.text
        theirs = await tess.http.delete(f"{TOKENS}/{vera_token.id}", headers=tess.headers())
        assert theirs.status_code == 404
        # Naming oneself is the same as naming nobody.
        mine = await tess.http.post(
            TOKENS, json={"name": "mine", "user": "tess"}, headers=tess.headers()
        )
        assert mine.status_code == 201 and mine.json()["data"]["user"] == "tess"
    assert (await ApiToken.get(id=vera_token.id)).revoked_at is None
    assert await ApiToken.filter(name="for vera").count() == 0

    async with browser_for(server, "ada") as ada:
        everyone = await ada.http.get(TOKENS, params={"all": "true"})
        assert {t["user"] for t in everyone.json()["data"]} == {"vera", "tess"}
        for_tess = await ada.http.post(
            TOKENS, json={"name": "tess ci", "user": "tess"}, headers=ada.headers()
        )
        assert for_tess.status_code == 201 and for_tess.json()["data"]["user"] == "tess"
        nobody = await ada.http.post(
            TOKENS, json={"name": "x", "user": "nobody"}, headers=ada.headers()
        )
        assert nobody.status_code == 400 and nobody.json()["details"][0]["field"] == "user"
        revoked = await ada.http.delete(f"{TOKENS}/{vera_token.id}", headers=ada.headers())
        assert revoked.status_code == 200 and revoked.json()["data"]["user"] == "vera"
    assert await audit_actions("token.revoke") == [("ada", f"token:{vera_token.id}")]
    creators = [actor for actor, _ in await audit_actions("token.create")]
    assert creators == ["test", "tess", "ada"]

    async with httpx.AsyncClient(base_url=server.url) as program:
        gone = await program.get(TOKENS, headers=bearer(vera_secret))
        assert gone.status_code == 401
        # A token lists its user's tokens and may revoke them, itself included ...
        tess_secret = await api_token_for("tess", "tess's script")
        own = await program.get(TOKENS, headers=bearer(tess_secret))
        assert own.status_code == 200
        assert {t["name"] for t in own.json()["data"]} == {"mine", "tess ci", "tess's script"}
        # ... but it cannot make one: a short-lived token must not mint a lasting one.
        minted = await program.post(TOKENS, json={"name": "copy"}, headers=bearer(tess_secret))
        assert minted.status_code == 403 and "cannot make tokens" in minted.json()["msg"]
        assert not await ApiToken.exists(name="copy")
        itself = (await ApiToken.get(name="tess's script")).id
        revoked = await program.delete(f"{TOKENS}/{itself}", headers=bearer(tess_secret))
        assert revoked.status_code == 200
        assert (await program.get(TOKENS, headers=bearer(tess_secret))).status_code == 401


async def test_the_v3_document_describes_the_token_endpoints(db, server: RunningServer) -> None:
    async with browser_for(server, "vera") as vera:
        document = (await vera.http.get("/api/v3/openapi.json")).json()
    paths = document["paths"]
    assert {"get", "post"} <= paths["/api/v3/tokens"].keys()
    assert "delete" in paths["/api/v3/tokens/{id}"]
    created = paths["/api/v3/tokens"]["post"]["responses"]["201"]
    assert created["content"]["application/json"]["schema"]["$ref"].endswith("/NewApiToken")
    assert "NewApiToken" in document["components"]["schemas"]


async def test_the_built_in_local_admin_has_no_tokens_of_its_own(
    client: httpx.AsyncClient,
) -> None:
    # Loopback HOST and no user yet: every request is the built-in local admin.
    assert (await client.get(TOKENS)).json()["data"] == []
    answer = await client.post(TOKENS, json={"name": "mine"})
    assert answer.status_code == 400 and answer.json()["code"] == 5
    assert "create-user" in answer.json()["msg"]
    assert not await ApiToken.exists()
