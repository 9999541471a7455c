"""PostHog's capture API: POST /capture/, /batch/, /e/, /i/v0/e/, bytes to caught events.

Bodies are JSON (gzip by header or `?compression=gzip-js`, undone by the web
door) or a form whose `data=` holds base64 JSON (older posthog-js), shaped:

    {"api_key", "event", "distinct_id", "properties": {"$os", "$lib", ...}, "uuid"?}
    {"api_key", "batch": [events]}          or a bare array of events (posthog-js)

The write key is `api_key` (or an event's `api_key`/`token`/`properties.token`);
the user `distinct_id` (top level or in properties); the platform `$os`, else
the library `$lib` (posthog-ios, posthog-android); de-duplication by `uuid`.
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
    first_present,
    parse_items,
    parse_time,
    require_object,
    text,
)
from trackmaster.sources.mixpanel import decode
from trackmaster.sources.wire import Wire

_SECRET_KEYS = ("api_key", "token")


def parse(wire: Wire) -> Parsed:
    # The same `data=` / JSON decoding as Mixpanel's: posthog-js began as its fork.
    return parse_posthog(decode(wire), limit=wire.max_events)


def parse_posthog(body: Any, *, limit: int = MAX_BATCH_EVENTS) -> Parsed:
    if type(body) is list:
        return parse_items(body, "", lambda item, path: _event(item, path, None), Parsed(), limit)
    body = require_object(body, "body")
    key = _key(body, "")
    if "batch" in body:
        batch = body["batch"]
        if type(batch) is not list:
            raise field_error("batch", "must be an array of events")
        return parse_items(
            batch, "batch", lambda item, path: _event(item, path, key), Parsed(), limit
        )
    return Parsed([_event(body, "", key)])


def _key(obj: dict[str, Any], at: str) -> str | None:
    name, value = first_present(obj, _SECRET_KEYS)
    return text(value, f"{at}{name}", limit=MAX_PROJECT_KEY_CHARS, required=False)


def _event(event: Any, path: str, batch_key: str | None) -> CaughtEvent:
    event = require_object(event, path or "body")
    at = f"{path}." if path else ""
    name = text(event.get("event"), f"{at}event", limit=MAX_NAME_CHARS, required=True)
    properties = event.get("properties")
    if properties is None:
        properties = {}
    properties = require_object(properties, f"{at}properties")
    user_key, user = first_present(event, ("distinct_id",))
    where = at
    if user is None:
        user_key, user, where = "distinct_id", properties.get("distinct_id"), f"{at}properties."
    if user is None:
        raise field_error(f"{at}distinct_id", "missing (an event needs distinct_id)")
    user_id = text(user, f"{where}{user_key}", limit=MAX_USER_ID_CHARS, required=True, numbers=True)
    uuid = text(event.get("uuid"), f"{at}uuid", limit=MAX_MESSAGE_ID_CHARS, required=False)
    key = _key(event, at) or _key(properties, f"{at}properties.") or batch_key
    payload = {k: v for k, v in event.items() if k not in _SECRET_KEYS}
    if any(k in properties for k in _SECRET_KEYS):
        payload["properties"] = {k: v for k, v in properties.items() if k not in _SECRET_KEYS}
    return CaughtEvent.parsed(
        "posthog", name, user_id, payload, platform_from=properties,
        message_id=uuid, sent_at=parse_time(event.get("timestamp")), project_key=key,
    )  # fmt: skip
