"""Unplanned-property detection (trackmaster/checks/unplanned.py), pure: which keys of a
caught event the plan does not list, per source's envelope, and "did you mean"."""

from __future__ import annotations

import json

from trackmaster.checks.unplanned import (
    MAX_KEY_CHARS,
    MAX_NODES,
    TOO_MANY_KEY,
    PlannedKeys,
    edit_distance,
    find_unplanned,
    key_digest,
    root_for,
)
from trackmaster.sessions.cells import BatchTally
from trackmaster.sources import CaughtEvent
from trackmaster.sources.amplitude import parse_amplitude
from trackmaster.sources.collect import parse_collect
from trackmaster.sources.jet import parse_jet_log
from trackmaster.sources.mixpanel import parse_mixpanel
from trackmaster.sources.posthog import parse_posthog
from trackmaster.sources.segment import parse_segment

PLAN = PlannedKeys(
    ("content_info.currency", "content_info.id", "screen_name", "items.0.sku", "page_info$$id")
)


def unplanned(event: CaughtEvent, plan: PlannedKeys = PLAN) -> dict[str, tuple[str, str]]:
    found = find_unplanned(plan, event.payload, root_for(event.source, event.lookup_style))
    return {u.key: (u.path, u.suggestion) for u in found}


def test_nested_keys_are_reported_with_their_json_path_and_near_miss() -> None:
    event = parse_jet_log({"id": "1", "event": "buy", "userId": "u", "log": json.dumps({
        "$os": "Android", "$app_version": "2.31.0", "$device_id": "d-1",
        "event_info": {"event": "buy"},
        "content_info": {"id": "c1", "currency": "EUR", "curency": "EUR"},
        "screen_name": "cart",
    })})  # fmt: skip
    assert unplanned(event) == {
        "content_info.curency": ("$.content_info.curency", "content_info.currency")
    }


def test_an_unplanned_object_is_one_property_not_each_of_its_leaves() -> None:
    event = parse_collect({"$os": "iOS", "$user_id": "u", "$event": "buy",
                           "extra": {"a": 1, "b": {"c": 2}}, "screen_name": "x"})[0]  # fmt: skip
    assert unplanned(event) == {"extra": ("$.extra", "")}


def test_arrays_walk_by_index_and_report_element_keys_with_brackets() -> None:
    event = parse_collect({"$os": "iOS", "$user_id": "u", "$event": "buy", "items": [
        {"sku": "a", "qty": 1}, {"sku": "b", "skuu": "c"},
    ], "tags": ["x", "y"]})[0]  # fmt: skip
    assert unplanned(event) == {
        "items[].qty": ("$.items[*].qty", ""),
        "items[].skuu": ("$.items[*].skuu", "items[].sku"),
        "tags": ("$.tags", ""),
    }


def test_flattened_web_log_keys_count_as_their_nested_key() -> None:
    event = parse_collect({"$os": "Web", "$user_id": "u", "$event": "buy",
                           "page_info$$id": "p", "page_info$$title": "t"})[0]  # fmt: skip
    assert unplanned(event) == {"page_info.title": ("$.page_info.title", "")}


def test_unicode_and_odd_keys_get_a_quoted_json_path() -> None:
    event = parse_collect({"$os": "iOS", "$user_id": "u", "$event": "buy", "名前": "太郎",
                           "it's": 1, "": 2, "Écran": 3})[0]  # fmt: skip
    assert unplanned(event) == {
        "名前": ("$['名前']", ""), "it's": ("$['it\\'s']", ""), "": ("$['']", ""),
        "Écran": ("$['Écran']", ""),
    }  # fmt: skip


def test_did_you_mean_by_case_separators_and_edit_distance() -> None:
    event = parse_collect({"$os": "iOS", "$user_id": "u", "$event": "buy",
                           "Screen_Name": 1, "screenName": 2, "SCREEN-NAME": 3, "scren_name": 4,
                           "sc": 5, "zzzzzz_name": 6})[0]  # fmt: skip
    got = unplanned(event)
    assert got["Screen_Name"][1] == "screen_name"  # case
    assert got["screenName"][1] == "screen_name"  # separators
    assert got["SCREEN-NAME"][1] == "screen_name"
    assert got["scren_name"][1] == "screen_name"  # one edit
    assert got["sc"][1] == "" and got["zzzzzz_name"][1] == ""  # too short, too far


def test_edit_distance_counts_swaps_as_one_and_stops_at_the_limit() -> None:
    assert edit_distance("currency", "curency", 2) == 1
    assert edit_distance("currnecy", "currency", 2) == 1  # adjacent swap
    assert edit_distance("abc", "xyz", 1) == 2  # limit + 1
    assert edit_distance("kitten", "sitting", 3) == 3


def test_segment_envelope_and_context_are_never_properties() -> None:
    body = {"batch": [{
        "type": "track", "event": "buy", "userId": "u", "anonymousId": "a",
        "messageId": "m-1", "timestamp": "2026-12-01T10:00:00Z",
        "context": {"os": {"name": "iOS"}, "library": {"name": "analytics-python"},
                    "device": {"id": "d"}},
        "integrations": {"All": True},
        "properties": {"screen_name": "cart", "curency": "EUR", "content_info": {"id": 1}},
    }], "context": {"ip": "1.2.3.4"}, "sentAt": "2026-12-01T10:00:00Z"}  # fmt: skip
    event = parse_segment(body, kind="batch")[0]
    assert unplanned(event) == {"curency": ("$.curency", "")}


def test_amplitude_device_fields_and_user_properties_are_not_reported() -> None:
    body = {"api_key": "k", "events": [{
        "event_type": "buy", "user_id": "user-1", "device_id": "device-1", "platform": "Android",
        "os_name": "android", "os_version": "14", "device_brand": "Google",
        "device_model": "Pixel", "carrier": "x", "country": "DE", "language": "de",
        "app_version": "1.0", "ip": "$remote", "insert_id": "i-1", "time": 1764583200000,
        "user_properties": {"plan": "pro"},
        "event_properties": {"screen_name": "cart", "Screen_Name": "cart"},
    }]}  # fmt: skip
    event = parse_amplitude(body)[0]
    assert unplanned(event) == {"Screen_Name": ("$.Screen_Name", "screen_name")}


def test_mixpanel_and_posthog_sdk_keys_are_not_reported() -> None:
    mixpanel = parse_mixpanel({"event": "buy", "properties": {
        "distinct_id": "u", "token": "t", "time": 1764583200, "$os": "Android",
        "$insert_id": "i", "mp_lib": "python", "screen_name": "x", "coupon": "y",
    }})[0]  # fmt: skip
    assert unplanned(mixpanel) == {"coupon": ("$.coupon", "")}
    posthog = parse_posthog({"api_key": "k", "event": "buy", "distinct_id": "u", "properties": {
        "$lib": "posthog-python", "$os": "iOS", "screen_name": "x", "coupon": "y",
    }})[0]  # fmt: skip
    assert unplanned(posthog) == {"coupon": ("$.coupon", "")}


def test_jet_dollar_keys_and_the_raw_logs_envelope_are_not_reported() -> None:
    event = parse_collect({"$os": "iOS", "$user_id": "u", "$time": 1, "$app_version": "2",
                           "event_info": {"event": "buy"}, "user_id": "u", "timestamp": 1,
                           "screen_name": "x"})[0]  # fmt: skip
    assert unplanned(event) == {}


def test_a_scalar_where_the_plan_wants_an_object_is_left_to_the_field_check() -> None:
    event = parse_collect({"$os": "iOS", "$user_id": "u", "$event": "buy",
                           "content_info": "flat"})[0]  # fmt: skip
    assert unplanned(event) == {}


def test_a_huge_payload_is_reported_as_not_read_whole_never_as_clean() -> None:
    payload = {"$os": "iOS", "$user_id": "u", "$event": "buy"}
    payload["content_info"] = {f"id{i}": i for i in range(MAX_NODES + 10)}
    event = parse_collect(payload)[0]
    found = find_unplanned(PLAN, event.payload, root_for(event.source, event.lookup_style))
    assert found[-1].key == TOO_MANY_KEY and "not read" in found[-1].reason


def test_deep_nesting_does_not_recurse() -> None:
    plan = PlannedKeys(("a." * 1500 + "z",))
    deep: dict = {}
    node = deep
    for _ in range(1500):
        node["a"] = {}
        node = node["a"]
    node["y"] = 1
    found = find_unplanned(plan, deep, root_for("jet", "log"))
    assert len(found) == 1 and found[0].digest == key_digest("a." * 1500 + "y")
    assert len(found[0].key) == MAX_KEY_CHARS and found[0].key.endswith("…")  # cut to store


def test_counts_per_platform_and_key_in_a_batch() -> None:
    tally = BatchTally()
    for log_id, platform in enumerate(("iOS", "iOS", "Android"), 1):
        event = parse_collect({"$os": platform, "$user_id": "u", "$event": "buy",
                               "curency": "EUR", "extra": 1})[0]  # fmt: skip
        found = find_unplanned(PLAN, event.payload, root_for(event.source, event.lookup_style))
        tally.add_unplanned(7, 3, event.platform, log_id, found)
    counts = {(k[2], u.key): (u.count, u.example_log_id, u.last_log_id)
              for k, u in tally.unplanned.items()}  # fmt: skip
    assert counts == {
        ("iOS", "curency"): (2, 1, 2), ("iOS", "extra"): (2, 1, 2),
        ("Android", "curency"): (1, 3, 3), ("Android", "extra"): (1, 3, 3),
    }  # fmt: skip


def test_suggestions_are_computed_once_per_plan() -> None:
    plan = PlannedKeys(("currency",))
    root = root_for("jet", "log")
    for _ in range(3):
        assert find_unplanned(plan, {"curency": 1}, root)[0].suggestion == "currency"
    assert plan._memo == {("curency",): "currency"}
