"""Tortoise models of the whole domain (see docs/data-model.md)."""

from trackmaster.models.ops import (
    DEFAULT_SYNC_INTERVAL_S,
    MAX_SYNC_INTERVAL_S,
    MIN_SYNC_INTERVAL_S,
    ApiToken,
    AuditEntry,
    Schedule,
    SyncRun,
    User,
)
from trackmaster.models.plan import (
    Account,
    EnumType,
    EnumValue,
    Event,
    Field,
    Project,
    Story,
    new_write_key,
)
from trackmaster.models.reports import ShareLink
from trackmaster.models.sessions import (
    CoverageValue,
    EventLog,
    Platform,
    SessionAccount,
    SessionEvent,
    SessionStatus,
    TestSession,
    UnmatchedEvent,
    Verdict,
    VerdictOverride,
)
from trackmaster.models.staging import JetStagedLog

__all__ = [
    "DEFAULT_SYNC_INTERVAL_S",
    "MAX_SYNC_INTERVAL_S",
    "MIN_SYNC_INTERVAL_S",
    "Account",
    "ApiToken",
    "AuditEntry",
    "CoverageValue",
    "EnumType",
    "EnumValue",
    "Event",
    "EventLog",
    "Field",
    "JetStagedLog",
    "Platform",
    "Project",
    "Schedule",
    "SessionAccount",
    "SessionEvent",
    "SessionStatus",
    "ShareLink",
    "Story",
    "SyncRun",
    "TestSession",
    "UnmatchedEvent",
    "User",
    "Verdict",
    "VerdictOverride",
    "new_write_key",
]
