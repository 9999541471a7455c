"""Amplitude's HTTP V2 API: POST /2/httpapi {"api_key", "events": [...]}."""

from __future__ import annotations

from typing import Any

from trackmaster.errors import field_error
from trackmaster.sources import CaughtEvent
from trackmaster.sources._common import (
    MAX_MESSAGE_ID_CHARS,
    MAX_NAME_CHARS,
    MAX_PROJECT_KEY_CHARS,
    MAX_USER_ID_CHARS,
    Parsed,
    detect_platform,
    epoch_time,
    first_present,
    parse_items,
    require_object,
    text,
)


def parse_amplitude(body: Any) -> Parsed:
    """The events of an HTTP V2 body; `api_key` becomes each event's project_key."""
    body = require_object(body, "body")
    key = text(body.get("api_key"), "api_key", limit=MAX_PROJECT_KEY_CHARS, required=False)
    events = body.get("events")
    if events is None:
        raise field_error("events", "missing")
    if type(events) is not list:
        raise field_error("events", "must be an array of events")

    def one(event: Any, path: str) -> CaughtEvent:
        return _event(event, path, key)

    return parse_items(events, "events", one, Parsed())


def _event(event: Any, path: str, key: str | None) -> CaughtEvent:
    event = require_object(event, path)
    at = f"{path}."
    name = text(event.get("event_type"), f"{at}event_type", limit=MAX_NAME_CHARS, required=True)
    user_key, user = first_present(event, ("user_id", "device_id"))
    if user is None:
        raise field_error(f"{at}user_id", "missing (an event needs user_id or device_id)")
    user_id = text(user, f"{at}{user_key}", limit=MAX_USER_ID_CHARS, required=True, numbers=True)
    insert_id = text(
        event.get("insert_id"), f"{at}insert_id", limit=MAX_MESSAGE_ID_CHARS, required=False
    )
    millis = event.get("time")
    sent_at = epoch_time(millis / 1000) if type(millis) in (int, float) else None
    return CaughtEvent(
        name=name,
        user_id=user_id,
        platform=detect_platform(event),
        payload=event,
        source="amplitude",
        message_id=insert_id,
        sent_at=sent_at,
        project_key=key,
    )
