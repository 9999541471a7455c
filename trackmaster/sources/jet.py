"""One item of Jet's "read logs" answer: {"id", "event", "filter", "userId", "log": "<JSON>"}."""

from __future__ import annotations

import json
from typing import Any

from trackmaster.errors import field_error
from trackmaster.sources import CaughtEvent
from trackmaster.sources._common import (
    MAX_MESSAGE_ID_CHARS,
    MAX_NAME_CHARS,
    MAX_USER_ID_CHARS,
    require_object,
    text,
)
from trackmaster.sources.mend import may_hold_surrogates, mend
from trackmaster.sources.rawlog import log_name, log_time, log_user


def parse_jet_log(item: Any) -> CaughtEvent:
    """The caught event of one Jet log item; its payload is the raw log, parsed.

    Name and user id come from the item (Jet matched the filter on them),
    falling back to the raw log's own; platform from the raw log's `$os`.
    """
    item = require_object(item, "log item")
    raw = item.get("log")
    if type(raw) is str:
        try:
            log = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise field_error("log", f"not valid JSON ({_short(exc)})") from None
        if may_hold_surrogates(raw):
            log = mend(log)
    elif raw is None:
        raise field_error("log", "missing")
    else:
        log = mend(raw)  # already decoded by a lenient sender
    log = require_object(log, "log")

    name = text(item.get("event"), "event", limit=MAX_NAME_CHARS, required=False)
    if name is None:
        name = log_name(log, "log")
    user_id = text(
        item.get("userId"), "userId", limit=MAX_USER_ID_CHARS, required=False, numbers=True
    )
    if user_id is None:
        user_id = log_user(log, "log")
    log_id = item.get("id")
    message_id = text(log_id, "id", limit=MAX_MESSAGE_ID_CHARS, required=False, numbers=True)
    return CaughtEvent.parsed(
        "jet", name, user_id, log, message_id=message_id, sent_at=log_time(log), project_key=None
    )


def _short(exc: BaseException) -> str:
    return str(exc)[:120]
