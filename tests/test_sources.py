"""Every event source parsed into one CaughtEvent: real payload shapes, platforms, every error.

Pure unit tests (no database). Payloads copy what the senders really send:
Segment messages built by analytics-python itself and as analytics-ios and
analytics-android send them, Amplitude's HTTP V2 documentation example, and
the raw Jet log of DOMAIN.md.
"""

# The error table reads best one case per line, however long.
# ruff: noqa: E501

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from segment.analytics import Client as SegmentClient
from segment.analytics.request import DatetimeSerializer

from tests.support.json_strategies import json_values
from trackmaster.checks import FieldRule, check_event
from trackmaster.errors import InvalidParams
from trackmaster.models import Platform, Verdict
from trackmaster.sources import (
    MAX_BATCH_EVENTS,
    MAX_NAME_CHARS,
    MAX_USER_ID_CHARS,
    CaughtEvent,
    Parsed,
    detect_platform,
)
from trackmaster.sources._common import TooManyEvents, parse_time
from trackmaster.sources.amplitude import parse_amplitude
from trackmaster.sources.collect import parse_collect
from trackmaster.sources.jet import parse_jet_log
from trackmaster.sources.segment import parse_segment

# --- realistic payloads ----------------------------------------------------------------

RAW_LOG = {
    "$os": "iOS",
    "$app_version": "2.31.0",
    "$device_id": "C8F9E604-F01A-4BD9-95C6-8E5357DF265D",
    "$user_id": "qa-ios-1",
    "$time": 1709633730123,
    "event_info": {"event": "play_click", "current_page_name": "home"},
    "page_info": {"id": "63a1f0c2", "type": "EPISODE", "title": "Episode 1"},
    "content_info": {"id": "c-77", "type": "EPISODE"},
}
WEB_LOG = {
    "$os": "web",
    "user_id": "qa-web-1",
    "event_info$$event": "play_click",
    "event_info$$current_page_name": "player",
    "page_info$$id": "63a1f0c2",
}
JET_ITEM = {
    "id": "65e6f0a1b2c3",
    "event": "play_click",
    "filter": "f-123",
    "userId": "qa-ios-1",
    "log": json.dumps(RAW_LOG),
}

IOS_TRACK = {
    "anonymousId": "B2A9A1D3-3B4F-4C0E-9F6E-6D1E2C3B4A59",
    "context": {
        "app": {
            "build": "231",
            "name": "Tube",
            "namespace": "com.example.tube",
            "version": "2.31.0",
        },
        "device": {
            "id": "6F7A2B1C-0D3E-4F5A-8B9C-1D2E3F4A5B6C",
            "manufacturer": "Apple",
            "model": "iPhone14,5",
            "name": "iPhone",
            "type": "ios",
        },
        "library": {"name": "analytics-ios", "version": "4.1.8"},
        "locale": "en-US",
        "network": {"cellular": False, "wifi": True},
        "os": {"name": "iOS", "version": "17.3.1"},
        "screen": {"height": 844, "width": 390},
        "timezone": "Europe/Paris",
        "traits": {"anonymousId": "B2A9A1D3-3B4F-4C0E-9F6E-6D1E2C3B4A59"},
    },
    "event": "play_click",
    "integrations": {},
    "messageId": "2C2E4A3F-5B6D-4E7F-8091-A2B3C4D5E6F7",
    "properties": {"page_name": "home", "content_id": "c-77"},
    "timestamp": "2024-03-05T10:15:30.123Z",
    "type": "track",
    "userId": "qa-ios-1",
}
ANDROID_TRACK = {
    "anonymousId": "2f1c7a4e-8a3b-4f1d-9a0c-5e6b7d8c9e0f",
    "context": {
        "app": {
            "build": "231",
            "name": "Tube",
            "namespace": "com.example.tube",
            "version": "2.31.0",
        },
        "device": {
            "id": "a1b2c3d4",
            "manufacturer": "Google",
            "model": "Pixel 7",
            "type": "android",
        },
        "library": {"name": "analytics-android", "version": "4.11.3"},
        "os": {"name": "Android", "version": "14"},
    },
    "event": "play_click",
    "messageId": "0c5d9a1e-7f3b-4e2a-b8c6-d1e0f2a3b4c5",
    "properties": {"page_name": "player"},
    "timestamp": "2024-03-05T11:15:30.000+01:00",
    "type": "track",
    "userId": "qa-android-1",
}

AMPLITUDE_EVENT = {
    "user_id": "203201202",
    "device_id": "C8F9E604-F01A-4BD9-95C6-8E5357DF265D",
    "event_type": "watch_tutorial",
    "time": 1396381378123,
    "event_properties": {"load_time": 0.8371, "source": "notification", "dates": ["monday"]},
    "user_properties": {"age": 25, "gender": "female", "interests": ["chess", "football"]},
    "app_version": "2.1.3",
    "platform": "iOS",
    "os_name": "iOS",
    "os_version": "8.1",
    "device_brand": "Verizon",
    "device_manufacturer": "Apple",
    "device_model": "iPhone 9,1",
    "carrier": "Verizon",
    "country": "United States",
    "language": "English",
    "price": 4.99,
    "quantity": 3,
    "revenue": -1.99,
    "location_lat": 37.77,
    "location_lng": -122.39,
    "ip": "127.0.0.1",
    "idfa": "AEBE52E7-03EE-455A-B3C4-E57283966239",
    "event_id": 23,
    "session_id": 1396381378123,
    "insert_id": "5f0adeff-6668-4427-8d02-57d803a2b841",
}
AMPLITUDE_BODY = {"api_key": "a2dbcecd4ebf4d2a8b7d6e5f7c9b1e6f", "events": [AMPLITUDE_EVENT]}


def analytics_python_batch() -> dict:
    """A /v1/batch body exactly as segment-analytics-python builds it (request.post)."""
    client = SegmentClient("wk-python", send=False, sync_mode=True)
    messages = [
        client.track("qa-py-1", "play_click", {"page_name": "search"}, message_id="m-1")[1],
        client.identify("qa-py-1", {"plan": "premium"})[1],
        client.page("qa-py-1", "Docs", "Home")[1],
        client.screen("qa-py-1", "Player", "Fullscreen")[1],
        client.group("qa-py-1", "g-1")[1],
        client.alias("qa-py-1", "old-id")[1],
        client.track(
            anonymous_id="anon-9", event="search_done", timestamp=datetime(2024, 3, 5, 10, 0, 0)
        )[1],
    ]
    body = {"batch": messages, "sentAt": "2024-03-05T10:00:05.000+00:00", "writeKey": "wk-python"}
    return json.loads(json.dumps(body, cls=DatetimeSerializer))


def only(parsed: list[CaughtEvent]) -> CaughtEvent:
    assert len(parsed) == 1, parsed
    return parsed[0]


# --- Jet -----------------------------------------------------------------------------


def test_jet_log_item() -> None:
    event = parse_jet_log(JET_ITEM)
    assert event == CaughtEvent(
        name="play_click",
        user_id="qa-ios-1",
        platform=Platform.IOS,
        payload=RAW_LOG,
        source="jet",
        message_id="65e6f0a1b2c3",
        sent_at=datetime(2024, 3, 5, 10, 15, 30, 123000, tzinfo=UTC),
        project_key=None,
    )
    assert event.lookup_style == "log"


def test_jet_falls_back_to_the_raw_log_for_name_and_user_and_takes_numeric_ids() -> None:
    item = {"id": 9001, "filter": "f", "log": json.dumps(WEB_LOG)}
    event = parse_jet_log(item)
    assert (event.name, event.user_id, event.platform) == ("play_click", "qa-web-1", Platform.OTHER)
    assert event.message_id == "9001"
    assert event.sent_at is None
    # A log already decoded (a lenient sender) is taken as it is.
    assert parse_jet_log({**JET_ITEM, "log": RAW_LOG}).payload == RAW_LOG


def test_jet_payload_checks_against_the_plan() -> None:
    event = parse_jet_log(JET_ITEM)
    rules = [
        FieldRule(1, "event_info.current_page_name", ("home", "player")),
        FieldRule(2, "page_info.id", ()),
        FieldRule(3, "page_info.type", ("EPISODE",)),
    ]
    verdicts = [c.verdict for c in check_event(rules, event.payload, event.lookup_style)]
    assert verdicts == [Verdict.SUCCESS, Verdict.UNCERTAIN, Verdict.SUCCESS]


# --- collect -------------------------------------------------------------------------


def test_collect_a_raw_log() -> None:
    event = only(parse_collect(RAW_LOG))
    assert (event.name, event.user_id, event.platform, event.source) == (
        "play_click",
        "qa-ios-1",
        Platform.IOS,
        "collect",
    )
    assert event.payload is RAW_LOG
    assert event.sent_at == datetime(2024, 3, 5, 10, 15, 30, 123000, tzinfo=UTC)
    assert event.lookup_style == "log"


def test_collect_a_flattened_web_log() -> None:
    event = only(parse_collect(WEB_LOG))
    assert (event.name, event.user_id, event.platform) == ("play_click", "qa-web-1", Platform.OTHER)
    checks = check_event(
        [FieldRule(1, "event_info.current_page_name", ("home", "player"))],
        event.payload,
        event.lookup_style,
    )
    assert checks[0].value == "player"


@pytest.mark.parametrize(
    ("user_field", "where"),
    [("$user_id", "$user_id"), ("user_id", "user_id"), ("userId", "userId")],
)
def test_collect_raw_log_user_id_keys(user_field: str, where: str) -> None:
    log = {"$os": "Android", "event_info": {"event": "e"}, user_field: 42}
    event = only(parse_collect(log))
    assert (event.user_id, event.platform) == ("42", Platform.ANDROID)


def test_collect_raw_log_user_id_order_is_dollar_user_id_first() -> None:
    log = {"event_info": {"event": "e"}, "userId": "c", "user_id": "b", "$user_id": "a"}
    assert only(parse_collect(log)).user_id == "a"


def test_collect_the_sdk_shape() -> None:
    body = {
        "event": "play_click",
        "userId": "qa-1",
        "platform": "android",
        "properties": {"page_name": "home"},
        "messageId": "m-77",
        "timestamp": "2024-03-05T10:15:30Z",
        "writeKey": "wk-1",
    }
    event = only(parse_collect(body))
    assert event == CaughtEvent(
        name="play_click",
        user_id="qa-1",
        platform=Platform.ANDROID,
        payload={k: v for k, v in body.items() if k != "writeKey"},
        source="collect",
        message_id="m-77",
        sent_at=datetime(2024, 3, 5, 10, 15, 30, tzinfo=UTC),
        project_key="wk-1",
    )
    assert "writeKey" not in event.payload  # a credential is never stored
    assert event.lookup_style == "sdk"


def test_collect_a_list_of_both_shapes() -> None:
    parsed = parse_collect([RAW_LOG, {"event": "x", "user_id": "u", "id": 5}, WEB_LOG])
    assert isinstance(parsed, Parsed) and isinstance(parsed, list)
    assert [e.name for e in parsed] == ["play_click", "x", "play_click"]
    assert parsed[1].message_id == "5"
    assert parsed.ignored == 0
    assert parse_collect([]) == []


# --- Segment ---------------------------------------------------------------------------


def test_segment_track_from_analytics_ios() -> None:
    event = only(parse_segment({**IOS_TRACK, "writeKey": "wk-ios"}, kind="track"))
    assert event == CaughtEvent(
        name="play_click",
        user_id="qa-ios-1",
        platform=Platform.IOS,
        payload=IOS_TRACK,
        source="segment",
        message_id="2C2E4A3F-5B6D-4E7F-8091-A2B3C4D5E6F7",
        sent_at=datetime(2024, 3, 5, 10, 15, 30, 123000, tzinfo=UTC),
        project_key="wk-ios",
    )
    assert event.lookup_style == "sdk"
    rules = [FieldRule(1, "page_name", ("home", "player")), FieldRule(2, "os.name", ("iOS",))]
    assert [c.verdict for c in check_event(rules, event.payload, "sdk")] == [Verdict.SUCCESS] * 2


def test_segment_track_without_a_type_is_a_track() -> None:
    message = {k: v for k, v in ANDROID_TRACK.items() if k != "type"}
    event = only(parse_segment(message, kind="track"))
    assert event.platform == Platform.ANDROID
    # +01:00 becomes UTC.
    assert event.sent_at == datetime(2024, 3, 5, 10, 15, 30, tzinfo=UTC)
    assert event.project_key is None


def test_segment_track_endpoint_ignores_other_types() -> None:
    parsed = parse_segment({"type": "identify", "userId": "u", "traits": {}}, kind="track")
    assert parsed == [] and parsed.ignored == 1 and parsed.ignored_types == {"identify": 1}


def test_segment_batch_from_analytics_python() -> None:
    parsed = parse_segment(analytics_python_batch(), kind="batch")
    # A page or screen call is an event named by its name (category aside).
    assert [(e.name, e.user_id) for e in parsed] == [
        ("play_click", "qa-py-1"),
        ("Home", "qa-py-1"),
        ("Fullscreen", "qa-py-1"),
        ("search_done", "anon-9"),  # anonymousId when there is no userId
    ]
    assert parsed.ignored == 3
    assert parsed.ignored_types == {"identify": 1, "group": 1, "alias": 1}
    first, _page, _screen, second = parsed
    assert first.message_id == "m-1"
    assert first.project_key == "wk-python"
    assert first.platform == Platform.OTHER  # a server library says nothing of a device
    assert first.payload["context"]["library"]["name"] == "analytics-python"
    assert second.sent_at == datetime(2024, 3, 5, 10, 0, 0, tzinfo=UTC)  # its own timestamp


def test_segment_batch_context_merges_under_each_message() -> None:
    body = {
        "context": {"os": {"name": "Android", "version": "14"}, "locale": "fr-FR"},
        "batch": [
            {"type": "track", "event": "a", "userId": "u"},
            {"type": "track", "event": "b", "userId": "u", "context": {"os": {"name": "iOS"}}},
            IOS_TRACK,
        ],
    }
    a, b, ios = parse_segment(body, kind="batch")
    assert a.platform == Platform.ANDROID
    assert a.payload["context"] == {"os": {"name": "Android", "version": "14"}, "locale": "fr-FR"}
    assert b.platform == Platform.IOS
    assert b.payload["context"] == {"os": {"name": "iOS", "version": "14"}, "locale": "fr-FR"}
    assert ios.payload["context"]["os"] == {"name": "iOS", "version": "17.3.1"}
    assert ios.payload["context"]["locale"] == "en-US"  # the message's own wins
    assert "context" not in body["batch"][0]  # the input is not modified


def test_segment_times_fall_back_to_sent_at() -> None:
    body = {
        "sentAt": "2024-03-05T09:00:00Z",
        "batch": [
            {"type": "track", "event": "a", "userId": "u", "timestamp": "not a time"},
            {"type": "track", "event": "b", "userId": "u", "sentAt": "2024-03-05T08:00:00Z"},
            {"type": "track", "event": "c", "userId": "u", "originalTimestamp": 1709622000},
        ],
    }
    a, b, c = parse_segment(body, kind="batch")
    assert a.sent_at == datetime(2024, 3, 5, 9, 0, tzinfo=UTC)
    assert b.sent_at == datetime(2024, 3, 5, 8, 0, tzinfo=UTC)
    assert c.sent_at == datetime(2024, 3, 5, 7, 0, tzinfo=UTC)


def test_segment_user_id_null_uses_anonymous_id_and_a_message_write_key_wins() -> None:
    body = {
        "writeKey": "batch-key",
        "batch": [
            {"type": "track", "event": "e", "userId": None, "anonymousId": "an", "writeKey": "own"}
        ],
    }
    event = only(parse_segment(body, kind="batch"))
    assert (event.user_id, event.project_key) == ("an", "own")
    assert "writeKey" not in event.payload


def test_segment_kind_is_checked() -> None:
    with pytest.raises(ValueError, match="kind"):
        parse_segment({}, kind="pageview")


# --- Amplitude -----------------------------------------------------------------------


def test_amplitude_http_v2_example() -> None:
    event = only(parse_amplitude(AMPLITUDE_BODY))
    assert event == CaughtEvent(
        name="watch_tutorial",
        user_id="203201202",
        platform=Platform.IOS,
        payload=AMPLITUDE_EVENT,
        source="amplitude",
        message_id="5f0adeff-6668-4427-8d02-57d803a2b841",
        sent_at=datetime(2014, 4, 1, 19, 42, 58, 123000, tzinfo=UTC),
        project_key="a2dbcecd4ebf4d2a8b7d6e5f7c9b1e6f",
    )
    rules = [FieldRule(1, "source", ("notification", "organic")), FieldRule(2, "age", ())]
    checks = check_event(rules, event.payload, event.lookup_style)
    assert [(c.verdict, c.value) for c in checks] == [
        (Verdict.SUCCESS, "notification"),
        (Verdict.UNCERTAIN, "25"),
    ]


def test_amplitude_device_id_when_no_user_id_and_no_optional_fields() -> None:
    body = {"events": [{"event_type": "open", "device_id": "dev-1", "user_id": None}]}
    event = only(parse_amplitude(body))
    assert (event.user_id, event.platform, event.message_id) == ("dev-1", Platform.OTHER, None)
    assert (event.sent_at, event.project_key) == (None, None)


@pytest.mark.parametrize("time", ["1396381378123", 1e30, float("nan"), True, None])
def test_amplitude_bad_times_are_no_time(time: Any) -> None:
    body = {"events": [{"event_type": "e", "user_id": "u", "time": time}]}
    assert only(parse_amplitude(body)).sent_at is None


# --- platforms -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "platform"),
    [
        ({"$os": "iOS"}, Platform.IOS),
        ({"$os": "ios"}, Platform.IOS),
        ({"$os": " IOS "}, Platform.IOS),
        ({"$os": "iPadOS"}, Platform.IOS),
        ({"$os": "iPhone OS"}, Platform.IOS),
        ({"$os": "Android"}, Platform.ANDROID),
        ({"$os": "ANDROID"}, Platform.ANDROID),
        ({"$os": "web"}, Platform.OTHER),
        ({"$os": "tvOS"}, Platform.OTHER),
        ({"$os": "Windows"}, Platform.OTHER),
        ({"os": "android"}, Platform.ANDROID),
        ({"os": {"name": "iOS"}}, Platform.IOS),
        ({"platform": "iOS"}, Platform.IOS),
        ({"os_name": "android"}, Platform.ANDROID),
        ({"context": {"os": {"name": "iOS"}}}, Platform.IOS),
        ({"context": {"device": {"type": "android"}}}, Platform.ANDROID),
        ({"context": {"os": "Android"}}, Platform.ANDROID),
        # The first key that holds a string decides, in the documented order.
        ({"$os": "Android", "platform": "iOS"}, Platform.ANDROID),
        ({"platform": "Web", "os_name": "ios"}, Platform.OTHER),
        ({"context": {"os": {"name": "iOS"}, "device": {"type": "android"}}}, Platform.IOS),
        # Blank and non-strings are skipped.
        ({"$os": "", "os": None, "platform": 3, "os_name": "iOS"}, Platform.IOS),
        ({"$os": "  ", "context": {"os": {"name": None}, "device": {"type": "ios"}}}, Platform.IOS),
        ({}, Platform.OTHER),
        ({"context": "ios"}, Platform.OTHER),
        ({"context": {"os": ["iOS"]}}, Platform.OTHER),
    ],
)
def test_detect_platform(payload: dict, platform: Platform) -> None:
    assert detect_platform(payload) == platform
    assert detect_platform(payload) == platform  # again, from the remembered words


def test_remembered_platform_words_stay_bounded_and_answer_the_same() -> None:
    from trackmaster.sources import _common

    for n in range(_common.MAX_REMEMBERED_WORDS + 10):
        assert _common.platform_of(f"os-{n}") is Platform.OTHER
    assert len(_common._PLATFORM_OF) <= _common.MAX_REMEMBERED_WORDS
    assert _common.platform_of(" iPadOS ") is Platform.IOS
    assert _common.platform_of(" iPadOS ") is Platform.IOS
    long_word = "android " + "x" * 100
    assert _common.platform_of(long_word) is Platform.OTHER
    assert long_word not in _common._PLATFORM_OF


# --- times -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "moment"),
    [
        ("2024-03-05T10:15:30.123Z", datetime(2024, 3, 5, 10, 15, 30, 123000, tzinfo=UTC)),
        ("2024-03-05T18:15:30+08:00", datetime(2024, 3, 5, 10, 15, 30, tzinfo=UTC)),
        ("2024-03-05T10:15:30", datetime(2024, 3, 5, 10, 15, 30, tzinfo=UTC)),  # naive = UTC
        ("2024-03-05", datetime(2024, 3, 5, tzinfo=UTC)),
        (1709633730, datetime(2024, 3, 5, 10, 15, 30, tzinfo=UTC)),  # seconds
        (1709633730.5, datetime(2024, 3, 5, 10, 15, 30, 500000, tzinfo=UTC)),
        (1709633730123, datetime(2024, 3, 5, 10, 15, 30, 123000, tzinfo=UTC)),  # milliseconds
        ("yesterday", None),
        ("", None),
        ("2024-13-45T00:00:00Z", None),
        ("0001-01-01T00:00:00+01:00", None),  # before year 1 in UTC
        (True, None),
        (None, None),
        ({"t": 1}, None),
        (1e300, None),
        (float("nan"), None),
        (float("inf"), None),
        (10**30, None),
    ],
)
def test_parse_time(value: Any, moment: datetime | None) -> None:
    assert parse_time(value) == moment
    if moment is not None:
        assert parse_time(value).tzinfo is UTC


# --- errors ------------------------------------------------------------------------------

TOO_LONG_NAME = "n" * (MAX_NAME_CHARS + 1)
TOO_LONG_USER = "u" * (MAX_USER_ID_CHARS + 1)

ERRORS = [
    # collect
    ("collect: not an object", parse_collect, 3, "body: must be an event object or an array of events"),
    ("collect: string body", parse_collect, "hi", "body: must be an event object or an array of events"),
    ("collect: item not an object", parse_collect, [RAW_LOG, 1], "[1]: not an object (got a number)"),
    ("collect: empty name", parse_collect, {"event": " ", "userId": "u"}, "event: empty"),
    ("collect: name too long", parse_collect, {"event": TOO_LONG_NAME, "userId": "u"}, "event: 256 characters, over the limit of 255"),
    ("collect: no user", parse_collect, {"event": "e"}, "userId: missing (an event needs userId)"),
    ("collect: user too long", parse_collect, {"event": "e", "userId": TOO_LONG_USER}, "userId: 129 characters, over the limit of 128"),
    ("collect: user boolean", parse_collect, {"event": "e", "userId": True}, "userId: must be a string (got a boolean)"),
    ("collect: user float", parse_collect, {"event": "e", "user_id": 1.5}, "user_id: must be a string (got a number)"),
    ("collect: message id object", parse_collect, {"event": "e", "userId": "u", "messageId": {}}, "messageId: must be a string (got an object)"),
    ("collect: message id too long", parse_collect, {"event": "e", "userId": "u", "id": "m" * 129}, "id: 129 characters, over the limit of 128"),
    ("collect: write key number", parse_collect, {"event": "e", "userId": "u", "writeKey": 5}, "writeKey: must be a string (got a number)"),
    ("collect: log without name", parse_collect, {"$os": "iOS", "$user_id": "u"}, "event_info.event: missing (the event name of a raw log)"),
    ("collect: log name null", parse_collect, {"event": None, "event_info": {"event": None}, "user_id": "u"}, "event_info.event: missing (the event name of a raw log)"),
    ("collect: log name number", parse_collect, {"event_info": {"event": 5}, "user_id": "u"}, "event_info.event: must be a string (got a number)"),
    ("collect: log name array", parse_collect, {"event": ["x"], "user_id": "u"}, "event: must be a string (got an array)"),
    ("collect: log without user", parse_collect, {"event_info": {"event": "e"}}, "$user_id: missing (a raw log needs $user_id, user_id or userId)"),
    ("collect: log user in a list", parse_collect, [RAW_LOG, {"event_info": {"event": "e"}, "userId": ""}], "[1].userId: empty"),
    # Segment
    ("segment: track body array", lambda b: parse_segment(b, kind="track"), [], "body: not an object (got an array)"),
    ("segment: track without event", lambda b: parse_segment(b, kind="track"), {"userId": "u"}, "event: missing"),
    ("segment: track without user", lambda b: parse_segment(b, kind="track"), {"event": "e", "userId": None}, "userId: missing (a call needs userId or anonymousId)"),
    ("segment: anonymous id too long", lambda b: parse_segment(b, kind="track"), {"event": "e", "anonymousId": TOO_LONG_USER}, "anonymousId: 129 characters, over the limit of 128"),
    ("segment: type number", lambda b: parse_segment(b, kind="track"), {"type": 1, "event": "e", "userId": "u"}, "type: must be a string"),
    ("segment: write key", lambda b: parse_segment(b, kind="track"), {"event": "e", "userId": "u", "writeKey": ["k"]}, "writeKey: must be a string (got an array)"),
    ("segment: context", lambda b: parse_segment(b, kind="track"), {"event": "e", "userId": "u", "context": "ios"}, "context: not an object"),
    ("segment: batch missing", lambda b: parse_segment(b, kind="batch"), {}, "batch: missing"),
    ("segment: batch object", lambda b: parse_segment(b, kind="batch"), {"batch": {}}, "batch: must be an array of messages"),
    ("segment: batch item", lambda b: parse_segment(b, kind="batch"), {"batch": [IOS_TRACK] * 7 + [5]}, "batch[7]: not an object (got a number)"),
    ("segment: batch type missing", lambda b: parse_segment(b, kind="batch"), {"batch": [{"event": "e", "userId": "u"}]}, "batch[0].type: missing (track, identify, page, screen, group, alias)"),
    ("segment: batch type unknown", lambda b: parse_segment(b, kind="batch"), {"batch": [{"type": "purchase"}]}, "batch[0].type: unknown message type 'purchase'"),
    ("segment: batch event", lambda b: parse_segment(b, kind="batch"), {"batch": [IOS_TRACK, {"type": "track", "userId": "u", "event": 3}]}, "batch[1].event: must be a string (got a number)"),
    ("segment: batch context", lambda b: parse_segment(b, kind="batch"), {"batch": [], "context": "x"}, "context: not an object (got a string)"),
    ("segment: batch write key", lambda b: parse_segment(b, kind="batch"), {"batch": [], "writeKey": ""}, "writeKey: empty"),
    # Amplitude
    ("amplitude: body", parse_amplitude, [], "body: not an object (got an array)"),
    ("amplitude: events missing", parse_amplitude, {"api_key": "k"}, "events: missing"),
    ("amplitude: events object", parse_amplitude, {"events": {}}, "events: must be an array of events"),
    ("amplitude: api key", parse_amplitude, {"api_key": 1, "events": []}, "api_key: must be a string (got a number)"),
    ("amplitude: event not object", parse_amplitude, {"events": [AMPLITUDE_EVENT, None]}, "events[1]: not an object (got null)"),
    ("amplitude: event type", parse_amplitude, {"events": [AMPLITUDE_EVENT] * 3 + [{"user_id": "u"}]}, "events[3].event_type: missing"),
    ("amplitude: no user", parse_amplitude, {"events": [{"event_type": "e"}]}, "events[0].user_id: missing (an event needs user_id or device_id)"),
    ("amplitude: device id", parse_amplitude, {"events": [{"event_type": "e", "device_id": {}}]}, "events[0].device_id: must be a string (got an object)"),
    ("amplitude: insert id", parse_amplitude, {"events": [{"event_type": "e", "user_id": "u", "insert_id": "i" * 129}]}, "events[0].insert_id: 129 characters, over the limit of 128"),
    # Jet
    ("jet: item", parse_jet_log, "x", "log item: not an object (got a string)"),
    ("jet: log missing", parse_jet_log, {"id": "1", "event": "e"}, "log: missing"),
    ("jet: log not JSON", parse_jet_log, {"log": "{oops"}, "log: not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
    ("jet: log array", parse_jet_log, {"log": "[1]"}, "log: not an object (got an array)"),
    ("jet: log number", parse_jet_log, {"log": 5}, "log: not an object (got a number)"),
    ("jet: no name", parse_jet_log, {"userId": "u", "log": "{}"}, "log.event_info.event: missing (the event name of a raw log)"),
    ("jet: no user", parse_jet_log, {"event": "e", "log": "{}"}, "log.$user_id: missing (a raw log needs $user_id, user_id or userId)"),
    ("jet: name too long", parse_jet_log, {"event": TOO_LONG_NAME, "userId": "u", "log": "{}"}, "event: 256 characters, over the limit of 255"),
    ("jet: id", parse_jet_log, {"id": [1], "event": "e", "userId": "u", "log": "{}"}, "id: must be a string (got an array)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("parse", "body", "message"), [row[1:] for row in ERRORS], ids=[row[0] for row in ERRORS]
)
def test_errors_say_what_and_where(parse: Any, body: Any, message: str) -> None:
    with pytest.raises(InvalidParams) as caught:
        parse(body)
    error = caught.value
    assert error.msg == message
    field, problem = message.split(": ", 1)
    assert error.details == [{"field": field, "error": problem}]
    assert (error.status, error.code) == (400, 2)


def test_a_batch_lists_every_bad_item_and_keeps_nothing() -> None:
    batch = [IOS_TRACK, {"type": "track"}, 7, IOS_TRACK, {"type": "page"}, {"type": "x"}]
    with pytest.raises(InvalidParams) as caught:
        parse_segment({"batch": batch}, kind="batch")
    assert caught.value.msg == "batch[1].event: missing (and 2 more)"
    assert caught.value.details == [
        {"field": "batch[1].event", "error": "missing"},
        {"field": "batch[2]", "error": "not an object (got a number)"},
        {"field": "batch[5].type", "error": "unknown message type 'x'"},
    ]


def test_the_error_list_is_capped_but_the_count_is_not() -> None:
    with pytest.raises(InvalidParams) as caught:
        parse_amplitude({"events": [{}] * 100})
    assert caught.value.msg == "events[0].event_type: missing (and 99 more)"
    assert len(caught.value.details) == 20


def test_the_limit_is_inclusive() -> None:
    assert len(parse_amplitude({"events": [AMPLITUDE_EVENT] * MAX_BATCH_EVENTS})) == 500
    name = "n" * MAX_NAME_CHARS
    assert only(parse_collect({"event": name, "userId": "u" * MAX_USER_ID_CHARS})).name == name


# --- any JSON: InvalidParams or events, nothing else -------------------------------------


def _near(keys: dict[str, st.SearchStrategy], **required: st.SearchStrategy) -> st.SearchStrategy:
    """Objects with the format's keys holding anything: reaches past the first type checks.

    `required` keys always hold a plausible value, so that some bodies parse into events.
    """
    values = {key: strategy | json_values(10) for key, strategy in keys.items()}
    return st.fixed_dictionaries(required, optional=values)


_TEXT = st.text(max_size=6)
_NAME = st.text(alphabet="abc_", min_size=1, max_size=6)
_SEGMENT_KEYS = {
    "type": st.sampled_from(["track", "identify", "page", "screen", "group", "alias", "x"]),
    "event": _TEXT,
    "userId": _TEXT,
    "anonymousId": _TEXT,
    "messageId": _TEXT,
    "timestamp": st.just("2024-03-05T10:15:30Z"),
    "writeKey": _TEXT,
    "properties": json_values(10),
    "context": _near({"os": _near({"name": st.sampled_from(["iOS", "Android"])})}),
}
_SEGMENT_MESSAGE = _near(_SEGMENT_KEYS) | _near(
    {k: v for k, v in _SEGMENT_KEYS.items() if k not in ("type", "event", "anonymousId")},
    type=st.just("track"),
    event=_NAME,
    anonymousId=_NAME,
)
_AMPLITUDE_KEYS = {
    "event_type": _TEXT,
    "user_id": _TEXT,
    "device_id": _TEXT,
    "insert_id": _TEXT,
    "time": st.integers(),
    "platform": _TEXT,
}
_AMPLITUDE_EVENT = _near(_AMPLITUDE_KEYS) | _near(
    {k: v for k, v in _AMPLITUDE_KEYS.items() if k not in ("event_type", "device_id")},
    event_type=_NAME,
    device_id=_NAME,
)
_RAW_LOG = _near(
    {
        "$os": st.sampled_from(["iOS", "Android", "web"]),
        "event_info": _near({"event": _TEXT}),
        "event_info$$event": _TEXT,
        "event": _TEXT,
        "$user_id": _TEXT,
        "userId": _TEXT,
        "$time": st.integers(),
        "id": _TEXT,
    }
) | _near({"$os": _TEXT, "$time": st.integers()}, event_info=_near({}, event=_NAME), user_id=_NAME)

PARSERS = {
    "collect": (parse_collect, json_values() | _RAW_LOG | st.lists(_RAW_LOG, max_size=4)),
    "segment track": (lambda b: parse_segment(b, kind="track"), json_values() | _SEGMENT_MESSAGE),
    "segment batch": (
        lambda b: parse_segment(b, kind="batch"),
        json_values()
        | _near({"context": json_values(5)}, batch=st.lists(_SEGMENT_MESSAGE, max_size=4)),
    ),
    "amplitude": (
        parse_amplitude,
        json_values() | _near({"api_key": _TEXT}, events=st.lists(_AMPLITUDE_EVENT, max_size=4)),
    ),
    "jet": (
        lambda b: Parsed([parse_jet_log(b)]),
        json_values()
        | _near(
            {"id": _TEXT, "event": _TEXT, "userId": _TEXT, "log": _RAW_LOG.map(json.dumps) | _TEXT}
        ),
    ),
}


def _assert_well_formed(parsed: Parsed) -> None:
    assert isinstance(parsed, Parsed)
    for event in parsed:
        assert isinstance(event, CaughtEvent)
        assert isinstance(event.name, str) and 0 < len(event.name) <= MAX_NAME_CHARS
        assert isinstance(event.user_id, str) and 0 < len(event.user_id) <= MAX_USER_ID_CHARS
        assert event.platform in Platform
        assert isinstance(event.payload, dict)
        assert event.message_id is None or isinstance(event.message_id, str)
        assert event.sent_at is None or event.sent_at.tzinfo is UTC
        assert event.lookup_style in ("log", "sdk")


@pytest.mark.parametrize("name", list(PARSERS))
def test_any_json_gives_events_or_invalid_params(name: str) -> None:
    parse, bodies = PARSERS[name]
    outcomes: set[str] = set()

    @settings(max_examples=400, deadline=None)
    @given(body=bodies)
    def run(body: Any) -> None:
        try:
            parsed = parse(body)
        except InvalidParams as exc:
            assert exc.msg and exc.details
            assert all(set(d) == {"field", "error"} for d in exc.details)
            outcomes.add("invalid")
            return
        _assert_well_formed(parsed)
        outcomes.add("events" if parsed else "empty")

    run()
    # The strategies must reach both ends, or the property proves little.
    assert {"invalid", "events"} <= outcomes, outcomes


@pytest.mark.parametrize(
    ("parse", "body", "path"),
    [
        (parse_collect, [RAW_LOG] * (MAX_BATCH_EVENTS + 1), "body"),
        (lambda b: parse_segment(b, kind="batch"), {"batch": [IOS_TRACK] * 501}, "batch"),
        (parse_amplitude, {"events": [AMPLITUDE_EVENT] * 501}, "events"),
    ],
)
def test_too_many_events_is_a_413_naming_the_limit(parse: Any, body: Any, path: str) -> None:
    with pytest.raises(TooManyEvents) as caught:
        parse(body)
    assert caught.value.status == 413
    assert caught.value.msg.startswith(f"{path}: 501 events, over the limit of 500 per request")
