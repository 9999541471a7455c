"""GA4 Measurement Protocol: POST /mp/collect and /debug/mp/collect, bytes to caught events.

    POST /mp/collect?measurement_id=G-XXXX&api_secret=KEY   (or firebase_app_id=)
    {"client_id" | "app_instance_id", "user_id"?, "user_properties"?,
     "events": [{"name": "play_click", "params": {...}}]}

Events by `name`, their `params` as fields (a field key `page_name` is looked
up in params first); the user is `user_id`, else `client_id`/`app_instance_id`.
The write key is the `api_secret` query parameter. GA4 has no OS field: the
platform comes from a `platform` or `os` param, else Other. Limit: 25 events
a request, as GA4 documents.
"""

from __future__ import annotations

from typing import Any

from trackmaster.errors import field_error
from trackmaster.sources import CaughtEvent
from trackmaster.sources._common import (
    MAX_NAME_CHARS,
    MAX_USER_ID_CHARS,
    Parsed,
    first_present,
    parse_items,
    parse_time,
    require_object,
    text,
)
from trackmaster.sources.wire import Wire, json_body

MAX_EVENTS = 25
USER_KEYS = ("user_id", "client_id", "app_instance_id")


def parse(wire: Wire) -> Parsed:
    return parse_ga4(json_body(wire.body), limit=min(MAX_EVENTS, wire.max_events))


def parse_ga4(body: Any, *, limit: int = MAX_EVENTS) -> Parsed:
    body = require_object(body, "body")
    user_key, user = first_present(body, USER_KEYS)
    if user is None:
        raise field_error("client_id", "missing (send client_id, app_instance_id or user_id)")
    user_id = text(user, user_key, limit=MAX_USER_ID_CHARS, required=True, numbers=True)
    events = body.get("events")
    if type(events) is not list or not events:
        raise field_error("events", "must be a non-empty array of {name, params}")
    micros: Any = body.get("timestamp_micros")
    sent_at = parse_time(micros / 1e6) if type(micros) in (int, float) else None
    common: dict[str, Any] = {k: body[k] for k in ("user_id", "client_id", "app_instance_id",
                                   "user_properties") if k in body}  # fmt: skip

    def one(event: Any, path: str) -> CaughtEvent:
        event = require_object(event, path)
        name = text(event.get("name"), f"{path}.name", limit=MAX_NAME_CHARS, required=True)
        params = event.get("params")
        if params is None:
            params = {}
        params = require_object(params, f"{path}.params")
        # "params" holds the fields: the lookup reads it as an SDK's "properties".
        payload = {**common, "name": name, "properties": params}
        return CaughtEvent.parsed(
            "ga4", name, user_id, payload, platform_from=params,
            message_id=None, sent_at=sent_at, project_key=None,
        )  # fmt: skip

    return parse_items(events, "events", one, Parsed(), limit)
