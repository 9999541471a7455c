"""The pure parsers of Snowplow, Mixpanel, PostHog and GA4: real shapes, and any bytes at all.

Unit tests (no database) of what the SDK tests cannot easily reach: base64 in
every alphabet, GET /i queries, library-name platforms, keys never stored,
and hypothesis: for any bytes or JSON, a parser returns events or raises an
AppError (a 4xx), never anything else.
"""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.json_strategies import json_values
from trackmaster.errors import AppError
from trackmaster.models import Platform
from trackmaster.sources import ga4, mixpanel, posthog, snowplow
from trackmaster.sources.wire import Wire
from trackmaster.sources.writekeys import body_key, request_key

UE = {
    "schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
    "data": {"schema": "iglu:com.acme/play_click/jsonschema/1-0-0", "data": {"page": "home"}},
}
MOBILE = {
    "schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1",
    "data": [
        {
            "schema": "iglu:com.snowplowanalytics.snowplow/mobile_context/jsonschema/1-0-3",
            "data": {"osType": "ios", "osVersion": "17.3"},
        }
    ],
}


def b64(value: object, *, urlsafe: bool = False) -> str:
    raw = json.dumps(value).encode()
    text = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()
    return text.rstrip("=")  # the trackers drop the padding


def test_snowplow_self_describing_base64_with_a_mobile_context() -> None:
    event = {"e": "ue", "p": "mob", "uid": "alice-42", "aid": "wk", "eid": "e-1",
             "dtm": "1764584130123", "ue_px": b64(UE, urlsafe=True), "cx": b64(MOBILE)}  # fmt: skip
    (caught,) = snowplow.parse_snowplow({"schema": "x", "data": [event]})
    assert (caught.name, caught.user_id, caught.platform) == ("play_click", "alice-42",
                                                              Platform.IOS)  # fmt: skip
    assert (caught.project_key, caught.message_id) == ("wk", "e-1")
    assert caught.payload["properties"] == {"page": "home"}
    assert "aid" not in caught.payload and "ue_px" not in caught.payload
    assert caught.sent_at is not None and caught.sent_at.year == 2025


def test_snowplow_get_query_structured_event_on_the_web() -> None:
    wire = Wire(query={"e": "se", "se_ca": "player", "se_ac": "play_click", "uid": "u-1",
                       "p": "web", "aid": "wk"})  # fmt: skip
    (caught,) = snowplow.parse(wire)
    assert (caught.name, caught.platform) == ("play_click", Platform.OTHER)
    assert caught.payload["properties"] == {"category": "player", "action": "play_click"}


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"e": "ue", "uid": "u"}, "ue_pr: missing"),
        ({"e": "ue", "uid": "u", "ue_px": "!!"}, "ue_px: not valid base64"),
        ({"e": "se", "uid": "u"}, "se_ac: missing"),
        ({"e": "pv"}, "uid: missing"),
        ({"e": "ue", "uid": "u", "ue_pr": json.dumps({"data": {"schema": "nope"}})},
         "not an Iglu schema URI"),
    ],
)  # fmt: skip
def test_snowplow_errors_name_the_field(event: dict, message: str) -> None:
    with pytest.raises(AppError) as caught:
        snowplow.parse_snowplow({"data": [event]})
    assert message in caught.value.msg and caught.value.status == 400


def test_mixpanel_data_as_base64_or_json_and_the_token_is_not_stored() -> None:
    properties = {"token": "wk", "distinct_id": 42, "$os": "Android", "$insert_id": "i-1"}
    event = {"event": "play_click", "properties": properties}
    for data in (b64([event]), json.dumps(event)):
        body = ("data=" + data.replace("+", "%2B")).encode()
        (caught,) = mixpanel.parse(Wire(body, "application/x-www-form-urlencoded"))
        assert (caught.user_id, caught.platform, caught.project_key) == ("42", Platform.ANDROID,
                                                                        "wk")  # fmt: skip
        assert "token" not in caught.payload["properties"]


def test_posthog_token_in_properties_and_lib_platform() -> None:
    body = [
        {"event": "e", "properties": {"distinct_id": "d", "token": "wk", "$lib": "posthog-ios"}}
    ]
    (caught,) = posthog.parse(Wire(json.dumps(body).encode(), "application/json"))
    assert (caught.project_key, caught.platform) == ("wk", Platform.IOS)
    assert "token" not in caught.payload["properties"]


def test_ga4_params_are_the_fields() -> None:
    body = {"app_instance_id": "a-1", "events": [{"name": "play_click", "params": {"os": "iOS"}}]}
    (caught,) = ga4.parse_ga4(body)
    assert (caught.user_id, caught.platform, caught.payload["properties"]) == (
        "a-1", Platform.IOS, {"os": "iOS"})  # fmt: skip


def test_the_write_key_rules() -> None:
    assert request_key({"authorization": "Basic d2s6"}, {}) == "wk"
    assert request_key({}, {"api_secret": "wk"}, ("api_secret",)) == "wk"
    with pytest.raises(AppError, match="different write keys"):
        request_key({"x-write-key": "a"}, {"writeKey": "b"})
    assert body_key("wk", ["wk", None]) == "wk"
    with pytest.raises(AppError, match="different write keys"):
        body_key("wk", ["other"])
    with pytest.raises(AppError) as caught:
        body_key(None, [None])
    assert caught.value.status == 401


PARSERS = [snowplow.parse, mixpanel.parse, posthog.parse, ga4.parse]


@pytest.mark.parametrize("parse", PARSERS, ids=["snowplow", "mixpanel", "posthog", "ga4"])
@settings(max_examples=150, deadline=None)
@given(body=st.one_of(st.binary(max_size=200), json_values().map(lambda v: json.dumps(v).encode())),
       form=st.booleans())  # fmt: skip
def test_any_bytes_give_events_or_a_4xx(parse, body: bytes, form: bool) -> None:
    wire = Wire(body, "application/x-www-form-urlencoded" if form else "application/json")
    try:
        parse(wire)
    except AppError as exc:
        assert 400 <= exc.status < 500 and exc.msg
