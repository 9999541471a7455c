"""The push endpoints over real HTTP: each format stored, and every kind of bad input refused."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json

import httpx
import pytest

from tests.conftest import running_app
from tests.support.realtime import make_plan, play_log
from trackmaster.models import EventLog, Platform, UnmatchedEvent


@pytest.fixture
async def live(db, client):
    """A plan and a live session of alice watching play_click and search_submit."""
    plan = await make_plan()
    answer = await client.post(
        "/api/v3/realTime/start",
        json={"project": plan.project.id, "accounts": ["alice-42"],
              "events": [plan.play.id, plan.search.id]},
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    plan.session_id = answer.json()["id"]
    return plan


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def sdk_event(name="play_click", user="alice-42", **extra) -> dict:
    event = {
        "event": name,
        "userId": user,
        "platform": "Android",
        "properties": {"event_info": {"current_page_name": "player"}, "page_info": {"id": "9"}},
    }
    event.update(extra)
    return event


async def test_collect_stores_a_raw_log_with_its_verdicts(live, client) -> None:
    answer = await client.post(
        "/collect",
        json=play_log(user_id="alice-42"),
        headers={"X-Write-Key": live.project.write_key},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"success": True, "received": 1, "stored": 1, "duplicates": 0,
                             "unmatched": 0}  # fmt: skip
    log = await EventLog.get(session_id=live.session_id)
    assert (log.name, log.user_id, log.platform, log.source) == (
        "play_click", "alice-42", Platform.IOS, "collect",
    )  # fmt: skip
    assert log.verdicts[str(live.f("content_info.type"))][0] == "SUCCESS"


async def test_collect_takes_a_list_in_the_sdk_shape_gzipped_as_text_plain(live, client) -> None:
    body = [sdk_event(messageId="a"), sdk_event(messageId="b"), sdk_event("search_submit")]
    answer = await client.post(
        f"/collect?writeKey={live.project.write_key}",
        content=gzip.compress(json.dumps(body).encode()),
        headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["stored"] == 3
    logs = await EventLog.filter(session_id=live.session_id).order_by("id")
    assert [log.platform for log in logs] == [Platform.ANDROID] * 3
    page_field = str(live.f("event_info.current_page_name"))
    assert logs[0].field_values[page_field] == "player"


async def test_segment_batch_with_basic_auth_and_track_with_body_key(live, client) -> None:
    batch = {
        "batch": [
            {"type": "track", "event": "play_click", "userId": "alice-42", "messageId": "s1",
             "properties": {"content_info": {"type": "MOVIE"}},
             "context": {"os": {"name": "iOS"}}},
            {"type": "identify", "userId": "alice-42", "messageId": "s2"},
        ],
        "sentAt": "2026-01-01T00:00:00Z",
    }  # fmt: skip
    answer = await client.post("/v1/batch", json=batch, headers=basic(live.project.write_key))
    assert answer.status_code == 200 and answer.json() == {"success": True}
    short = {
        "type": "track",
        "event": "search_submit",
        "userId": "alice-42",
        "properties": {"search": {"keyword": "cats"}},
        "writeKey": live.project.write_key,
    }
    assert (await client.post("/v1/t", json=short)).status_code == 200
    logs = await EventLog.filter(session_id=live.session_id).order_by("id")
    assert [(log.name, log.source, log.platform) for log in logs] == [
        ("play_click", "segment", Platform.IOS),
        ("search_submit", "segment", Platform.OTHER),
    ]
    verdict = logs[0].verdicts[str(live.f("content_info.type"))]
    assert verdict[0] == "FAIL" and "MOVIE" in verdict[1]
    assert logs[1].field_values[str(live.f("search.keyword"))] == "cats"


async def test_amplitude_http_v2(live, client) -> None:
    body = {
        "api_key": live.project.write_key,
        "events": [
            {"event_type": "play_click", "user_id": "alice-42", "platform": "Android",
             "insert_id": "amp-1", "event_properties": {"content_info": {"type": "EPISODE"}}},
        ],
    }  # fmt: skip
    answer = await client.post("/2/httpapi", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["events_ingested"] == 1
    log = await EventLog.get(session_id=live.session_id)
    assert (log.source, log.platform, log.message_id) == ("amplitude", Platform.ANDROID, "amp-1")


async def test_the_real_segment_sdk_posts_to_us(live, live_server) -> None:
    from segment.analytics.client import Client

    errors: list = []
    sdk = Client(
        live.project.write_key, host=live_server.url, sync_mode=True, gzip=True,
        max_retries=0, on_error=lambda error, items: errors.append(error),
    )  # fmt: skip

    def send() -> None:
        sdk.track(
            user_id="alice-42",
            event="play_click",
            properties={"event_info": {"current_page_name": "home"}},
            context={"os": {"name": "Android"}},
        )
        sdk.identify(user_id="alice-42", traits={"plan": "free"})

    await asyncio.to_thread(send)
    assert errors == []
    log = await EventLog.get(session_id=live.session_id)
    assert (log.source, log.platform, log.name) == ("segment", Platform.ANDROID, "play_click")
    assert log.message_id  # the SDK's messageId, for de-duplication
    assert log.verdicts[str(live.f("event_info.current_page_name"))][0] == "SUCCESS"


async def test_a_resent_message_id_is_stored_once(live, client) -> None:
    headers = {"X-Write-Key": live.project.write_key}
    for _ in range(2):
        answer = await client.post("/collect", json=[sdk_event(messageId="same")], headers=headers)
        assert answer.status_code == 200
    assert answer.json()["duplicates"] == 1
    assert await EventLog.filter(session_id=live.session_id).count() == 1


async def test_unmatched_events_are_binned_and_listed(live, client) -> None:
    headers = {"X-Write-Key": live.project.write_key}
    body = [sdk_event(user="mallory"), sdk_event("share_click")]
    answer = await client.post("/collect", json=body, headers=headers)
    assert answer.json()["unmatched"] == 2
    listed = (await client.get(f"/api/v3/projects/{live.project.id}/unmatched")).json()
    assert listed["count"] == 2 and listed["pager"]["totalRow"] == 2
    reasons = [row["reason"] for row in listed["data"]]
    assert "not watched" in reasons[0] and "mallory" in reasons[1]
    assert await EventLog.all().count() == 0


# --- refusals: each answers clearly and stores nothing --------------------------------


async def _nothing_stored() -> None:
    assert await EventLog.all().count() == 0
    assert await UnmatchedEvent.all().count() == 0


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "write key is needed"),
        ({"X-Write-Key": "wrong"}, "unknown write key"),
        (basic("wrong"), "unknown write key"),
        ({"Authorization": "Basic !!!"}, "not valid Basic"),
    ],
)
async def test_a_missing_or_wrong_write_key_is_401(live, client, headers, message) -> None:
    track = {"type": "track", "event": "play_click", "userId": "alice-42"}
    answer = await client.post("/v1/batch", json={"batch": [track]}, headers=headers)
    assert answer.status_code == 401
    assert message in answer.json()["msg"]
    await _nothing_stored()


@pytest.mark.parametrize(
    ("path", "content", "extra", "status", "message"),
    [
        ("/collect", b'{"event": "play_click", ', {}, 400, "not valid JSON"),
        ("/collect", b"", {}, 400, "empty"),
        ("/collect", b"[1, 2]", {}, 400, "[0]"),
        ("/collect", json.dumps([sdk_event(), {"event": "x"}]).encode(), {}, 400, "[1]"),
        ("/v1/batch", b'{"batch": "nope"}', {}, 400, "batch"),
        ("/2/httpapi", b'{"events": [{}]}', {}, 400, "events[0]"),
        ("/collect", b"not gzip", {"Content-Encoding": "gzip"}, 400, "not valid gzip"),
        ("/collect", b"{}", {"Content-Encoding": "br"}, 400, "not supported"),
    ],
)
async def test_bad_bodies_are_400_and_store_nothing(
    live, client, path, content, extra, status, message
) -> None:
    headers = {"X-Write-Key": live.project.write_key, **extra}
    answer = await client.post(path, content=content, headers=headers)
    assert answer.status_code == status, answer.text
    assert message in answer.text
    await _nothing_stored()


async def test_size_and_count_limits_are_413(live, settings) -> None:
    small = settings.replace(max_body_bytes=4096, max_batch_events=5)
    async with running_app(small) as server, httpx.AsyncClient(base_url=server.url) as http:
        headers = {"X-Write-Key": live.project.write_key}
        big = json.dumps([sdk_event(padding="x" * 5000)]).encode()
        answer = await http.post("/collect", content=big, headers=headers)
        assert answer.status_code == 413 and "MAX_BODY_BYTES" in answer.json()["msg"]

        async def chunks():  # no Content-Length: the limit holds while streaming
            for _ in range(10):
                yield b" " * 1000

        answer = await http.post("/collect", content=chunks(), headers=headers)
        assert answer.status_code == 413

        bomb = gzip.compress(b"[" + b" " * 1_000_000 + b"]")
        assert len(bomb) < 4096
        answer = await http.post(
            "/collect", content=bomb, headers={**headers, "Content-Encoding": "gzip"}
        )
        assert answer.status_code == 413 and "un-gzipped" in answer.json()["msg"]

        answer = await http.post("/collect", json=[sdk_event()] * 6, headers=headers)
        assert answer.status_code == 413 and "MAX_BATCH_EVENTS" in answer.json()["msg"]
        answer = await http.post("/collect", json=[sdk_event()] * 5, headers=headers)
        assert answer.status_code == 200
    assert await EventLog.all().count() == 5
    assert await UnmatchedEvent.all().count() == 0


async def test_a_full_pool_answers_429_and_drops_nothing(live, settings) -> None:
    tight = settings.replace(workers=1, queue_size=1)
    async with running_app(tight) as server, httpx.AsyncClient(base_url=server.url) as http:
        pool = server.server.config.app.state.pool
        release = asyncio.Event()
        blocker = pool.submit("blocker", release.wait)
        await asyncio.sleep(0.05)  # the only worker takes the blocker
        headers = {"X-Write-Key": live.project.write_key}
        queued = asyncio.create_task(
            http.post("/collect", json=[sdk_event(messageId="q")], headers=headers)
        )
        for _ in range(100):  # wait until the first request's job sits in the queue
            if pool.queued == 1:
                break
            await asyncio.sleep(0.01)
        refused = await http.post("/collect", json=[sdk_event(messageId="r")], headers=headers)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "1"
        assert "busy" in refused.json()["msg"]
        release.set()
        await blocker
        assert (await queued).status_code == 200
    ids = await EventLog.all().values_list("message_id", flat=True)
    assert ids == ["q"]  # the accepted one stored, the refused one not


@pytest.mark.parametrize("path", ["/collect", "/i/v0/e", "/track"])
async def test_a_busy_pool_refuses_every_protocol_before_its_body_is_read(
    live, settings, path
) -> None:
    tight = settings.replace(workers=1, queue_size=1)
    async with running_app(tight) as server, httpx.AsyncClient(base_url=server.url) as http:
        pool = server.server.config.app.state.pool
        release = asyncio.Event()
        blocker = pool.submit("blocker", release.wait)
        for _ in range(100):  # the only worker takes the blocker
            if pool.queued == 0:
                break
            await asyncio.sleep(0.01)
        queued = pool.submit("queued", release.wait)  # the queue's one place is taken
        # No key and a body no protocol parses: read, it would be a 400 or 401, not 429.
        refused = await http.post(path, content=b"\x00 not an event", headers={})
        release.set()
        await asyncio.gather(blocker, queued)
    assert refused.status_code == 429, refused.text
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["x-content-type-options"] == "nosniff"  # the security headers too
    assert refused.headers["access-control-allow-origin"] == "*"  # browser SDKs read it
    assert await EventLog.all().count() == 0
