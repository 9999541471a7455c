"""Segment's HTTP tracking API (and RudderStack's, which speaks it): bytes to caught events.

    /v1/track /v1/t, /v1/page /v1/p, /v1/screen /v1/s   one call (its type from the path)
    /v1/identify /v1/i, /v1/group /v1/g, /v1/alias /v1/a one call that is not an event
    /v1/batch /v1/b                                     {"batch": [calls], "writeKey"?, "context"?}

Events are `track` calls (named by `event`), `screen` calls and `page` calls
(named by `name`, else `properties.name`): a plan lists a screen or page by
that name. A page or screen without a name, and identify, group and alias,
are valid Segment calls that are not events: counted in `Parsed.ignored`
(the API answers success for them, as Segment does). Segment's documented
limits hold: 32 KB a call, 500 KB a batch (400 over them, as Segment answers).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import orjson

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
from trackmaster.sources.wire import Wire, json_body

# The single-call endpoints, by the type each posts; "batch" is the batch endpoint.
CALL_TYPES = ("track", "page", "screen", "identify", "group", "alias")
KINDS = (*CALL_TYPES, "batch")
EVENT_TYPES = frozenset({"track", "page", "screen"})
# Message types Segment accepts that are not tracked events.
IGNORED_TYPES = frozenset({"identify", "group", "alias"})
MAX_CALL_BYTES = 32 * 1024  # Segment: "32 KB per call"
MAX_BATCH_BYTES = 500 * 1024  # Segment: "500 KB per batch request"
# Batch context merges under a message's own, this many levels deep; deeper, the message's wins.
_MERGE_DEPTH = 4


def parse(wire: Wire, *, kind: str) -> Parsed:
    """The events of a request body to the endpoint of `kind` (a call type, or "batch")."""
    limit, what = (MAX_BATCH_BYTES, "a batch") if kind == "batch" else (MAX_CALL_BYTES, "a call")
    if len(wire.body) > limit:
        raise field_error(
            "body", f"{len(wire.body)} bytes, over Segment's limit of {limit // 1024} KB {what}"
        )
    return parse_segment(json_body(wire.body), kind=kind, limit=wire.max_events)


def parse_segment(body: Any, *, kind: str, limit: int = MAX_BATCH_EVENTS) -> Parsed:
    """The events of a decoded body posted to the endpoint of `kind`."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    body = require_object(body, "body")
    parsed = Parsed()
    if kind != "batch":
        key = text(body.get("writeKey"), "writeKey", limit=MAX_PROJECT_KEY_CHARS, required=False)
        event = _message(body, "", parsed, key, None, None, default_type=kind)
        if event is not None:
            parsed.append(event)
        return parsed

    batch = body.get("batch")
    if batch is None:
        raise field_error("batch", "missing")
    if type(batch) is not list:
        raise field_error("batch", "must be an array of messages")
    key = text(body.get("writeKey"), "writeKey", limit=MAX_PROJECT_KEY_CHARS, required=False)
    context = body.get("context")
    if context is not None:
        context = require_object(context, "context")
    sent_at = parse_time(body.get("sentAt"))

    def one(message: Any, path: str) -> CaughtEvent | None:
        if type(message) is dict and _size(message) > MAX_CALL_BYTES:
            raise field_error(path, f"over Segment's limit of {MAX_CALL_BYTES // 1024} KB a call")
        return _message(message, path, parsed, key, context, sent_at, default_type=None)

    return parse_items(batch, "batch", one, parsed, limit)


def _size(message: dict[str, Any]) -> int:
    """The bytes of a call as JSON (orjson refuses integers beyond 64 bits; json does not)."""
    try:
        return len(orjson.dumps(message))
    except (orjson.JSONEncodeError, TypeError):
        return len(json.dumps(message, ensure_ascii=False).encode("utf-8", "surrogatepass"))


def _name(message: dict[str, Any], kind: str, at: str) -> str | None:
    """A track's `event`; a page's or screen's `name`, else `properties.name` (None: unnamed)."""
    if kind == "track":
        return text(message.get("event"), f"{at}event", limit=MAX_NAME_CHARS, required=True)
    name = message.get("name")
    where = "name"
    if name is None:
        properties = message.get("properties")
        if type(properties) is dict:
            name, where = properties.get("name"), "properties.name"
    if name is None or (type(name) is str and not name.strip()):
        return None
    return text(name, f"{at}{where}", limit=MAX_NAME_CHARS, required=True)


def _message(
    message: Any,
    path: str,
    parsed: Parsed,
    batch_key: str | None,
    batch_context: dict[str, Any] | None,
    batch_sent_at: datetime | None,
    *,
    default_type: str | None,
) -> CaughtEvent | None:
    at = f"{path}." if path else ""
    message = require_object(message, path or "body")
    kind = message.get("type")
    if kind is None:
        kind = default_type
    if kind is None:
        raise field_error(f"{at}type", "missing (track, identify, page, screen, group, alias)")
    if type(kind) is not str:
        raise field_error(f"{at}type", "must be a string")
    if kind not in EVENT_TYPES:
        if kind not in IGNORED_TYPES:
            raise field_error(f"{at}type", f"unknown message type {kind[:40]!r}")
        parsed.ignore(kind)
        return None
    name = _name(message, kind, at)
    if name is None:
        parsed.ignore(f"{kind} without a name")
        return None
    user_key, user = first_present(message, ("userId", "anonymousId"))
    if user is None:
        raise field_error(f"{at}userId", "missing (a call needs userId or anonymousId)")
    user_id = text(user, f"{at}{user_key}", limit=MAX_USER_ID_CHARS, required=True, numbers=True)
    message_id = text(
        message.get("messageId"), f"{at}messageId", limit=MAX_MESSAGE_ID_CHARS, required=False
    )
    own_key = text(
        message.get("writeKey"), f"{at}writeKey", limit=MAX_PROJECT_KEY_CHARS, required=False
    )
    context = message.get("context")
    if context is not None and type(context) is not dict:
        raise field_error(f"{at}context", "not an object")
    if batch_context:
        context = _merge(batch_context, context or {}, _MERGE_DEPTH)
    payload = message
    if context is not message.get("context") or "writeKey" in message:
        # Stored as received, minus the write key (a credential) and with the batch context.
        payload = {k: v for k, v in message.items() if k != "writeKey"}
        if context is not None:
            payload["context"] = context
    sent_at = (
        parse_time(message.get("timestamp"))
        or parse_time(message.get("originalTimestamp"))
        or parse_time(message.get("sentAt"))
        or batch_sent_at
    )
    return CaughtEvent.parsed(
        "segment", name, user_id, payload,
        message_id=message_id, sent_at=sent_at, project_key=own_key or batch_key,
    )  # fmt: skip


def _merge(under: dict[str, Any], over: dict[str, Any], depth: int) -> dict[str, Any]:
    """`over` on top of `under`; nested objects merge too, down to `depth` levels."""
    merged = dict(under)
    for key, value in over.items():
        below = merged.get(key)
        if depth > 1 and type(value) is dict and type(below) is dict:
            merged[key] = _merge(below, value, depth - 1)
        else:
            merged[key] = value
    return merged
