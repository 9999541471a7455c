"""Where caught events come from: every source format parsed into one CaughtEvent.

Parsers are pure (no I/O): they take the decoded JSON body and return a
`Parsed` list of CaughtEvents, or raise InvalidParams naming what is wrong
and where (`events[3].event: missing`). No other exception escapes for any
JSON input. Formats and limits: docs/checks.md.

    collect.parse_collect(body)              POST /collect (generic JSON or raw app logs)
    segment.parse_segment(body, kind=...)    Segment HTTP API /v1/track, /v1/batch
    amplitude.parse_amplitude(body)          Amplitude HTTP V2 /2/httpapi
    jet.parse_jet_log(item)                  one item of Jet's "read logs" answer
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from trackmaster.checks.lookup import LookupStyle
from trackmaster.kinds import Platform
from trackmaster.sources._common import (
    MAX_BATCH_EVENTS,
    MAX_MESSAGE_ID_CHARS,
    MAX_NAME_CHARS,
    MAX_USER_ID_CHARS,
    Parsed,
    detect_platform,
)


@dataclass(frozen=True, slots=True)
class CaughtEvent:
    name: str  # event name
    user_id: str  # test account id
    platform: Platform
    payload: dict[str, Any]  # the JSON object as received (one event), for storage and display
    source: str  # "jet" | "collect" | "segment" | "amplitude"
    message_id: str | None  # the sender's id for de-duplication
    sent_at: datetime | None  # the sender's timestamp if valid (aware UTC), else None
    project_key: str | None = None  # writeKey / api_key found in the body, if any

    @classmethod
    def parsed(
        cls,
        source: str,
        name: str,
        user_id: str,
        payload: dict[str, Any],
        *,
        message_id: str | None,
        sent_at: datetime | None,
        project_key: str | None,
        platform_from: dict[str, Any] | None = None,
    ) -> CaughtEvent:
        """What a parser returns: the platform read (detect_platform) from `platform_from`,
        the payload unless the format keeps it elsewhere."""
        platform = detect_platform(payload if platform_from is None else platform_from)
        return cls(name, user_id, platform, payload, source, message_id, sent_at, project_key)

    def __init__(
        self,
        name: str,
        user_id: str,
        platform: Platform,
        payload: dict[str, Any],
        source: str,
        message_id: str | None,
        sent_at: datetime | None,
        project_key: str | None = None,
    ) -> None:
        # What the frozen dataclass's own __init__ does (it stays frozen: assignments
        # after this raise), through the slots' own setters: the generated one goes
        # through object.__setattr__ per field, and took 2 µs of every event's parse.
        _SET_NAME(self, name)
        _SET_USER_ID(self, user_id)
        _SET_PLATFORM(self, platform)
        _SET_PAYLOAD(self, payload)
        _SET_SOURCE(self, source)
        _SET_MESSAGE_ID(self, message_id)
        _SET_SENT_AT(self, sent_at)
        _SET_PROJECT_KEY(self, project_key)

    @property
    def lookup_style(self) -> LookupStyle:
        """How checks.find_value searches this payload: "log" (raw app log) or "sdk"."""
        if self.source == "jet" or (self.source == "collect" and is_log_shape(self.payload)):
            return "log"
        return "sdk"


# The slots' setters, for CaughtEvent.__init__ (dataclass keeps a class's own __init__).
(_SET_NAME, _SET_USER_ID, _SET_PLATFORM, _SET_PAYLOAD, _SET_SOURCE, _SET_MESSAGE_ID,
 _SET_SENT_AT, _SET_PROJECT_KEY) = (
    CaughtEvent.__dict__[field.name].__set__ for field in fields(CaughtEvent)
)  # fmt: skip


def is_log_shape(item: dict[str, Any]) -> bool:
    """A collect item is a raw app log unless it names its event in a top-level "event" string."""
    return type(item.get("event")) is not str


__all__ = [
    "MAX_BATCH_EVENTS",
    "MAX_MESSAGE_ID_CHARS",
    "MAX_NAME_CHARS",
    "MAX_USER_ID_CHARS",
    "CaughtEvent",
    "Parsed",
    "detect_platform",
    "is_log_shape",
]
