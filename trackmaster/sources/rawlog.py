"""The raw app log shape (Jet's logs, and /collect items in that shape): name, user id, time.

A raw log is a flat-ish object such as
{"$os": "iOS", "$user_id": "u1", "event_info": {"event": "play_click", ...}, "page_info": {...}};
web logs flatten nested keys with "$$" ("event_info$$event").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from trackmaster.checks import find_value
from trackmaster.errors import field_error
from trackmaster.sources._common import (
    MAX_NAME_CHARS,
    MAX_USER_ID_CHARS,
    first_present,
    parse_time,
    text,
)

# Where a raw log names its event, in order (paths as field keys: "$$" forms are found too).
NAME_KEYS = ("event_info.event", "$event", "event")
USER_KEYS = ("$user_id", "user_id", "userId")
TIME_KEYS = ("$time", "time", "timestamp")


def log_name(log: dict[str, Any], path: str) -> str:
    at = f"{path}." if path else ""
    for key in NAME_KEYS:
        found, value = find_value(log, key, "log")
        if found and value is not None:
            return text(value, f"{at}{key}", limit=MAX_NAME_CHARS, required=True)
    raise field_error(f"{at}event_info.event", "missing (the event name of a raw log)")


def log_user(log: dict[str, Any], path: str) -> str:
    at = f"{path}." if path else ""
    key, value = first_present(log, USER_KEYS)
    if value is None:
        raise field_error(f"{at}$user_id", "missing (a raw log needs $user_id, user_id or userId)")
    return text(value, f"{at}{key}", limit=MAX_USER_ID_CHARS, required=True, numbers=True)


def log_time(log: dict[str, Any]) -> datetime | None:
    for key in TIME_KEYS:
        moment = parse_time(log.get(key))
        if moment is not None:
            return moment
    return None
