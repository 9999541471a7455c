"""Amplitude's HTTP V2 API (POST /2/httpapi) and Batch API (POST /batch): bytes to events.

Both take {"api_key", "events": [...], "options"?: {"min_id_length"}}; the
`api_key` is the project's write key. Amplitude's documented limits hold:
2,000 events a request (413, the SDKs then split the batch). With
`options.min_id_length`, a user_id or device_id shorter than it is refused
(Amplitude's own default of 5 is not applied: test account ids are the plan's).
"""

from __future__ import annotations

from typing import Any

from trackmaster.errors import field_error
from trackmaster.sources import CaughtEvent
from trackmaster.sources._common import (
    MAX_BATCH_EVENTS,
    MAX_MESSAGE_ID_CHARS,
    MAX_NAME_CHARS,
    MAX_PROJECT_KEY_CHARS,
    MAX_USER_ID_CHARS,
    Parsed,
    epoch_time,
    first_present,
    parse_items,
    require_object,
    text,
)
from trackmaster.sources.wire import Wire, json_body

MAX_EVENTS = 2000  # Amplitude: "up to 2000 events per request"
# The start of the problem text of an id under min_id_length (the web door groups by it).
ID_TOO_SHORT = "shorter than min_id_length"


def parse(wire: Wire) -> Parsed:
    return parse_amplitude(json_body(wire.body), limit=min(wire.max_events, MAX_EVENTS))


def parse_amplitude(body: Any, *, limit: int = MAX_BATCH_EVENTS) -> Parsed:
    """The events of a decoded body; `api_key` becomes each event's project_key."""
    body = require_object(body, "body")
    key = text(body.get("api_key"), "api_key", limit=MAX_PROJECT_KEY_CHARS, required=False)
    events = body.get("events")
    if events is None:
        raise field_error("events", "missing")
    if type(events) is not list:
        raise field_error("events", "must be an array of events")
    min_id_length = _min_id_length(body.get("options"))

    def one(event: Any, path: str) -> CaughtEvent:
        return _event(event, path, key, min_id_length)

    return parse_items(events, "events", one, Parsed(), limit)


def _min_id_length(options: Any) -> int:
    if options is None:
        return 1
    options = require_object(options, "options")
    value = options.get("min_id_length")
    if value is None:
        return 1
    if type(value) is not int or not 1 <= value <= MAX_USER_ID_CHARS:
        raise field_error(
            "options.min_id_length", f"must be a whole number from 1 to {MAX_USER_ID_CHARS}"
        )
    return value


def _event(event: Any, path: str, key: str | None, min_id_length: int) -> CaughtEvent:
    event = require_object(event, path)
    at = f"{path}."
    name = text(event.get("event_type"), f"{at}event_type", limit=MAX_NAME_CHARS, required=True)
    user_key, user = first_present(event, ("user_id", "device_id"))
    if user is None:
        raise field_error(f"{at}user_id", "missing (an event needs user_id or device_id)")
    user_id = text(user, f"{at}{user_key}", limit=MAX_USER_ID_CHARS, required=True, numbers=True)
    for id_key in ("user_id", "device_id"):
        value = user_id if id_key == user_key else event.get(id_key)
        if type(value) is str and len(value) < min_id_length:
            raise field_error(f"{at}{id_key}", f"{ID_TOO_SHORT} ({min_id_length})")
    insert_id = text(
        event.get("insert_id"), f"{at}insert_id", limit=MAX_MESSAGE_ID_CHARS, required=False
    )
    millis: Any = event.get("time")
    sent_at = epoch_time(millis / 1000) if type(millis) in (int, float) else None
    return CaughtEvent.parsed(
        "amplitude", name, user_id, event, message_id=insert_id, sent_at=sent_at, project_key=key
    )
