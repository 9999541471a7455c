"""The CI API under /api/v3/sessions over real HTTP, on SQLite and MariaDB: start in one
call, counts, caught events filtered and paged newest first, reset (audited)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.realtime import make_plan, play_log
from trackmaster.models import (
    Account,
    AuditEntry,
    CellValue,
    EventLog,
    ResultCell,
    TestSession,
    VerdictOverride,
)

API = "/api/v3/sessions"


@pytest.fixture
async def plan(db):
    return await make_plan()


async def start(client, plan, **body) -> dict:
    body = {"project": plan.project.id, "accounts": ["alice-42", "bob-7"], **body}
    body.setdefault("events", ["play_click", "share_click"])
    answer = await client.post(API, json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def send(client, write_key: str, *logs) -> None:
    answer = await client.post("/collect", json=list(logs), headers={"X-Write-Key": write_key})
    assert answer.status_code == 200, answer.text


def log(user: str, page: str = "home", os: str = "iOS", **extra) -> dict:
    return play_log(page=page, os=os, user_id=user, **extra)


async def test_start_in_one_call_with_names_and_new_accounts(plan, client) -> None:
    started = await start(client, plan, accounts=["ci-runner-1"], createAccounts=True)
    assert started["writeKey"] == plan.project.write_key
    assert started["session"]["status"] == "ON" and started["id"] == started["session"]["id"]
    assert await Account.exists(project_id=plan.project.id, user_id="ci-runner-1")
    await send(client, started["writeKey"], log("ci-runner-1"))
    counts = (await client.get(f"{API}/{started['id']}/counts")).json()
    assert counts["events"] == {"all": 1, "good": 1, "bad": 0}
    assert counts["unseen"] == ["share_click"] and counts["verdict"] == "incomplete"


async def test_bad_starts_say_why_and_store_nothing(plan, client) -> None:
    for body, named in (
        ({"events": ["no_such_event"]}, "no_such_event"),
        ({"accounts": ["nobody"]}, "nobody"),
        ({"accounts": ["new-one"], "events": ["nope"], "createAccounts": True}, "nope"),
        ({"project": "1"}, "project"),
        ({"createAccounts": "yes"}, "createAccounts"),
        # Refused by the start itself, after the new account was added: rolled back with it.
        ({"accounts": ["new-two"], "createAccounts": True, "limitS": -1}, "limitS"),
        # A project that does not exist: its new account failed a foreign key (a 500).
        ({"project": 987654, "accounts": ["new-three"], "createAccounts": True}, "987654"),
    ):
        answer = await client.post(
            API, json={"project": plan.project.id, "accounts": ["alice-42"],
                       "events": ["play_click"], **body},
        )  # fmt: skip
        assert answer.status_code == 400, (body, answer.text)
        assert named in answer.json()["msg"], answer.text
    assert await TestSession.all().count() == 0
    assert not await Account.filter(user_id__in=["new-one", "new-two", "new-three"]).exists()


async def test_counts_and_filters(plan, client) -> None:
    started = await start(client, plan)
    sid, key = started["id"], started["writeKey"]
    await send(client, key, log("alice-42", "home"), log("alice-42", "nowhere"))
    await asyncio.sleep(0.05)
    middle = datetime.now(UTC)
    await asyncio.sleep(0.05)
    await send(
        client, key, log("bob-7", "player", os="Android"), log("bob-7", "nowhere", os="Android"),
        log("alice-42", "player"),
    )  # fmt: skip
    counts = (await client.get(f"{API}/{sid}/counts")).json()
    assert counts["events"] == {"all": 5, "good": 3, "bad": 2}
    assert counts["cells"]["bad"] == 2 and counts["cells"]["all"] == 12  # 4 fields x 3
    assert counts["verdict"] == "failed" and counts["unseen"] == ["share_click"]

    async def ids(**params) -> list[int]:
        answer = await client.get(f"{API}/{sid}/events", params=params)
        assert answer.status_code == 200, answer.text
        return [row["id"] for row in answer.json()["data"]]

    everything = await ids()
    assert everything == sorted(everything, reverse=True) and len(everything) == 5
    by_id = {row["id"]: row for row in (await client.get(f"{API}/{sid}/events")).json()["data"]}
    assert {by_id[i]["userId"] for i in await ids(user="bob-7")} == {"bob-7"}
    assert len(await ids(user="bob-7")) == 2
    assert {by_id[i]["platform"] for i in await ids(platform="android")} == {"Android"}
    bad = await ids(verdict="bad")
    assert len(bad) == 2 and all(by_id[i]["verdict"] == "bad" for i in bad)
    assert len(await ids(verdict="good", platform="iOS")) == 2
    assert len(await ids(event="play_click")) == 5 and await ids(event="share_click") == []
    assert len(await ids(since=middle.isoformat())) == 3
    assert len(await ids(until=middle.isoformat())) == 2
    future = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert await ids(since=future) == []
    # Paged, newest first, with the total of the filtered rows.
    page = (await client.get(f"{API}/{sid}/events", params={"pageSize": 2, "page": 2})).json()
    assert [row["id"] for row in page["data"]] == everything[2:4]
    assert page["pager"]["totalRow"] == 5
    page = (
        await client.get(
            f"{API}/{sid}/events", params={"verdict": "good", "pageSize": 2, "page": 2}
        )
    ).json()
    assert page["pager"]["totalRow"] == 3 and len(page["data"]) == 1
    for params, named in (
        ({"verdict": "meh"}, "verdict"), ({"platform": "Windows"}, "platform"),
        ({"since": "yesterday"}, "since"),
        ({"since": future, "until": middle.isoformat()}, "until"),
        ({"pageSize": 0}, "pageSize"),
    ):  # fmt: skip
        answer = await client.get(f"{API}/{sid}/events", params=params)
        assert answer.status_code == 400 and named in answer.json()["msg"], answer.text
    assert (await client.get(f"{API}/999999/events")).status_code == 404


async def test_reset_forgets_everything_and_is_audited(plan, client) -> None:
    started = await start(client, plan)
    sid, key = started["id"], started["writeKey"]
    again = log("alice-42", "nowhere", messageId="m-1")
    await send(client, key, again, log("alice-42", "home", messageId="m-2"))
    answer = await client.post(
        "/api/v3/realTime/updateResult",
        json={"record": sid, "fields": [
            {"id": plan.f("page_info.id"), "results": {"iOS": "SUCCESS"}, "reason": "ok"}]},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    answer = await client.post(f"{API}/{sid}/reset")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"session": sid, "removed": {"logs": 2, "coverage": 1, "overrides": 1}}
    assert await EventLog.filter(session_id=sid).count() == 0
    assert await VerdictOverride.filter(session_id=sid).count() == 0
    # The cells counted the deleted logs: they are gone with them.
    assert await ResultCell.filter(session_id=sid).count() == 0
    assert await CellValue.filter(session_id=sid).count() == 0
    counts = (await client.get(f"{API}/{sid}/counts")).json()
    assert counts["events"] == {"all": 0, "good": 0, "bad": 0}
    assert counts["cells"]["bad"] == 0 and counts["cells"]["untested"] == 12
    entry = await AuditEntry.get(action="session.reset")
    assert entry.target == f"session:{sid}" and entry.details["logs"] == 2
    # A clean run: the same message id is caught again, and coverage starts over.
    await send(client, key, again)
    counts = (await client.get(f"{API}/{sid}/counts")).json()
    assert counts["events"] == {"all": 1, "good": 0, "bad": 1}
    report = (await client.get(f"{API}/{sid}/report")).json()
    coverage = {(c["field"], c["platform"]): c for c in report["coverage"]}
    assert coverage[("event_info.current_page_name", "iOS")]["seen"] == []
    assert report["overrides"] == []


async def test_report_formats_over_the_api(plan, client) -> None:
    started = await start(client, plan)
    await send(client, started["writeKey"], log("alice-42", "nowhere"))
    sid = started["id"]
    report = (await client.get(f"{API}/{sid}/report")).json()
    assert report["verdict"] == "failed" and report["project"]["id"] == plan.project.id
    failing = [c for c in report["cells"] if c["verdict"] == "FAIL"]
    assert [(c["field"], c["wrongValues"][0]["value"]) for c in failing] == [
        ("event_info.current_page_name", '"nowhere"')
    ]
    csv_answer = await client.get(f"{API}/{sid}/report.csv")
    assert csv_answer.status_code == 200 and csv_answer.text.startswith("session,project,")
    xml = await client.get(f"{API}/{sid}/report.xml")
    assert xml.status_code == 200 and xml.headers["content-type"] == "application/xml"


async def test_the_openapi_document_describes_the_ci_api(client) -> None:
    document = (await client.get("/api/v3/openapi.json")).json()
    for path in (
        "/api/v3/sessions",
        "/api/v3/sessions/{session_id}/events",
        "/api/v3/sessions/{session_id}/reset",
        "/api/v3/sessions/{session_id}/counts",
    ):
        assert path in document["paths"], sorted(document["paths"])
    start_op = document["paths"]["/api/v3/sessions"]["post"]
    assert start_op["requestBody"]["content"]["application/json"]["example"]["createAccounts"]
    assert document["components"]["schemas"]["CiCounts"]["example"]["verdict"] == "failed"


async def test_reset_tells_live_pages_every_cell_changed(plan, client, live_server) -> None:
    from tests.support.report_session import realtime_of
    from trackmaster.sessions.publish import channel

    started = await start(client, plan)
    await send(client, started["writeKey"], log("alice-42", "nowhere"))
    bus = realtime_of(live_server).bus
    async with bus.subscribe(channel(started["id"])) as subscription:
        assert (await client.post(f"{API}/{started['id']}/reset")).status_code == 200
        cleared = await asyncio.wait_for(subscription.get(), 5)
        results = await asyncio.wait_for(subscription.get(), 5)
    assert (cleared["type"], cleared["cleared"]) == ("cleared", 1)
    assert results["type"] == "results" and len(results["changed"]) == 12
    assert results["revision"] == cleared["revision"]


async def test_a_value_spelling_fail_does_not_make_an_event_bad(plan, client) -> None:
    started = await start(client, plan)
    sid = started["id"]
    tricky = log("alice-42", "home", page_info={"id": '"FAIL"'}, content_info={"type": "EPISODE"})
    await send(client, started["writeKey"], tricky, log("alice-42", "nowhere"))
    rows = (await client.get(f"{API}/{sid}/events", params={"verdict": "good"})).json()["data"]
    assert len(rows) == 1 and '\\"FAIL\\"' in rows[0]["payload"]
    bad = (await client.get(f"{API}/{sid}/events", params={"verdict": "bad"})).json()
    assert bad["pager"]["totalRow"] == 1
    assert bad["data"][0]["verdict"] == "bad" and "nowhere" in bad["data"][0]["payload"]
