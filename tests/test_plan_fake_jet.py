"""The fake Jet speaks the contract of DOMAIN.md, so tests of the client and sync mean something."""

from __future__ import annotations

import json

import httpx

from tests.fakes.jet import FakeJet, seed_realistic_plan


async def test_plan_calls_answer_in_jets_shape(fake_jet: FakeJet) -> None:
    plan = seed_realistic_plan(fake_jet)
    pid = plan["project"]["id"]
    async with httpx.AsyncClient(base_url=fake_jet.url) as http:
        projects = (await http.get("/v1/internals/project")).json()["data"]
        assert {p["cnName"] for p in projects} == {"视频 App", "Müsik ♪"}
        enums = (await http.get("/v1/internals/enumType", params={"project": pid})).json()
        assert {t["name"] for t in enums["data"]} == {"page_name", "content_type"}
        assert set(enums["data"][0]["enumValues"][0]) == {
            "id", "name", "desc", "status", "deprecated"
        }  # fmt: skip
        listed = (
            await http.get(
                "/v1/internals/requirement",
                params={"project": pid, "sortKey": "updatedAt", "sortDirection": "DESC",
                        "pageSize": 1, "page": 1},
            )
        ).json()["data"]  # fmt: skip
        # The most recently updated story comes first.
        assert [s["name"] for s in listed] == ["搜索 Search"]
        detail = (await http.get(f"/v1/internals/requirement/{plan['player_story']['id']}")).json()
        assert detail["events"][0]["eventDefinitions"][0]["type"]["name"] == "page_name"
        assert "project" not in detail and "updatedAt" not in detail
        missing = await http.get("/v1/internals/requirement/nope")
        assert missing.status_code == 404


async def test_faults_fail_the_chosen_calls_then_stop(fake_jet: FakeJet) -> None:
    seed_realistic_plan(fake_jet)
    fake_jet.fail("projects", 503, times=1)
    fake_jet.bad_json("projects", times=1)
    async with httpx.AsyncClient(base_url=fake_jet.url) as http:
        assert (await http.get("/v1/internals/project")).status_code == 503
        # The first fault was used up; the second answers broken JSON.
        broken = await http.get("/v1/internals/project")
        assert broken.status_code == 200
        try:
            broken.json()
        except json.JSONDecodeError:
            pass
        else:
            raise AssertionError("bad_json answered valid JSON")
        assert (await http.get("/v1/internals/project")).status_code == 200
        fake_jet.fail_after(1, "projects", 500)
        assert (await http.get("/v1/internals/project")).status_code == 200
        assert (await http.get("/v1/internals/project")).status_code == 500
        assert (await http.get("/v1/internals/project")).status_code == 500
        fake_jet.clear_faults()
        fake_jet.missing_field("projects", "cnName")
        assert "cnName" not in (await http.get("/v1/internals/project")).json()["data"][0]
    assert len(fake_jet.calls("projects")) == 7


async def test_log_filters_record_push_read_and_clear(fake_jet: FakeJet) -> None:
    plan = seed_realistic_plan(fake_jet)
    pid = plan["project"]["id"]
    async with httpx.AsyncClient(base_url=fake_jet.url) as http:
        created = (
            await http.post(
                "/v1/internals/eventLog/filter",
                json={"events": ["play_click"], "project": pid, "userIds": ["u1"]},
            )
        ).json()
        assert created["status"] == "READY" and created["project"]["id"] == pid
        # Not recording yet: an emitted event is not caught.
        assert fake_jet.emit(pid, "u1", "play_click", {"$os": "iOS"}) == 0
        changed = await http.patch(
            f"/v1/internals/eventLog/filter/{created['id']}",
            json={"id": created["id"], "status": "RECORDING", "events": ["play_click"],
                  "userIds": ["u1"]},
        )  # fmt: skip
        assert changed.status_code == 200 and changed.content == b""
        assert fake_jet.emit(pid, "u1", "play_click", {"$os": "iOS"}) == 1
        assert fake_jet.emit(pid, "u2", "play_click", {"$os": "iOS"}) == 0
        fake_jet.push_log("latest", "u9", "other", {"$os": "Android"})
        logs = (await http.get("/v1/internals/eventLog", params={"filter": created["id"]})).json()
        assert [(log["userId"], log["event"]) for log in logs["data"]] == [
            ("u1", "play_click"),
            ("u9", "other"),
        ]
        assert json.loads(logs["data"][0]["log"]) == {"$os": "iOS"}
        await http.delete("/v1/internals/eventLog", params={"filter": created["id"]})
        again = await http.get("/v1/internals/eventLog", params={"filter": created["id"]})
        assert again.json() == {"data": []}
    assert [r.call for r in fake_jet.requests][-2:] == ["clear_logs", "logs"]
