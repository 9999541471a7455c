"""/api/v3/tokens over real HTTP, signed in for real: one's own tokens, the page's rules.

Each user lists, makes and revokes their own tokens (the secret shown once);
only admins reach other users' tokens; a request signed in with a token cannot
make tokens; bad input is a clear 4xx that changes nothing; every change is
audited as the admin page's are.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.conftest import running_app
from tests.support.access import api_token_for, browser_for, create_personas, secured
from tests.support.servers import RunningServer
from trackmaster.models import ApiToken, AuditEntry
from trackmaster.settings import Settings

TOKENS = "/api/v3/tokens"


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    await create_personas()
    async with running_app(secured(settings)) as running:
        yield running


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


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
