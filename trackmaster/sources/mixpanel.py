"""Mixpanel's ingestion API: POST /track and /import, bytes to caught events.

Bodies come as a form (`data=` holding JSON, or base64 of JSON as the mobile
and older JS SDKs send it) or as JSON; either one event or an array:

    {"event": "play_click", "properties": {"token", "distinct_id", "time", "$insert_id",
                                           "$os": "iOS", ...}}

The write key is `properties.token` (or the request's key); the user is
`distinct_id`; the platform `$os`; de-duplication by `$insert_id`. Limits as
Mixpanel documents them: 50 events a /track request, 2,000 an /import.
"""

from __future__ import annotations

from typing import Any

from trackmaster.errors import BadRequest, field_error
from trackmaster.sources import CaughtEvent
from trackmaster.sources._common import (
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
from trackmaster.sources.wire import Wire, base64_json, form_fields, json_body

MAX_TRACK_EVENTS = 50
MAX_IMPORT_EVENTS = 2000


def parse(wire: Wire, *, kind: str = "track") -> Parsed:
    limit = MAX_TRACK_EVENTS if kind == "track" else MAX_IMPORT_EVENTS
    return parse_mixpanel(decode(wire), limit=min(limit, wire.max_events))


def decode(wire: Wire) -> Any:
    """The JSON a request carries: a form's (or the query's) `data=`, else the body itself."""
    data = None
    if wire.is_form:
        data = form_fields(wire.body).get("data")
        if data is None:
            raise BadRequest("the form has no data= field; send data=<JSON or base64 JSON>")
    elif not wire.body.strip() and "data" in wire.query:
        data = wire.query["data"]
    if data is None:
        return json_body(wire.body)
    if data.lstrip()[:1] in ("[", "{"):
        return json_body(data.encode("utf-8"), "data=")
    return base64_json(data, "data")


def parse_mixpanel(body: Any, *, limit: int = MAX_IMPORT_EVENTS) -> Parsed:
    if type(body) is list:
        return parse_items(body, "", _event, Parsed(), limit)
    return Parsed([_event(body, "")])


def _event(event: Any, path: str) -> CaughtEvent:
    event = require_object(event, path or "body")
    at = f"{path}." if path else ""
    name = text(event.get("event"), f"{at}event", limit=MAX_NAME_CHARS, required=True)
    properties = event.get("properties")
    if properties is None:
        properties = {}
    properties = require_object(properties, f"{at}properties")
    user_key, user = first_present(properties, ("distinct_id", "$distinct_id", "$user_id"))
    if user is None:
        raise field_error(f"{at}properties.distinct_id", "missing (an event needs distinct_id)")
    user_id = text(
        user, f"{at}properties.{user_key}", limit=MAX_USER_ID_CHARS, required=True, numbers=True
    )
    key = text(
        properties.get("token"), f"{at}properties.token", limit=MAX_PROJECT_KEY_CHARS,
        required=False,
    )  # fmt: skip
    insert_id = text(
        properties.get("$insert_id"), f"{at}properties.$insert_id", limit=MAX_MESSAGE_ID_CHARS,
        required=False, numbers=True,
    )  # fmt: skip
    payload = event
    if "token" in properties:  # the token is a credential: never stored
        kept = dict(properties)
        del kept["token"]
        payload = {**event, "properties": kept}
    return CaughtEvent.parsed(
        "mixpanel", name, user_id, payload, platform_from=properties,
        message_id=insert_id, sent_at=parse_time(properties.get("time")), project_key=key,
    )  # fmt: skip
