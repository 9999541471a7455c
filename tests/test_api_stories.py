"""/api/v3/stories over real HTTP: sync from the fake Jet, list with search and paging, detail."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes.jet import FakeJet, seed_realistic_plan
from trackmaster.models import Project, Story, SyncRun


async def jet_project(http: httpx.AsyncClient, fake_jet: FakeJet) -> tuple[int, dict]:
    plan = seed_realistic_plan(fake_jet)
    await http.post("/api/v3/projects/sync")
    project = await Project.get(jet_id=plan["project"]["id"])
    return project.id, plan


async def test_sync_then_list_and_read(jet_http: httpx.AsyncClient, fake_jet: FakeJet) -> None:
    project_id, plan = await jet_project(jet_http, fake_jet)
    synced = await jet_http.post("/api/v3/stories/sync", params={"project": project_id})
    assert synced.status_code == 200, synced.text
    run = synced.json()["data"]
    assert run["status"] == "ok" and run["diff"]["created"]["story"] == 2
    listed = (await jet_http.get("/api/v3/stories", params={"project": project_id})).json()
    assert listed["pager"]["totalRow"] == 2
    assert {s["name"] for s in listed["data"]} == {"搜索 Search", "Player <v2> & friends"}
    by_field = await jet_http.get(
        "/api/v3/stories", params={"project": project_id, "name": "player.quality"}
    )
    assert [s["name"] for s in by_field.json()["data"]] == ["Player <v2> & friends"]
    story_id = next(s["id"] for s in listed["data"] if s["name"].startswith("Player"))
    detail = (await jet_http.get(f"/api/v3/stories/{story_id}")).json()["data"]
    [event] = detail["events"]
    assert event["name"] == "play_click"
    page_field = next(f for f in event["fields"] if f["key"] == "event_info.current_page_name")
    assert page_field["values"] == ["home", "player"] and page_field["type"] == "page_name"
    assert page_field["rawValues"] == fake_jet.enum_ids(
        plan["project"]["id"], "page_name", "home", "player"
    )


async def test_sync_failure_is_a_502_that_changes_nothing(
    jet_http: httpx.AsyncClient, fake_jet: FakeJet
) -> None:
    project_id, _ = await jet_project(jet_http, fake_jet)
    fake_jet.fail_after(1, "story", 503)
    response = await jet_http.post("/api/v3/stories/sync", params={"project": project_id})
    assert response.status_code == 502
    body = response.json()
    assert body["code"] == 11 and "requirement/" in body["msg"] and "503" in body["msg"]
    assert (await SyncRun.get(id=body["details"]["run"])).status == "failed"
    assert await Story.all().count() == 0


@pytest.mark.parametrize(
    ("params", "status", "problem"),
    [
        ({}, 400, "project: is required"),
        ({"project": "abc"}, 400, "project: must be a whole number"),
        ({"project": "999999"}, 404, "no project with id 999999"),
        ({"project": "1", "full": "maybe"}, 400, "full: must be true or false"),
    ],
)
async def test_sync_bad_params(
    jet_http: httpx.AsyncClient, params: dict, status: int, problem: str
) -> None:
    await Project.create(id=1, name="local", jet_id="p-1")
    response = await jet_http.post("/api/v3/stories/sync", params=params)
    assert response.status_code == status
    assert response.json()["msg"].startswith(problem)
    assert await SyncRun.all().count() == 0


async def test_a_file_project_cannot_sync_from_jet(jet_http: httpx.AsyncClient) -> None:
    project = await Project.create(name="from files")
    response = await jet_http.post("/api/v3/stories/sync", params={"project": project.id})
    assert response.status_code == 400 and "import its plan from a file" in response.json()["msg"]


async def test_list_and_detail_errors(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v3/stories")).json()["code"] == 2
    assert (await client.get("/api/v3/stories", params={"project": 424242})).status_code == 404
    assert (await client.get("/api/v3/stories/424242")).json()["code"] == 3
    assert (await client.get("/api/v3/stories/abc")).json()["code"] == 2


async def test_paging_through_stories(client: httpx.AsyncClient) -> None:
    project = await Project.create(name="big")
    await Story.bulk_create([Story(project=project, name=f"story {n:02}") for n in range(25)])
    first = (
        await client.get("/api/v3/stories", params={"project": project.id, "pageSize": 10})
    ).json()
    third = (
        await client.get(
            "/api/v3/stories", params={"project": project.id, "pageSize": 10, "page": 3}
        )
    ).json()
    assert first["pager"] == {"page": 1, "pageSize": 10, "totalRow": 25}
    assert len(first["data"]) == 10 and len(third["data"]) == 5
    names = {s["name"] for s in first["data"]} | {s["name"] for s in third["data"]}
    assert len(names) == 15
