"""/api/v3/realTime over real HTTP: lifecycle, validation, logs, overrides, resets, results."""

from __future__ import annotations

import pytest

from tests.support.realtime import make_plan, play_log
from trackmaster.models import Event, EventLog, Story, TestSession

API = "/api/v3/realTime"


@pytest.fixture
async def plan(db):
    return await make_plan()


async def start(client, plan, **body):
    body = {"project": plan.project.id, "accounts": ["alice-42"], **body}
    body.setdefault("events", [plan.play.id])
    answer = await client.post(f"{API}/start", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def send(client, plan, *logs):
    answer = await client.post(
        "/collect", json=list(logs), headers={"X-Write-Key": plan.project.write_key}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def alice_log(page="home", os="iOS"):
    return play_log(page=page, os=os, user_id="alice-42")


async def test_start_list_update_and_stop(plan, client) -> None:
    session = await start(client, plan, accounts=[plan.alice.id, "bob-7"], name="smoke")
    assert session["status"] == "ON" and session["source"] == "push"
    listed = (await client.get(f"{API}/sessions", params={"project": plan.project.id})).json()
    assert listed["pager"]["totalRow"] == 1
    assert (listed["data"][0]["accounts"], listed["data"][0]["events"]) == (2, 1)

    # Update replaces what is watched; a story stands for its events.
    answer = await client.post(
        f"{API}/update", json={"record": session["id"], "stories": [plan.search_story.id]}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["revision"] > session["revision"]
    report = await send(client, plan, {"event": "search_submit", "userId": "bob-7"})
    assert report["stored"] == 1

    answer = await client.post(f"{API}/stop", params={"record": session["id"]})
    assert answer.json()["status"] == "OFF" and answer.json()["stopReason"] == "stopped"
    again = await client.post(f"{API}/stop", params={"record": session["id"]})
    assert again.status_code == 200 and again.json()["stoppedAt"] == answer.json()["stoppedAt"]
    assert (await send(client, plan, alice_log()))["unmatched"] == 1
    refused = await client.post(f"{API}/update", json={"record": session["id"], "events": []})
    assert refused.status_code == 400 and "stopped" in refused.json()["msg"]
    detail = (await client.get(f"{API}/session", params={"record": session["id"]})).json()
    assert (detail["logs"], detail["events"], detail["accounts"]) == (1, 1, 2)


@pytest.mark.parametrize(
    ("body", "status", "names"),
    [
        ({"accounts": []}, 400, ["accounts", "at least one"]),
        ({"accounts": ["nobody", 99999]}, 400, ["'nobody'", "99999"]),
        ({"accounts": [True]}, 400, ["accounts"]),
        ({"events": [99998, 99999]}, 400, ["99998, 99999"]),
        ({"events": []}, 400, ["at least one event"]),
        ({"events": None, "stories": [99999]}, 400, ["stories", "99999"]),
        ({"project": 99999}, 400, ["no project with id 99999"]),
        ({"project": "1"}, 400, ["project"]),
        ({"limitS": 10**9}, 400, ["REALTIME_LIMIT"]),
        ({"source": "kafka"}, 400, ["push, jet"]),
        ({"source": "jet"}, 400, ["Jet is not configured"]),
    ],
)
async def test_start_refuses_bad_input_naming_it(plan, client, body, status, names) -> None:
    full = {"project": plan.project.id, "accounts": ["alice-42"], "events": [plan.play.id]}
    answer = await client.post(f"{API}/start", json=full | body)
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == 2
    for name in names:
        assert name in answer.json()["msg"]
    assert await TestSession.all().count() == 0


async def test_two_watched_events_with_one_name_are_refused(plan, client) -> None:
    other = await Story.create(project=plan.project, name="Other")
    twin = await Event.create(story=other, name="play_click")
    answer = await client.post(
        f"{API}/start",
        json={"project": plan.project.id, "accounts": ["alice-42"],
              "events": [plan.play.id, twin.id]},
    )  # fmt: skip
    assert answer.status_code == 400
    assert "'play_click'" in answer.json()["msg"] and str(twin.id) in answer.json()["msg"]
    assert answer.json()["details"][0]["names"] == ["play_click"]
    assert await TestSession.all().count() == 0


async def test_malformed_requests(plan, client) -> None:
    answer = await client.post(f"{API}/start", content=b"{nope")
    assert answer.status_code == 400 and "not valid JSON" in answer.json()["msg"]
    assert (await client.get(f"{API}/getLog")).status_code == 400
    assert (await client.get(f"{API}/getLog", params={"record": "x"})).status_code == 400
    missing = await client.get(f"{API}/getResult", params={"record": 424242})
    assert missing.status_code == 404 and missing.json()["code"] == 3


async def test_get_log_newest_first_and_clear_hides_but_keeps_results(plan, client) -> None:
    session = await start(client, plan)
    await send(client, plan, alice_log("home"), alice_log("nowhere"))
    logs = (await client.get(f"{API}/getLog", params={"record": session["id"]})).json()
    assert logs["pager"]["totalRow"] == 2
    newest = logs["data"][0]
    page = next(f for f in newest["fields"] if f["key"] == "event_info.current_page_name")
    assert (page["value"], page["verdict"], page["found"]) == ("nowhere", "FAIL", True)
    assert logs["data"][0]["id"] > logs["data"][1]["id"]

    cleared = await client.post(f"{API}/clearLog", params={"record": session["id"]})
    assert cleared.json()["cleared"] == 2
    logs = (await client.get(f"{API}/getLog", params={"record": session["id"]})).json()
    assert logs["data"] == [] and await EventLog.all().count() == 2
    result = (await client.get(f"{API}/getResult", params={"record": session["id"]})).json()
    cell = _cell(result, plan.f("event_info.current_page_name"), "iOS")
    assert cell["verdict"] == "FAIL" and cell["from"] == "log"


def _cell(result, field_id, platform):
    for event in result["data"]:
        for field in event["fields"]:
            if field["id"] == field_id:
                return field["results"][platform]
    raise AssertionError(f"field {field_id} not in results")


async def test_override_then_newer_log_then_reset(plan, client) -> None:
    session = await start(client, plan, accounts=["alice-42", "bob-7"])
    record, page = session["id"], plan.f("event_info.current_page_name")
    await send(client, plan, alice_log("nowhere"))
    result = (await client.get(f"{API}/getResult", params={"record": record})).json()
    assert _cell(result, page, "iOS")["verdict"] == "FAIL"
    assert _cell(result, page, "Android")["verdict"] == "UNTESTED"

    answer = await client.post(
        f"{API}/updateResult",
        json={"record": record, "fields": [
            {"id": page, "results": {"iOS": "SUCCESS"}, "reason": "new page, plan is late"}]},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    result = (await client.get(f"{API}/getResult", params={"record": record})).json()
    cell = _cell(result, page, "iOS")
    assert (cell["verdict"], cell["from"], cell["reason"]) == (
        "SUCCESS", "override", "new page, plan is late",
    )  # fmt: skip

    await send(client, plan, alice_log("nowhere"))  # a newer log wins over the override
    result = (await client.get(f"{API}/getResult", params={"record": record})).json()
    assert _cell(result, page, "iOS")["verdict"] == "FAIL"

    await send(client, plan, play_log(page="home", os="Android", user_id="bob-7"))
    answer = await client.post(
        f"{API}/updateResult", json={"record": record, "event": plan.play.id}
    )
    assert answer.status_code == 200
    result = (await client.get(f"{API}/getResult", params={"record": record})).json()
    for platform in ("iOS", "Android", "Other"):
        assert _cell(result, page, platform)["verdict"] == "UNTESTED"
    assert _cell(result, page, "iOS")["from"] == "reset"
    # Coverage survives a reset: it is what was seen, not a verdict.
    field = next(f for f in result["data"][0]["fields"] if f["id"] == page)
    assert field["coverage"]["Android"]["seen"] == ["home"]
    assert field["coverage"]["Android"]["missing"] == ["player"]

    await send(client, plan, alice_log("player"))
    result = (await client.get(f"{API}/getResult", params={"record": record})).json()
    assert _cell(result, page, "iOS")["verdict"] == "SUCCESS"
    assert _cell(result, page, "Android")["verdict"] == "UNTESTED"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "fields"),
        ({"fields": [{"id": 1, "results": {"iOS": "OK"}}]}, "SUCCESS, FAIL"),
        ({"fields": [{"id": "x", "results": {"iOS": "FAIL"}}]}, "fields[0].id"),
        ({"fields": [{"id": 0, "results": [{"platform": "Win", "verdict": "FAIL"}]}]}, "Win"),
        ({"fields": [{"id": 999999, "results": {"iOS": "FAIL"}}]}, "999999"),
        ({"event": 999999}, "not watched"),
        ({"event": 1, "fields": []}, "not both"),
    ],
)
async def test_update_result_refuses_bad_input(plan, client, body, message) -> None:
    session = await start(client, plan)
    if body.get("fields") and body["fields"][0]["id"] == 1:
        body["fields"][0]["id"] = plan.f("content_info.type")
    answer = await client.post(f"{API}/updateResult", json={"record": session["id"], **body})
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["msg"]
