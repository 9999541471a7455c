"""The domain's plain enums: a session's status, a platform, a verdict.

Plain Python, no ORM: the pure checks (trackmaster/checks) and the event formats
(trackmaster/sources) use them without importing the models, which store them
(trackmaster/models re-exports them for the rest).
"""

from __future__ import annotations

from enum import StrEnum


class SessionStatus(StrEnum):
    ON = "ON"
    OFF = "OFF"


class Platform(StrEnum):
    IOS = "iOS"
    ANDROID = "Android"
    OTHER = "Other"


# The platforms' names in the order every table and report shows them.
PLATFORMS: tuple[str, ...] = tuple(p.value for p in Platform)


class Verdict(StrEnum):
    SUCCESS = "SUCCESS"
    FAIL = "FAIL"
    UNCERTAIN = "UNCERTAIN"
    UNTESTED = "UNTESTED"
