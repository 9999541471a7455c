"""/api/v3/accounts over real HTTP: add, list, delete, and bad input that changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from trackmaster.models import Account, AuditEntry, Project, SessionAccount, TestSession


async def accounts_now() -> list[tuple]:
    return [tuple(row.values()) for row in await Account.all().values("user_id", "description")]


async def test_add_list_and_delete(client: httpx.AsyncClient) -> None:
    project = await Project.create(name="Demo")
    other = await Project.create(name="Other")
    added = await client.post(
        "/api/v3/accounts", json={"projectID": project.id, "id": "u-1", "description": "iPhone 15"}
    )
    assert added.status_code == 200, added.text
    assert added.json()["data"] | {"createdAt": None} == {
        "id": "u-1", "accountID": added.json()["data"]["accountID"], "projectID": project.id,
        "description": "iPhone 15", "createdAt": None,
    }  # fmt: skip
    await client.post(
        "/api/v3/accounts", json={"projectID": other.id, "id": "u-2", "description": "Pixel"}
    )
    mine = (await client.get("/api/v3/accounts", params={"project": project.id})).json()
    assert [a["id"] for a in mine["data"]] == ["u-1"] and mine["pager"]["totalRow"] == 1
    found = (await client.get("/api/v3/accounts", params={"description": "pix"})).json()
    assert [a["id"] for a in found["data"]] == ["u-2"]
    deleted = await client.delete("/api/v3/accounts/u-1")
    assert deleted.status_code == 200 and deleted.json()["data"]["id"] == "u-1"
    assert await accounts_now() == [("u-2", "Pixel")]
    assert await AuditEntry.filter(action__in=["account.add", "account.delete"]).count() == 3


@pytest.mark.parametrize(
    ("body", "status", "code", "problem"),
    [
        ({"id": "u", "description": "ok ok"}, 400, 2, "projectID: is required"),
        ({"projectID": "x", "id": "u", "description": "ok"}, 400, 2, "projectID: must be a whole"),
        ({"projectID": 999999, "id": "u", "description": "ok"}, 404, 3, "no project with id"),
        ({"projectID": 0, "id": "u", "description": "ok"}, 400, 2, "projectID: must be between"),
        ({"projectID": None, "id": "u", "description": "ok"}, 400, 2, "projectID: must be a whole"),
        (
            {"projectID": "$project", "id": "u", "description": "x"},
            400,
            2,
            "description: must be 2 to 50",
        ),
        (
            {"projectID": "$project", "id": "u", "description": "x" * 51},
            400,
            2,
            "description: must be 2 to 50",
        ),
        (
            {"projectID": "$project", "id": "u", "description": 12},
            400,
            2,
            "description: is required",
        ),
        ({"projectID": "$project", "description": "fine"}, 400, 2, "id: is required"),
        ({"projectID": "$project", "id": ["u"], "description": "fine"}, 400, 2, "id: is required"),
        (
            {"projectID": "$project", "id": "   ", "description": "fine"},
            400,
            2,
            "id: must not be empty",
        ),
        (
            {"projectID": "$project", "id": "u" * 129, "description": "fine"},
            400,
            2,
            "id: must be at most 128",
        ),
        (
            {"projectID": "$project", "id": "dup", "description": "fine"},
            400,
            5,
            "id: test account 'dup' already exists",
        ),
    ],
)
async def test_bad_accounts_are_refused_and_change_nothing(
    client: httpx.AsyncClient, body: dict, status: int, code: int, problem: str
) -> None:
    project = await Project.create(name="Demo")
    await Account.create(project=project, user_id="dup", description="already here")
    if body.get("projectID") == "$project":
        body = {**body, "projectID": project.id}
    before = await accounts_now()
    response = await client.post("/api/v3/accounts", json=body)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert response.json()["msg"].startswith(problem), response.json()
    assert await accounts_now() == before


async def test_both_description_and_id_wrong_lists_both(client: httpx.AsyncClient) -> None:
    project = await Project.create(name="Demo")
    response = await client.post(
        "/api/v3/accounts", json={"projectID": project.id, "id": "", "description": ""}
    )
    assert [d["field"] for d in response.json()["details"]] == ["id", "description"]


async def test_not_json_is_a_bad_request(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v3/accounts", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and response.json()["code"] == 5
    listed = await client.post("/api/v3/accounts", json=["a"])
    assert listed.status_code == 400 and "JSON object" in listed.json()["msg"]


async def test_delete_unknown_or_ambiguous(client: httpx.AsyncClient) -> None:
    first = await Project.create(name="A")
    second = await Project.create(name="B")
    for project in (first, second):
        await Account.create(project=project, user_id="shared", description="same id")
    missing = await client.delete("/api/v3/accounts/nobody")
    assert missing.status_code == 404 and missing.json()["code"] == 3
    ambiguous = await client.delete("/api/v3/accounts/shared")
    assert ambiguous.status_code == 400 and "name one" in ambiguous.json()["msg"]
    assert await Account.all().count() == 2
    chosen = await client.delete("/api/v3/accounts/shared", params={"project": second.id})
    assert chosen.status_code == 200
    assert await Account.filter(project=first).count() == 1
    bad_project = await client.delete("/api/v3/accounts/shared", params={"project": "x"})
    assert bad_project.status_code == 400


async def test_sessions_keep_a_deleted_accounts_user_id(client: httpx.AsyncClient) -> None:
    project = await Project.create(name="Demo")
    account = await Account.create(project=project, user_id="u-9", description="old phone")
    session = await TestSession.create(
        project=project, expires_at=datetime.now(UTC) + timedelta(hours=1)
    )
    await SessionAccount.create(session=session, account=account, user_id="u-9")
    assert (await client.delete("/api/v3/accounts/u-9")).status_code == 200
    link = await SessionAccount.get(session=session)
    assert link.user_id == "u-9" and link.account_id is None  # type: ignore[attr-defined]


async def test_list_with_unknown_project(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v3/accounts", params={"project": 999999})
    assert response.status_code == 404 and response.json()["code"] == 3
