"""The generic POST /collect: one event or a list, each in one of two shapes.

- SDK shape, recognised by a top-level "event" string:
  {"event": "play_click", "userId": "u1", "platform": "iOS", "properties": {...},
   "messageId"?, "timestamp"?, "writeKey"?}
- Raw app log shape (anything else), as Jet stores them: name from
  event_info.event, user id from $user_id / user_id / userId, platform from $os
  (see sources/rawlog.py).
"""

from __future__ import annotations

from typing import Any

from trackmaster.errors import field_error
from trackmaster.sources import CaughtEvent, is_log_shape
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
from trackmaster.sources.rawlog import log_name, log_time, log_user
from trackmaster.sources.wire import Wire, json_body

SDK_USER_KEYS = ("userId", "user_id", "anonymousId")
MESSAGE_ID_KEYS = ("messageId", "id")
SDK_TIME_KEYS = ("timestamp", "time", "sentAt")


def parse(wire: Wire) -> Parsed:
    return parse_collect(json_body(wire.body), limit=wire.max_events)


def parse_collect(body: Any, *, limit: int = MAX_BATCH_EVENTS) -> Parsed:
    """The events of a /collect body: an object (one event) or an array of them."""
    if type(body) is list:
        return parse_items(body, "", _item, Parsed(), limit)
    if type(body) is not dict:
        raise field_error("body", "must be an event object or an array of events")
    return Parsed([_item(body, "")])


def _item(item: Any, path: str) -> CaughtEvent:
    item = require_object(item, path or "body")
    at = f"{path}." if path else ""
    if is_log_shape(item):
        name = log_name(item, path)
        user_id = log_user(item, path)
        sent_at = log_time(item)
    else:
        name = text(item["event"], f"{at}event", limit=MAX_NAME_CHARS, required=True)
        user_key, user = first_present(item, SDK_USER_KEYS)
        if user is None:
            raise field_error(f"{at}userId", "missing (an event needs userId)")
        user_id = text(
            user, f"{at}{user_key}", limit=MAX_USER_ID_CHARS, required=True, numbers=True
        )
        sent_at = None
        for key in SDK_TIME_KEYS:
            sent_at = parse_time(item.get(key))
            if sent_at is not None:
                break
    id_key, raw_id = first_present(item, MESSAGE_ID_KEYS)
    message_id = text(
        raw_id, f"{at}{id_key}", limit=MAX_MESSAGE_ID_CHARS, required=False, numbers=True
    )
    project_key = None
    payload = item
    if "writeKey" in item:
        project_key = text(
            item["writeKey"], f"{at}writeKey", limit=MAX_PROJECT_KEY_CHARS, required=False
        )
        payload = {k: v for k, v in item.items() if k != "writeKey"}
    return CaughtEvent.parsed(
        "collect", name, user_id, payload, platform_from=item,
        message_id=message_id, sent_at=sent_at, project_key=project_key,
    )  # fmt: skip
