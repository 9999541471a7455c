"""`trackmaster check` as a process (the venv's executable, by path) against a real server."""

from __future__ import annotations

import asyncio
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest

from tests.conftest import running_app
from tests.support.access import api_token_for, create_personas, secured
from tests.support.realtime import make_plan, play_log

TRACKMASTER = Path(sys.executable).parent / "trackmaster"


@pytest.fixture
async def plan(db):
    return await make_plan()


async def run_check(*args: str, timeout_s: float = 60) -> tuple[int, str, str]:
    """Run it without blocking this loop: the server under test lives in it."""
    env = {k: v for k, v in os.environ.items() if k != "TRACKMASTER_TOKEN"}
    process = await asyncio.create_subprocess_exec(
        str(TRACKMASTER), "check", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout_s)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def start(http: httpx.AsyncClient, plan, events=("play_click",)) -> tuple[int, str]:
    answer = await http.post(
        "/api/v3/sessions",
        json={"project": plan.project.id, "accounts": ["alice-42"], "events": list(events)},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["id"], answer.json()["writeKey"]


async def send(http: httpx.AsyncClient, key: str, *logs: dict) -> None:
    answer = await http.post("/collect", json=list(logs), headers={"X-Write-Key": key})
    assert answer.status_code == 200, answer.text


def alice(page: str = "home", **extra) -> dict:
    return play_log(page=page, user_id="alice-42", **extra)


async def test_passing_failing_and_incomplete(plan, client, live_server, tmp_path) -> None:
    good, key = await start(client, plan)
    await send(client, key, alice("home", page_infos={"id": "1"}), alice("player"))
    junit = tmp_path / "out" / "good.xml"
    code, out, err = await run_check(
        "--url", live_server.url, "--session", str(good), "--wait-s", "5", "--junit", str(junit)
    )
    assert code == 0, (out, err)
    assert "PASSED" in out and f"JUnit report written to {junit}" in out
    # An unplanned property is printed, and passes: the plan cannot say it is wrong.
    assert "unplanned play_click · iOS · page_infos x1 (did you mean page_info?)" in out
    root = ET.parse(junit).getroot()
    assert root.get("failures") == "0"
    assert {c.get("name") for c in root.iter("testcase")} == {"caught", "iOS", "Android", "Other"}

    bad, key = await start(client, plan)
    await send(client, key, alice("nowhere\x1b[2J"), alice("home"))
    junit, table = tmp_path / "bad.xml", tmp_path / "bad.csv"
    code, out, err = await run_check(
        "--url", live_server.url, "--session", str(bad), "--wait-s", "5",
        "--junit", str(junit), "--csv", str(table),
    )  # fmt: skip
    assert code == 1, (out, err)
    assert "FAILED" in out and "event_info.current_page_name" in out
    assert "\x1b" not in out and "\\x1b[2J" in out  # a hostile value cannot drive the terminal
    ios = next(c for c in ET.parse(junit).getroot().iter("testcase") if c.get("name") == "iOS")
    assert "FAIL in 1 of 2" in ios.find("failure").get("message")
    assert table.read_text().startswith("session,project,")

    unseen, _ = await start(client, plan, events=("play_click", "share_click"))
    started = asyncio.get_running_loop().time()
    code, out, err = await run_check(
        "--url", live_server.url, "--session", str(unseen), "--wait-s", "1.5"
    )
    assert code == 3, (out, err)
    assert "never seen: play_click, share_click" in out and "INCOMPLETE" in out
    assert asyncio.get_running_loop().time() - started >= 1.5


async def test_it_waits_for_events_sent_while_it_runs(plan, client, live_server) -> None:
    session, key = await start(client, plan, events=("play_click", "share_click"))
    started = asyncio.get_running_loop().time()
    checking = asyncio.create_task(
        run_check("--url", live_server.url, "--session", str(session), "--wait-s", "30",
                  "--poll-s", "0.2")
    )  # fmt: skip
    await asyncio.sleep(1.0)
    assert not checking.done()
    await send(client, key, alice("home"))
    await send(
        client, key,
        {"$os": "iOS", "user_id": "alice-42", "event_info": {"event": "share_click"},
         "share": {"channel": "wechat"}},
    )  # fmt: skip
    code, out, err = await checking
    assert code == 0, (out, err)
    assert asyncio.get_running_loop().time() - started < 20  # it did not wait out the 30 s


async def test_a_stopped_session_is_not_waited_for(plan, client, live_server) -> None:
    session, _ = await start(client, plan, events=("play_click", "share_click"))
    answer = await client.post("/api/v3/realTime/stop", params={"record": session})
    assert answer.status_code == 200, answer.text
    started = asyncio.get_running_loop().time()
    code, out, err = await run_check("--url", live_server.url, "--session", str(session),
                                     "--wait-s", "60")  # fmt: skip
    assert code == 3, (out, err)
    assert asyncio.get_running_loop().time() - started < 30  # nothing more can come


async def test_start_mode_prints_id_and_write_key(plan, client, live_server) -> None:
    process = await asyncio.create_subprocess_exec(
        str(TRACKMASTER), "check", "--url", live_server.url, "--project", str(plan.project.id),
        "--accounts", "ci-1", "--create-accounts", "--events", "play_click",
        "--wait-s", "30", "--poll-s", "0.2",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    first = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
    second = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
    session_id = int(first.split()[1])
    key = second.split()[-1]
    assert key == plan.project.write_key
    await send(client, key, play_log(page="nowhere", user_id="ci-1"))
    rest, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 1, (rest, err)
    assert f"TrackMaster session {session_id}" in rest.decode()


async def test_login_required_needs_a_token(settings, plan, tmp_path) -> None:
    await create_personas()
    async with running_app(secured(settings)) as server:
        token = await api_token_for("tess")
        async with httpx.AsyncClient(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        ) as http:
            session, key = await start(http, plan)
            await send(http, key, alice("home"))
        code, out, err = await run_check("--url", server.url, "--session", str(session))
        assert code == 4 and "--token" in err, (out, err)
        code, out, err = await run_check(
            "--url", server.url, "--session", str(session), "--token", "tm_wrong" + "x" * 30
        )
        assert code == 4 and "refused" in err
        code, out, err = await run_check(
            "--url", server.url, "--session", str(session), "--token", token, "--wait-s", "5"
        )
        assert code == 0, (out, err)
        code, out, err = await run_check(
            "--url", server.url, "--session", "999999", "--token", token
        )
        assert code == 4 and "999999" in err
    code, out, err = await run_check("--url", server.url, "--session", "1", "--wait-s", "0")
    assert code == 4 and "cannot reach" in err
