"""The audit log: every user change, token, key rotation, sync, session start/stop and
override is written with who and when, and admins (only) can read and filter it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.conftest import running_app
from tests.support.access import (
    PASSWORD,
    api_token_for,
    browser_for,
    create_personas,
    secured,
)
from tests.support.html import parse_tree
from tests.support.realtime import make_plan, play_log
from tests.support.servers import RunningServer
from trackmaster.auth import audit
from trackmaster.models import AuditEntry, Project, User
from trackmaster.settings import Settings


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    await create_personas()
    async with running_app(secured(settings)) as running:
        yield running


async def entries(action: str) -> list[AuditEntry]:
    return await AuditEntry.filter(action=action).order_by("id")


def recent(entry: AuditEntry) -> bool:
    return datetime.now(UTC) - entry.at < timedelta(minutes=1)


async def test_record_uses_the_request_actor_or_system(db) -> None:
    entry = await audit.record(None, "test.thing", "x", n=1, when=datetime(2026, 1, 1))
    assert (entry.actor, entry.details) == ("system", {"n": 1, "when": "2026-01-01 00:00:00"})
    token = audit.set_actor("tess")
    try:
        assert (await audit.record(None, "test.thing")).actor == "tess"
        assert (await audit.record("ada", "test.thing")).actor == "ada"
    finally:
        audit.reset_actor(token)
    assert audit.current_actor() == "system"


async def test_user_changes_in_the_admin_pages_are_audited(db, server: RunningServer) -> None:
    async with browser_for(server, "ada") as ada:
        made = await ada.http.post(
            "/admin/users",
            data={"username": "newbie", "password": PASSWORD, "role": "viewer"},
            headers=ada.headers(),
        )
        assert made.status_code == 303
        newbie = await User.get(username="newbie")
        changed = await ada.http.post(
            f"/admin/users/{newbie.id}",
            data={"role": "tester", "enabled_state": "1", "disabled": "on", "password": "x" * 12},
            headers=ada.headers(),
        )
        assert changed.status_code == 303, changed.text[:300]
    created, role, disabled, password = [
        (await entries(action))[-1]
        for action in ("user.create", "user.role", "user.disable", "user.password")
    ]
    assert (created.actor, created.target, created.details) == (
        "ada",
        "user:newbie",
        {"role": "viewer"},
    )
    assert role.details == {"before": "viewer", "after": "tester"} and role.actor == "ada"
    assert disabled.actor == password.actor == "ada" and recent(password)
    assert "x" * 12 not in str(password.details)  # never the password itself
    assert (await entries("login"))[-1].actor == "ada"


async def test_tokens_and_write_key_rotation_are_audited(db, server: RunningServer) -> None:
    plan = await make_plan()
    old_key = plan.project.write_key
    async with browser_for(server, "ada") as ada:
        await ada.http.post(
            "/admin/tokens", data={"username": "tess", "name": "ci"}, headers=ada.headers()
        )
        rotated = await ada.http.post(
            f"/projects/{plan.project.id}/write-key/rotate",
            data={"confirmed": "yes"},
            headers=ada.headers(),
        )
        assert rotated.status_code == 303
    api = await ada_api(server)
    answer = await api.post(f"/api/v3/projects/{plan.project.id}/writeKey/rotate")
    assert answer.status_code == 200
    new_key = answer.json()["data"]["writeKey"]
    await api.aclose()
    assert new_key == (await Project.get(id=plan.project.id)).write_key != old_key
    made_in_page = [e for e in await entries("token.create") if e.details["name"] == "ci"]
    assert [e.actor for e in made_in_page] == ["ada"]
    rotations = await entries("writekey.rotate")
    assert [e.actor for e in rotations] == ["ada", "ada"]
    assert all(old_key not in str(e.details) and new_key not in str(e.details) for e in rotations)
    # The old key stops working (the ingest cache lets it live for at most 2 s).
    async with httpx.AsyncClient(base_url=server.url) as app:
        refused = await app.post(
            "/collect",
            json=play_log(user_id="alice-42"),
            headers={"X-Write-Key": old_key},
        )
        assert refused.status_code == 401


async def ada_api(server: RunningServer) -> httpx.AsyncClient:
    token = await api_token_for("ada", "audit test")
    return httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {token}"})


async def test_sessions_overrides_and_syncs_are_audited_with_who(db, server: RunningServer) -> None:
    plan = await make_plan()
    tess_token = await api_token_for("tess")
    async with httpx.AsyncClient(
        base_url=server.url, headers={"Authorization": f"Bearer {tess_token}"}
    ) as tess:
        started = await tess.post(
            "/api/v3/realTime/start",
            json={"project": plan.project.id, "accounts": ["alice-42"], "events": [plan.play.id]},
        )
        assert started.status_code == 201, started.text
        record = started.json()["id"]
        page_field = plan.f("event_info.current_page_name")
        override = await tess.post(
            "/api/v3/realTime/updateResult",
            json={
                "record": record,
                "fields": [
                    {"id": page_field, "results": {"iOS": "SUCCESS"}, "reason": "<b>ok</b>"}
                ],
            },
        )
        assert override.status_code == 200, override.text
        reset = await tess.post(
            "/api/v3/realTime/updateResult", json={"record": record, "event": plan.play.id}
        )
        assert reset.status_code == 200
        stopped = await tess.post("/api/v3/realTime/stop", params={"record": record})
        assert stopped.status_code == 200
    start, stop = (await entries("session.start"))[-1], (await entries("session.stop"))[-1]
    assert (start.actor, start.target) == ("tess", f"session:{record}")
    assert start.details["accounts"] == ["alice-42"] and start.details["events"] == ["play_click"]
    assert (stop.actor, stop.details) == ("tess", {"reason": "stopped"})
    over = (await entries("verdict.override"))[-1]
    assert over.actor == "tess" and over.details["fields"][0]["verdict"] == "SUCCESS"
    assert (await entries("verdict.reset"))[-1].actor == "tess"

    api = await ada_api(server)
    exported = await api.get(f"/api/v3/projects/{plan.project.id}/plan", params={"format": "yaml"})
    imported = await api.put(
        f"/api/v3/projects/{plan.project.id}/plan",
        params={"format": "yaml"},
        content=exported.content,
    )
    await api.aclose()
    assert imported.status_code == 200, imported.text
    sync = await AuditEntry.filter(action__startswith="plan.").order_by("-id").first()
    assert sync is not None and sync.actor == "ada" and sync.target == f"project:{plan.project.id}"


async def test_admins_read_and_filter_the_log_others_cannot(db, server: RunningServer) -> None:
    for n in range(30):
        await audit.record("tess", "verdict.override", f"session:{n}", reason="<b>bold</b>")
    await audit.record("ada", "user.create", "user:x")
    async with browser_for(server, "ada") as ada:
        page = await ada.http.get("/admin/audit", params={"action": "verdict.override"})
        assert page.status_code == 200
        rows = parse_tree(page.text).find("tbody")
        assert rows is not None and rows.find("b") is None  # escaped: shown, not bold
        assert "reason: <b>bold</b>" in rows.text()
        assert "30 entries" in page.text
        assert "user:x" not in page.text
        by_ada = await ada.http.get("/admin/audit", params={"actor": "ada"})
        assert "user:x" in by_ada.text and "session:3" not in by_ada.text
        prefix = await ada.http.get("/admin/audit", params={"action": "verdict."})
        assert "30 entries" in prefix.text
        second = await ada.http.get(
            "/admin/audit", params={"action": "verdict.override", "pageSize": 20, "page": 2}
        )
        assert "page 2 of 2" in second.text and "session:0<" in second.text.replace(" ", "")
        fragment = await ada.http.get(
            "/admin/audit", params={"actor": "tess"}, headers={"HX-Request": "true"}
        )
        assert "<html" not in fragment.text and 'id="audit"' in fragment.text
    for name in ("tess", "vera"):
        async with browser_for(server, name) as other:
            assert (await other.http.get("/admin/audit")).status_code == 403


async def test_project_page_shows_the_key_to_testers_and_rotation_to_admins(
    db, server: RunningServer
) -> None:
    plan = await make_plan()
    key = plan.project.write_key
    path = f"/projects/{plan.project.id}"
    async with browser_for(server, "vera") as vera:
        page = (await vera.http.get(path)).text
        assert key not in page and "write-key/rotate" not in page
    async with browser_for(server, "tess") as tess:
        page = (await tess.http.get(path)).text
        assert key in page and "write-key/rotate" not in page
        refused = await tess.http.post(f"{path}/write-key/rotate", headers=tess.headers())
        assert refused.status_code == 403
    async with browser_for(server, "ada") as ada:
        page = (await ada.http.get(path)).text
        assert key in page and f"{path}/write-key/rotate" in page
        # The form as a browser without JavaScript posts it: the hidden token field only.
        # That asks first, on a page whose form posts again, confirmed; nothing changed yet.
        asked = await ada.http.post(
            f"{path}/write-key/rotate", data={"csrf_token": ada.token}, headers=ada.origin
        )
        assert asked.status_code == 200 and "Rotate the key" in asked.text
        assert (await Project.get(id=plan.project.id)).write_key == key
        rotated = await ada.http.post(
            f"{path}/write-key/rotate",
            data={"csrf_token": ada.token, "confirmed": "yes"},
            headers=ada.origin,
        )
        assert rotated.status_code == 303 and rotated.headers["location"] == f"{path}#write-key"
        new_key = (await Project.get(id=plan.project.id)).write_key
        assert new_key != key and new_key in (await ada.http.get(path)).text
