"""The parse's fast paths answer as the slow ones did: JSON text inside a string goes to
the walk at once (and a deep body beside it is still refused), and CaughtEvent built
through its slots' setters is still a frozen dataclass (equal, replaceable, immutable)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from trackmaster import safejson
from trackmaster.kinds import Platform
from trackmaster.sources import CaughtEvent


def embedded(inner: object) -> bytes:
    """A Snowplow-like batch: each event's data is JSON text in a string."""
    text = json.dumps({"schema": "iglu:a/b/jsonschema/1-0-0", "data": inner})
    return json.dumps({"data": [{"e": "ue", "ue_pr": text}] * 100}).encode()


def test_json_text_inside_a_string_is_left_to_the_walk() -> None:
    body = embedded({"x": [1, 2]})
    assert len(body) > safejson._SMALL_BODY_BYTES
    assert safejson._nesting_fits(body, 3) is None
    assert safejson.loads(body, 3)["data"][0]["e"] == "ue"


def test_a_deep_body_beside_json_text_in_a_string_is_refused() -> None:
    deep: object = 1
    for _ in range(70):
        deep = [deep]
    body = json.dumps({"ue_pr": json.dumps({"a": [1]}), "deep": deep, "pad": "x" * 5000})
    with pytest.raises(safejson.JsonRefused) as refused:
        safejson.loads(body.encode())
    assert refused.value.too_deep


def test_a_large_body_whose_strings_hold_brackets_is_judged_by_the_walk() -> None:
    body = json.dumps([{"s": "a[1]", "n": {"m": [i]}} for i in range(300)]).encode()
    assert safejson._nesting_fits(body, 4) is None  # depth 4: list, event, n, m
    assert safejson.loads(body, 4)[5]["n"]["m"] == [5]
    with pytest.raises(safejson.JsonRefused):
        safejson.loads(body, 3)


def test_a_large_body_without_brackets_in_strings_is_judged_from_its_bytes() -> None:
    body = json.dumps([{"s": 'a"\\b', "n": {"m": [i]}} for i in range(300)]).encode()
    assert safejson._nesting_fits(body, 4) is True
    assert safejson._nesting_fits(body, 3) is False


def test_a_caught_event_is_still_a_frozen_dataclass() -> None:
    event = CaughtEvent("play", "u1", Platform.IOS, {"a": 1}, "collect", "m-1", None)
    assert event.project_key is None
    assert event == CaughtEvent("play", "u1", Platform.IOS, {"a": 1}, "collect", "m-1", None)
    assert dataclasses.replace(event, message_id=None).message_id is None
    assert dataclasses.replace(event, message_id=None).name == "play"
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.name = "other"  # type: ignore[misc]
    keyed = CaughtEvent(
        name="n", user_id="u", platform=Platform.OTHER, payload={}, source="ga4",
        message_id=None, sent_at=None, project_key="K",
    )  # fmt: skip
    assert (keyed.source, keyed.project_key) == ("ga4", "K")
