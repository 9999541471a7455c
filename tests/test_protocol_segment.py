"""Segment and RudderStack, completely: the real Python SDKs, every call path, their limits.

The SDKs (segment-analytics-python, rudder-sdk-python from PyPI, unmodified) post
to a live session; verdicts are read back through /api/v3/realTime/getLog, and
each SDK's own log line ("data uploaded successfully") says it was delivered.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging

import pytest

from tests.support.protocols import logs_of, run_sdk, start_session, stored, verdict_of


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


async def test_segment_sdk_track_page_and_screen_are_judged(db, client, live_server, caplog):
    from segment.analytics.client import Client

    plan = await start_session(client, "Home", "Player")
    errors: list = []
    sdk = Client(
        plan.project.write_key, host=live_server.url, sync_mode=True, gzip=True,
        max_retries=0, on_error=lambda error, items: errors.append(error),
    )  # fmt: skip

    def send() -> None:
        ios = {"os": {"name": "iOS"}, "library": {"name": "analytics-ios"}}
        sdk.track("alice-42", "play_click", {"event_info": {"current_page_name": "home"}}, ios)
        sdk.page("alice-42", "Docs", "Home", {"page_name": "home"})  # right
        sdk.screen("alice-42", None, "Player", {"page_name": "nowhere"},  # wrong value
                   {"device": {"type": "android"}})  # fmt: skip
        sdk.identify("alice-42", {"plan": "free"})  # not an event

    with caplog.at_level(logging.DEBUG, logger="segment"):
        await run_sdk(send)
    assert errors == []
    assert caplog.text.count("data uploaded successfully") == 4
    logs = {log["name"]: log for log in await logs_of(client, plan, 3)}
    assert set(logs) == {"play_click", "Home", "Player"}
    assert verdict_of(logs["play_click"], "event_info.current_page_name") == "SUCCESS"
    assert logs["play_click"]["platform"] == "iOS"
    assert verdict_of(logs["Home"], "page_name") == "SUCCESS"
    assert logs["Home"]["platform"] == "Other"
    assert verdict_of(logs["Player"], "page_name") == "FAIL"
    assert logs["Player"]["platform"] == "Android"  # from context.device.type


async def test_rudderstack_sdk_posts_batches_with_basic_auth(db, client, live_server, caplog):
    from rudderstack.analytics.client import Client

    plan = await start_session(client)
    errors: list = []
    sdk = Client(
        plan.project.write_key, host=live_server.url, sync_mode=True, gzip=True,
        max_retries=0, on_error=lambda error, items: errors.append(error),
    )  # fmt: skip

    def send() -> None:
        sdk.track("alice-42", "play_click", {"event_info": {"current_page_name": "home"}},
                  {"os": {"name": "Android"}})  # fmt: skip
        sdk.track("alice-42", "play_click", {"event_info": {"current_page_name": "bad"}},
                  {"os": {"name": "Android"}})  # fmt: skip

    with caplog.at_level(logging.DEBUG, logger="rudderstack"):
        await run_sdk(send)
    assert errors == []
    assert caplog.text.count("data uploaded successfully") == 2
    logs = await logs_of(client, plan, 2)
    verdicts = sorted(verdict_of(log, "event_info.current_page_name") for log in logs)
    assert verdicts == ["FAIL", "SUCCESS"]
    assert {log["platform"] for log in logs} == {"Android"}


async def test_rudderstack_sdk_with_a_wrong_key_is_told(db, client, live_server):
    from rudderstack.analytics.client import Client
    from rudderstack.analytics.request import APIError

    await start_session(client)
    sdk = Client("not-our-key", host=live_server.url, sync_mode=True, max_retries=0)
    with pytest.raises(APIError) as caught:  # sync mode raises what the server said
        await run_sdk(lambda: sdk.track("alice-42", "play_click", {}))
    assert caught.value.status == 401 and "unknown write key" in caught.value.message
    assert await stored() == 0


@pytest.mark.parametrize("short", ["t", "p", "s"])
async def test_short_paths_take_text_plain_gzip_with_the_key_in_the_body(db, client, short):
    plan = await start_session(client, "Home")
    call = {"t": {"event": "play_click"}, "p": {"name": "Home"}, "s": {"name": "Home"}}[short]
    body = {**call, "userId": "alice-42", "writeKey": plan.project.write_key,
            "properties": {"page_name": "home"}}  # fmt: skip
    answer = await client.post(
        f"/v1/{short}",
        content=gzip.compress(json.dumps(body).encode()),
        headers={"Content-Type": "text/plain", "Content-Encoding": "gzip"},
    )
    assert answer.status_code == 200 and answer.json() == {"success": True}, answer.text
    (log,) = await logs_of(client, plan, 1)
    assert "writeKey" not in log["payload"]  # a credential is never stored


async def test_the_key_per_event_and_a_conflicting_one(db, client):
    plan = await start_session(client)
    key = plan.project.write_key
    track = {"type": "track", "event": "play_click", "userId": "alice-42"}
    # As analytics-android sends it: the platform from context.library.name alone.
    android = {**track, "context": {"library": {"name": "analytics-android"}}, "writeKey": key}
    answer = await client.post("/v1/b", json={"batch": [android]})
    assert answer.status_code == 200, answer.text
    assert (await logs_of(client, plan, 1))[0]["platform"] == "Android"
    answer = await client.post(
        "/v1/b", json={"batch": [{**track, "writeKey": "other", "messageId": "x"}]},
        headers=basic(key),
    )  # fmt: skip
    assert answer.status_code == 400 and answer.json()["success"] is False
    assert "different write keys" in answer.json()["msg"]
    assert await stored() == 1


async def test_segment_limits_32_kb_a_call_and_500_kb_a_batch(db, client):
    plan = await start_session(client)
    headers = basic(plan.project.write_key)
    big_call = {"type": "track", "event": "play_click", "userId": "alice-42",
                "properties": {"pad": "x" * 33_000}}  # fmt: skip
    answer = await client.post("/v1/t", json=big_call, headers=headers)
    assert answer.status_code == 400 and "32 KB" in answer.json()["msg"]
    answer = await client.post("/v1/batch", json={"batch": [big_call]}, headers=headers)
    assert answer.status_code == 400 and "batch[0]: over Segment's limit of 32 KB" in answer.text
    calls = [{**big_call, "properties": {"pad": "x" * 30_000}}] * 18  # 540 KB
    answer = await client.post("/v1/batch", json={"batch": calls}, headers=headers)
    assert answer.status_code == 400 and "500 KB" in answer.json()["msg"]
    assert await stored() == 0


async def test_settings_documents_for_analytics_js_and_rudderstack(db, client):
    plan = await start_session(client)
    key = plan.project.write_key
    for path in (f"/v1/projects/{key}/settings", f"/projects/{key}/settings"):
        answer = await client.get(path)
        assert answer.status_code == 200, answer.text
        segment_io = answer.json()["integrations"]["Segment.io"]
        assert segment_io["apiKey"] == key
        assert segment_io["apiHost"] == client.base_url.netloc.decode() + "/v1"
        assert answer.headers["access-control-allow-origin"] == "*"
    assert (await client.get("/v1/projects/nope/settings")).status_code == 401
    config = await client.get("/sourceConfig/", params={"p": "npm", "v": "3"}, headers=basic(key))
    assert config.status_code == 200
    assert config.json()["source"] | {"destinations": []} == config.json()["source"]
    assert config.json()["source"]["writeKey"] == key
    assert (await client.get("/sourceConfig", params={"writeKey": "nope"})).status_code == 401
