"""Segment's HTTP tracking API: /v1/track (/v1/t) and /v1/batch (/v1/b).

Only track messages are events; identify, page, screen, group and alias are
valid Segment messages that carry no tracked event: they are counted in
`Parsed.ignored` (the API answers success for them, as Segment does).
"""

from __future__ import annotations

from datetime import datetime
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
    first_present,
    parse_items,
    parse_time,
    require_object,
    text,
)

KINDS = ("track", "batch")
# Message types Segment accepts that are not tracked events.
IGNORED_TYPES = frozenset({"identify", "page", "screen", "group", "alias"})
# Batch context merges under a message's own, this many levels deep; deeper, the message's wins.
_MERGE_DEPTH = 4


def parse_segment(body: Any, *, kind: str) -> Parsed:
    """The track events of a /v1/track (kind "track") or /v1/batch (kind "batch") body."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    body = require_object(body, "body")
    parsed = Parsed()
    if kind == "track":
        key = text(body.get("writeKey"), "writeKey", limit=MAX_PROJECT_KEY_CHARS, required=False)
        event = _message(body, "", parsed, key, None, None, type_required=False)
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
        return _message(message, path, parsed, key, context, sent_at, type_required=True)

    return parse_items(batch, "batch", one, parsed)


def _message(
    message: Any,
    path: str,
    parsed: Parsed,
    batch_key: str | None,
    batch_context: dict | None,
    batch_sent_at: datetime | None,
    *,
    type_required: bool,
) -> CaughtEvent | None:
    at = f"{path}." if path else ""
    message = require_object(message, path or "body")
    kind = message.get("type")
    if kind is None:
        if type_required:
            raise field_error(f"{at}type", "missing (track, identify, page, screen, group, alias)")
    elif type(kind) is not str:
        raise field_error(f"{at}type", "must be a string")
    elif kind != "track":
        if kind not in IGNORED_TYPES:
            raise field_error(f"{at}type", f"unknown message type {kind[:40]!r}")
        parsed.ignore(kind)
        return None

    name = text(message.get("event"), f"{at}event", limit=MAX_NAME_CHARS, required=True)
    user_key, user = first_present(message, ("userId", "anonymousId"))
    if user is None:
        raise field_error(f"{at}userId", "missing (a track message needs userId or anonymousId)")
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
    return CaughtEvent(
        name=name,
        user_id=user_id,
        platform=detect_platform(payload),
        payload=payload,
        source="segment",
        message_id=message_id,
        sent_at=sent_at,
        project_key=own_key or batch_key,
    )


def _merge(under: dict, over: dict, depth: int) -> dict:
    """`over` on top of `under`; nested objects merge too, down to `depth` levels."""
    merged = dict(under)
    for key, value in over.items():
        below = merged.get(key)
        if depth > 1 and type(value) is dict and type(below) is dict:
            merged[key] = _merge(below, value, depth - 1)
        else:
            merged[key] = value
    return merged
