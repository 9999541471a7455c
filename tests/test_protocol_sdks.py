"""Amplitude, Snowplow, Mixpanel, PostHog and GA4: the real SDK clients against a live session.

Each official client (from PyPI, pinned in pyproject's dev extras, unmodified)
is pointed at the live server and sends one right and one wrong event; the
verdicts are read back through /api/v3/realTime/getLog, and the SDK's own
success callback (or its lack of an exception, where that is its contract)
says it was delivered. GA4 has no official server-side client: its documented
JSON is posted with httpx, and its debug endpoint answers from our checks.
"""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from tests.support.protocols import logs_of, run_sdk, start_session, stored, verdict_of

PAGE = "event_info.current_page_name"


def sorted_verdicts(logs: list[dict], key: str = PAGE) -> list[str]:
    return sorted(verdict_of(log, key) for log in logs)


# --- Amplitude ---------------------------------------------------------------------------


@pytest.mark.parametrize("use_batch", [False, True], ids=["httpapi", "batch"])
async def test_amplitude_sdk(db, client, live_server, use_batch):
    from amplitude import Amplitude, BaseEvent, Config

    plan = await start_session(client)
    delivered: list[tuple[str, int, str]] = []
    path = "/batch" if use_batch else "/2/httpapi"
    config = Config(
        server_url=live_server.url + path, use_batch=use_batch, flush_queue_size=10,
        min_id_length=5, callback=lambda e, code, message: delivered.append(
            (e.event_type, code, message)),
    )  # fmt: skip
    sdk = Amplitude(plan.project.write_key, config)

    def send() -> None:
        for page in ("home", "nowhere"):
            sdk.track(BaseEvent(
                event_type="play_click", user_id="alice-42", os_name="iOS", platform="iOS",
                event_properties={"event_info": {"current_page_name": page}},
            ))  # fmt: skip
        sdk.flush()
        sdk.shutdown()

    await run_sdk(send)
    assert delivered == [("play_click", 200, "Event sent successfully.")] * 2
    logs = await logs_of(client, plan, 2)
    assert sorted_verdicts(logs) == ["FAIL", "SUCCESS"]
    assert {log["platform"] for log in logs} == {"iOS"}


async def test_amplitude_answers_let_the_sdk_drop_only_the_bad_events(db, client):
    plan = await start_session(client)
    good = {"event_type": "play_click", "user_id": "alice-42"}
    body = {"api_key": plan.project.write_key,
            "events": [good, {"user_id": "alice-42"}, {**good, "time": "soon"}, {**good,
                       "user_id": "al"}], "options": {"min_id_length": 5}}  # fmt: skip
    answer = await client.post("/2/httpapi", json=body)
    assert answer.status_code == 400
    refusal = answer.json()
    assert refusal["code"] == 400
    assert refusal["events_with_missing_fields"] == {"event_type": [1]}
    assert refusal["events_with_invalid_id_lengths"] == {"user_id": [3]}
    wrong_key = await client.post("/2/httpapi", json={"api_key": "nope", "events": [good]})
    assert wrong_key.status_code == 400 and wrong_key.json()["error"].startswith("Invalid API key")
    assert await stored() == 0


async def test_amplitude_limit_is_2000_events(db, settings):
    from tests.conftest import running_app

    wide = settings.replace(max_batch_events=2000)
    async with running_app(wide) as server, httpx.AsyncClient(base_url=server.url) as http:
        plan = await start_session(http)
        event = {"event_type": "play_click", "user_id": "alice-42"}
        body = {"api_key": plan.project.write_key, "events": [event] * 2001}
        answer = await http.post("/2/httpapi", json=body)
        assert answer.status_code == 413 and answer.json()["code"] == 413
        assert "2000" in answer.json()["error"]
    assert await stored() == 0


# --- Snowplow ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["post", "get"])
async def test_snowplow_tracker(db, client, live_server, method):
    from snowplow_tracker import Emitter, SelfDescribingJson, Subject, Tracker
    from snowplow_tracker.events import SelfDescribing, StructuredEvent

    plan = await start_session(client)
    sent: list[int] = []
    failed: list = []
    emitter = Emitter(
        f"127.0.0.1:{live_server.port}", protocol="http", method=method, batch_size=1,
        on_success=lambda events: sent.append(len(events)),
        on_failure=lambda count, events: failed.append(count),
    )  # fmt: skip
    subject = Subject().set_user_id("alice-42").set_platform("mob")
    tracker = Tracker("tm", emitter, subject=subject, app_id=plan.project.write_key)
    mobile = SelfDescribingJson(
        "iglu:com.snowplowanalytics.snowplow/mobile_context/jsonschema/1-0-3",
        {"osType": "android", "osVersion": "14", "deviceManufacturer": "Google",
         "deviceModel": "Pixel 7"},
    )  # fmt: skip

    def send() -> None:
        for page in ("home", "nowhere"):
            event = SelfDescribingJson(
                "iglu:com.acme/play_click/jsonschema/1-0-0",
                {"event_info": {"current_page_name": page}},
            )
            tracker.track(SelfDescribing(event, context=[mobile]))
        # A structured event: its action names it.
        tracker.track(StructuredEvent("search", "search_submit", context=[mobile]))
        emitter.flush()

    await run_sdk(send)
    for _ in range(50):  # the emitter may flush on its own thread
        if sum(sent) >= 3 or failed:
            break
        await asyncio.sleep(0.1)
    assert failed == [] and sum(sent) == 3
    logs = await logs_of(client, plan, 3)
    plays = [log for log in logs if log["name"] == "play_click"]
    assert sorted_verdicts(plays) == ["FAIL", "SUCCESS"]
    assert {log["platform"] for log in logs} == {"Android"}  # p=mob + osType
    assert {log["name"] for log in logs} == {"play_click", "search_submit"}


async def test_snowplow_without_an_app_id_or_with_a_wrong_one(db, client):
    await start_session(client)
    event = {"e": "se", "se_ac": "play_click", "uid": "alice-42", "p": "web"}
    body = {"schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4",
            "data": [event]}  # fmt: skip
    answer = await client.post("/com.snowplowanalytics.snowplow/tp2", json=body)
    assert answer.status_code == 401
    answer = await client.get("/i", params={"e": "se", "se_ac": "x", "uid": "u", "aid": "nope"})
    assert answer.status_code == 401
    assert await stored() == 0


# --- Mixpanel ----------------------------------------------------------------------------


async def test_mixpanel_sdk_track_and_import(db, client, live_server, caplog):
    from mixpanel import Consumer, Mixpanel

    plan = await start_session(client)
    consumer = Consumer(events_url=live_server.url + "/track",
                        import_url=live_server.url + "/import", retry_limit=0)  # fmt: skip
    sdk = Mixpanel(plan.project.write_key, consumer=consumer)

    def send() -> None:
        # mixpanel-python raises MixpanelException unless the answer says {"status": 1}.
        sdk.track(
            "alice-42",
            "play_click",
            {"$os": "Android", "event_info": {"current_page_name": "home"}},
        )
        sdk.track(
            "alice-42", "play_click", {"$os": "Android", "event_info": {"current_page_name": "bad"}}
        )
        import time

        # /import authenticates by Basic auth: its api_secret is the write key here too.
        sdk.import_data(None, "alice-42", "search_submit", int(time.time()) - 60,
                        {"$os": "iOS"}, api_secret=plan.project.write_key)  # fmt: skip

    with caplog.at_level(logging.WARNING):
        await run_sdk(send)
    logs = await logs_of(client, plan, 3)
    plays = [log for log in logs if log["name"] == "play_click"]
    assert sorted_verdicts(plays) == ["FAIL", "SUCCESS"]
    assert {log["platform"] for log in plays} == {"Android"}
    assert all("token" not in log["payload"] for log in logs)


async def test_mixpanel_refusals_raise_in_the_sdk(db, client, live_server):
    from mixpanel import Consumer, Mixpanel, MixpanelException

    await start_session(client)
    sdk = Mixpanel("wrong", consumer=Consumer(events_url=live_server.url + "/track",
                                              retry_limit=0))  # fmt: skip
    with pytest.raises(MixpanelException, match="unknown write key"):
        await run_sdk(lambda: sdk.track("alice-42", "play_click", {}))
    assert await stored() == 0


async def test_mixpanel_base64_form_and_the_50_event_limit(db, client):
    import base64
    import json

    plan = await start_session(client)
    event = {"event": "play_click", "properties": {"token": plan.project.write_key,
                                                  "distinct_id": "alice-42"}}  # fmt: skip
    data = base64.b64encode(json.dumps([event]).encode()).decode()
    answer = await client.post("/track", data={"data": data})
    assert answer.status_code == 200 and answer.json() == {"status": 1, "error": None}
    data = base64.b64encode(json.dumps([event] * 51).encode()).decode()
    answer = await client.post("/track", data={"data": data})
    assert answer.status_code == 413 and answer.json()["status"] == 0
    assert await stored() == 1


# --- PostHog -----------------------------------------------------------------------------


@pytest.mark.parametrize("gzip", [False, True])
async def test_posthog_sdk(db, client, live_server, caplog, gzip):
    from posthog import Posthog

    plan = await start_session(client)
    errors: list = []
    sdk = Posthog(plan.project.write_key, host=live_server.url, sync_mode=True, gzip=gzip,
                  max_retries=0, on_error=lambda e, batch: errors.append(e),
                  enable_exception_autocapture=False)  # fmt: skip

    def send() -> None:
        for page in ("home", "nowhere"):
            sdk.capture(
                "play_click",
                distinct_id="alice-42",
                properties={"$os": "iOS", "event_info": {"current_page_name": page}},
            )
        sdk.shutdown()

    with caplog.at_level(logging.DEBUG, logger="posthog"):
        await run_sdk(send)
    assert errors == []
    assert caplog.text.count("data uploaded successfully") >= 2
    logs = await logs_of(client, plan, 2)
    assert sorted_verdicts(logs) == ["FAIL", "SUCCESS"]
    # posthog-python is a server library: it overwrites $os with the server's own (Linux).
    assert {log["platform"] for log in logs} == {"Other"}


async def test_posthog_shapes_and_refusals(db, client):
    import gzip
    import json

    plan = await start_session(client)
    key = plan.project.write_key
    event = {"event": "play_click", "properties": {"distinct_id": "alice-42", "token": key,
                                                  "$lib": "posthog-android"}}  # fmt: skip
    answer = await client.post("/e/?compression=gzip-js", content=gzip.compress(
        json.dumps([event]).encode()), headers={"Content-Type": "text/plain"})  # fmt: skip
    assert answer.status_code == 200 and answer.json() == {"status": 1}, answer.text
    (log,) = await logs_of(client, plan, 1)
    assert log["platform"] == "Android"  # from $lib
    answer = await client.post("/i/v0/e/", json={"api_key": "nope", "event": "x",
                                                 "distinct_id": "u"})  # fmt: skip
    assert answer.status_code == 401 and answer.json()["type"] == "authentication_error"
    answer = await client.post("/capture/", json={"api_key": key, "event": "x"})
    assert answer.status_code == 400 and "distinct_id" in answer.json()["detail"]
    assert await stored() == 1


# --- GA4 ---------------------------------------------------------------------------------


async def test_ga4_collect_stores_and_debug_answers_with_our_verdicts(db, client):
    plan = await start_session(client)
    query = {"measurement_id": "G-TEST", "api_secret": plan.project.write_key}
    right = {"name": "play_click", "params": {"event_info": {"current_page_name": "home"},
                                              "platform": "Android"}}  # fmt: skip
    wrong = {"name": "play_click", "params": {"event_info": {"current_page_name": "bad"},
                                              "event_infos": 1}}  # fmt: skip
    body = {"client_id": "555.1", "user_id": "alice-42", "events": [right, wrong]}

    debug = await client.post("/debug/mp/collect", params=query, json=body)
    assert debug.status_code == 200
    messages = debug.json()["validationMessages"]
    paths = [m["fieldPath"] for m in messages]
    assert f"events[1].params.{PAGE}" in paths and f"events[0].params.{PAGE}" not in paths
    assert any("FAIL" in m["description"] for m in messages)
    # A param the plan does not list is named, with its near miss; the platform is not one.
    unplanned = next(m for m in messages if m["fieldPath"] == "events[1].params.event_infos")
    assert unplanned["validationCode"] == "NAME_INVALID"
    assert "unplanned_property" in unplanned["description"]
    assert "did you mean event_info?" in unplanned["description"]
    assert "events[0].params.platform" not in paths
    assert await stored() == 0  # the debug endpoint stores nothing

    answer = await client.post("/mp/collect", params=query, json=body)
    assert answer.status_code == 204, answer.text
    logs = await logs_of(client, plan, 2)
    assert sorted_verdicts(logs) == ["FAIL", "SUCCESS"]
    assert "Android" in {log["platform"] for log in logs}

    refused = await client.post("/mp/collect", params=query, json={"events": [right]})
    assert refused.status_code == 400
    assert refused.json()["validationMessages"][0]["fieldPath"] == "client_id"
    too_many = await client.post("/mp/collect", params=query,
                                 json={**body, "events": [right] * 26})  # fmt: skip
    assert too_many.status_code == 413
    wrong_key = await client.post("/mp/collect", params={**query, "api_secret": "x"}, json=body)
    assert wrong_key.status_code == 401
    assert await stored() == 2
