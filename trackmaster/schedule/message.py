"""The message that says "project N may be due": JSON, keyed by the project id.

`{"project": 7, "interval_s": 10800, "published_at": "2026-01-01T00:00:00+00:00"}`

Only `project` is acted on. `interval_s` and `published_at` are there for people
reading the topic: the consumer never trusts them, it re-reads the schedule under
the project's lock (the original trusted the message's stale time and ran twice).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from trackmaster.models import Schedule

MAX_MESSAGE_BYTES = 4096


class MalformedMessage(ValueError):
    """The message cannot be read; the text says what is wrong with it."""


@dataclass(frozen=True)
class ScheduleMessage:
    project_id: int
    interval_s: int | None = None
    published_at: str = ""

    def key(self) -> bytes:
        return str(self.project_id).encode()

    def encode(self) -> bytes:
        return json.dumps(
            {
                "project": self.project_id,
                "interval_s": self.interval_s,
                "published_at": self.published_at,
            }
        ).encode()

    @classmethod
    def for_schedule(cls, schedule: Schedule, now: datetime) -> ScheduleMessage:
        return cls(schedule.project_id, schedule.interval_s, now.isoformat())

    @classmethod
    def decode(cls, raw: bytes | None) -> ScheduleMessage:
        if raw is None:
            raise MalformedMessage("empty message (no value)")
        if len(raw) > MAX_MESSAGE_BYTES:
            raise MalformedMessage(f"message of {len(raw)} bytes; at most {MAX_MESSAGE_BYTES}")
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, ValueError) as exc:
            raise MalformedMessage(f"not JSON: {exc}; starts with {raw[:40]!r}") from None
        if not isinstance(body, dict):
            raise MalformedMessage(f"expected a JSON object, got {type(body).__name__}")
        project = body.get("project")
        # bool is an int in Python; `true` is not a project id.
        if not isinstance(project, int) or isinstance(project, bool) or project < 1:
            raise MalformedMessage(f"`project` must be a positive integer, got {project!r}")
        interval_s = body.get("interval_s")
        return cls(
            project,
            interval_s if isinstance(interval_s, int) else None,
            str(body.get("published_at") or ""),
        )
