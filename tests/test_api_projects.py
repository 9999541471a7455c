"""/api/v3/projects over real HTTP: the original's list and sync, plan files, sync history."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.fakes.jet import FakeJet, seed_realistic_plan
from trackmaster.db import Database
from trackmaster.models import Project, Story, SyncRun

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "plan.yaml"


async def counts() -> tuple[int, int, int]:
    return await Project.all().count(), await Story.all().count(), await SyncRun.all().count()


async def test_projects_sync_and_list(jet_http: httpx.AsyncClient, fake_jet: FakeJet) -> None:
    seed_realistic_plan(fake_jet)
    synced = await jet_http.post("/api/v3/projects/sync")
    assert synced.status_code == 200, synced.text
    assert synced.json()["data"]["created"] == {"project": 2}
    listed = (await jet_http.get("/api/v3/projects", params={"pageSize": 1})).json()
    assert listed["pager"] == {"page": 1, "pageSize": 1, "totalRow": 2}
    assert set(listed["data"][0]) >= {"id", "jetID", "name", "description", "storyCount"}
    second = (await jet_http.get("/api/v3/projects", params={"pageSize": 1, "page": 2})).json()
    assert {listed["data"][0]["name"], second["data"][0]["name"]} == {"视频 App", "Müsik ♪"}
    found = (await jet_http.get("/api/v3/projects", params={"name": "müsik"})).json()
    assert [p["name"] for p in found["data"]] == ["Müsik ♪"]


async def test_projects_sync_reports_jet_failures(
    jet_http: httpx.AsyncClient, fake_jet: FakeJet
) -> None:
    fake_jet.fail("projects", 500, times=None)
    response = await jet_http.post("/api/v3/projects/sync")
    assert response.status_code == 502
    assert response.json()["code"] == 11
    assert "GET /v1/internals/project answered 500" in response.json()["msg"]
    assert await Project.all().count() == 0


async def test_projects_sync_without_jet_is_a_clear_400(
    client: httpx.AsyncClient, db: Database
) -> None:
    response = await client.post("/api/v3/projects/sync")
    assert response.status_code == 400
    assert response.json()["code"] == 5 and "JET_URL" in response.json()["msg"]


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"page": "0"}, "page: must be 1 or more"),
        ({"pageSize": "abc"}, "pageSize: must be a whole number"),
        ({"pageSize": "100000"}, "pageSize: must be at most"),
    ],
)
async def test_bad_paging_is_invalid_params(
    client: httpx.AsyncClient, params: dict, problem: str
) -> None:
    response = await client.get("/api/v3/projects", params=params)
    assert response.status_code == 400
    assert response.json()["code"] == 2 and response.json()["msg"].startswith(problem)


async def test_project_detail_and_unknown_ids(client: httpx.AsyncClient) -> None:
    project = await Project.create(name="Demo")
    body = (await client.get(f"/api/v3/projects/{project.id}")).json()["data"]
    assert body["name"] == "Demo" and body["storyCount"] == 0 and body["accountCount"] == 0
    missing = await client.get("/api/v3/projects/999999")
    assert missing.status_code == 404 and missing.json()["code"] == 3
    wrong = await client.get("/api/v3/projects/abc")
    assert wrong.status_code == 400 and wrong.json()["code"] == 2


async def test_import_export_and_history(client: httpx.AsyncClient) -> None:
    project = await Project.create(name="Demo")
    imported = await client.put(
        f"/api/v3/projects/{project.id}/plan",
        files={"file": ("plan.yaml", EXAMPLE.read_bytes(), "application/yaml")},
    )
    assert imported.status_code == 200, imported.text
    run = imported.json()["data"]
    assert run["status"] == "ok" and run["source"] == "file"
    assert run["summary"].startswith("2 enum types created")
    exported = await client.get(f"/api/v3/projects/{project.id}/plan", params={"format": "json"})
    assert exported.headers["content-type"].startswith("application/json")
    assert exported.json()["stories"][0]["name"] == "Playback"
    again = await client.put(
        f"/api/v3/projects/{project.id}/plan", params={"format": "json"}, content=exported.content
    )
    assert again.json()["data"]["summary"] == "no change"
    history = (await client.get(f"/api/v3/projects/{project.id}/syncRuns")).json()
    assert [r["id"] for r in history["data"]] == [again.json()["data"]["id"], run["id"]]
    assert history["pager"]["totalRow"] == 2


async def test_bad_plan_files_change_nothing(client: httpx.AsyncClient) -> None:
    project = await Project.create(name="Demo")
    before = await counts()
    bad = await client.put(
        f"/api/v3/projects/{project.id}/plan",
        files={"file": ("plan.yaml", b"stories:\n  - name: A\n  - nme: B\n", "application/yaml")},
    )
    assert bad.status_code == 400 and bad.json()["code"] == 2
    assert bad.json()["details"][0] == {
        "error": "unknown key (expected one of description, events, id, name)",
        "line": 3,
        "path": "stories[1].nme",
    }
    no_format = await client.put(f"/api/v3/projects/{project.id}/plan", content=b"stories: []")
    assert no_format.status_code == 400 and "format" in no_format.json()["msg"]
    wrong_format = await client.put(
        f"/api/v3/projects/{project.id}/plan", params={"format": "xml"}, content=b"<a/>"
    )
    assert (
        wrong_format.status_code == 400 and "format: must be one of" in wrong_format.json()["msg"]
    )
    empty = await client.put(f"/api/v3/projects/{project.id}/plan?format=yaml", content=b"")
    assert empty.status_code == 400
    unknown = await client.put("/api/v3/projects/424242/plan?format=yaml", content=b"stories: []")
    assert unknown.status_code == 404
    assert await counts() == before


async def test_uploads_over_the_limit_are_refused(settings, db: Database) -> None:
    from tests.conftest import running_app

    small = settings.replace(max_upload_bytes=1024)
    project = await Project.create(name="Demo")
    async with running_app(small) as server, httpx.AsyncClient(base_url=server.url) as http:
        response = await http.put(
            f"/api/v3/projects/{project.id}/plan?format=yaml",
            content=b"stories: []\n" + b"#" * 2048,
        )
    assert response.status_code == 413
    assert "MAX_UPLOAD_BYTES" in response.json()["msg"]
    assert await SyncRun.all().count() == 0


async def test_openapi_document_lists_the_endpoints(client: httpx.AsyncClient) -> None:
    document = (await client.get("/api/v3/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path, method in [
        ("/api/v3/projects/sync", "post"),
        ("/api/v3/projects", "get"),
        ("/api/v3/accounts", "post"),
        ("/api/v3/accounts", "get"),
        ("/api/v3/accounts/{id}", "delete"),
        ("/api/v3/stories/sync", "post"),
        ("/api/v3/stories", "get"),
        ("/api/v3/stories/{id}", "get"),
    ]:
        assert method in paths[path], (path, method)
    # Every $ref points at a component that exists.
    import json
    import re

    text = json.dumps(document)
    for ref in set(re.findall(r'"#/components/([a-zA-Z]+)/([A-Za-z]+)"', text)):
        assert ref[1] in document["components"][ref[0]], ref
    docs = await client.get("/api/docs")
    assert docs.status_code == 200
    assert "/api/v3/stories/{id}" in docs.text and "<script>" not in docs.text.split("</head>")[1]
