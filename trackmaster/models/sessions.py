"""Realtime test sessions and what they caught.

Storage is compact on purpose: one row per caught event log carrying every
field's value and verdict as JSON, instead of a row per field (MariaDB takes
a few thousand bulk inserts a second; a row per field would cut throughput
tenfold). Results are a row per cell (ResultCell) with counts per verdict,
upserted once per batch and cell, plus a few distinct values per cell
(CellValue); coverage rows are written only the first time a value is seen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

from trackmaster.kinds import PLATFORMS, Platform, SessionStatus, Verdict

if TYPE_CHECKING:
    from trackmaster.models.plan import Account, Event, Field, Project


# The domain's enums are plain Python (trackmaster/kinds.py), stored by these models.
__all__ = ["PLATFORMS", "Platform", "SessionStatus", "Verdict"]


class TestSession(Model):
    """A realtime test ("record" in the original API)."""

    __test__ = False  # not a pytest test class, despite the name

    id = fields.IntField(primary_key=True)
    project: fields.ForeignKeyRelation[Project] = fields.ForeignKeyField(
        "models.Project", related_name="sessions", on_delete=fields.CASCADE
    )
    project_id: int
    name = fields.CharField(max_length=200, default="")
    status = fields.CharEnumField(SessionStatus, default=SessionStatus.ON, max_length=8)
    # "push" (events posted to TrackMaster) or "jet" (pulled from a Jet log filter).
    source = fields.CharField(max_length=16, default="push")
    jet_filter_id = fields.CharField(max_length=64, null=True)
    started_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    stopped_at = fields.DatetimeField(null=True)
    stop_reason = fields.CharField(max_length=64, default="")
    created_by = fields.CharField(max_length=150, default="")
    # Bumped on every change a live page must show; SSE streams resume from it.
    revision = fields.BigIntField(default=0)

    class Meta:
        table = "test_session"
        indexes = (("project_id", "status"), ("status", "expires_at"))
        ordering = ["-id"]


class SessionAccount(Model):
    id = fields.IntField(primary_key=True)
    session: fields.ForeignKeyRelation[TestSession] = fields.ForeignKeyField(
        "models.TestSession", related_name="accounts", on_delete=fields.CASCADE
    )
    session_id: int
    account: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="session_links", null=True, on_delete=fields.SET_NULL
    )
    account_id: int | None
    # Copied so that matching needs no join and survives the account's deletion.
    user_id = fields.CharField(max_length=128)

    class Meta:
        table = "session_account"
        unique_together = (("session", "user_id"),)


class SessionEvent(Model):
    id = fields.IntField(primary_key=True)
    session: fields.ForeignKeyRelation[TestSession] = fields.ForeignKeyField(
        "models.TestSession", related_name="events", on_delete=fields.CASCADE
    )
    session_id: int
    event: fields.ForeignKeyRelation[Event] = fields.ForeignKeyField(
        "models.Event", related_name="session_links", on_delete=fields.CASCADE
    )
    event_id: int
    # Copied: names are unique within a session and are what caught logs match on.
    name = fields.CharField(max_length=255)

    class Meta:
        table = "session_event"
        unique_together = (("session", "name"),)


class EventLog(Model):
    """One event emitted by the app and caught by a session, with its verdicts."""

    id = fields.BigIntField(primary_key=True)
    session: fields.ForeignKeyRelation[TestSession] = fields.ForeignKeyField(
        "models.TestSession", related_name="logs", on_delete=fields.CASCADE
    )
    session_id: int
    event: fields.ForeignKeyRelation[Event] = fields.ForeignKeyField(
        "models.Event", related_name="logs", on_delete=fields.CASCADE
    )
    event_id: int
    name = fields.CharField(max_length=255)
    user_id = fields.CharField(max_length=128)
    platform = fields.CharEnumField(Platform, max_length=8)
    # "jet", "collect", "segment", "amplitude": where it came from.
    source = fields.CharField(max_length=16)
    # The sender's id for the message (Segment messageId, Jet log id) for de-duplication.
    message_id = fields.CharField(max_length=128, null=True)
    # When the app says it happened, and when TrackMaster caught it.
    sent_at = fields.DatetimeField(null=True)
    received_at = fields.DatetimeField()
    # The raw payload, as text: untrusted, shown escaped, never parsed by the browser.
    payload = fields.TextField()
    # {field_id: value found or null}, {field_id: [verdict, reason]}.
    field_values: dict[str, Any] = fields.JSONField(default=dict)
    verdicts: dict[str, Any] = fields.JSONField(default=dict)
    cleared = fields.BooleanField(default=False)

    class Meta:
        table = "event_log"
        indexes = (("session_id", "cleared", "id"), ("session_id", "event_id", "platform", "id"))
        unique_together = (("session", "message_id"),)
        ordering = ["-id"]


class CoverageValue(Model):
    """A value of an enumerated field first seen in a session, per platform."""

    id = fields.BigIntField(primary_key=True)
    session: fields.ForeignKeyRelation[TestSession] = fields.ForeignKeyField(
        "models.TestSession", related_name="coverage", on_delete=fields.CASCADE
    )
    session_id: int
    field: fields.ForeignKeyRelation[Field] = fields.ForeignKeyField(
        "models.Field", related_name="coverage", on_delete=fields.CASCADE
    )
    field_id: int
    platform = fields.CharEnumField(Platform, max_length=8)
    value = fields.CharField(max_length=255)
    first_log_id = fields.BigIntField(null=True)
    first_seen_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "coverage_value"
        unique_together = (("session", "field", "platform", "value"),)


class VerdictOverride(Model):
    """A tester's hand verdict on a field, or the reset of an event to UNTESTED.

    Kept forever (who, when, why): results show the newest override when it is
    newer than the newest caught log of that event and platform.
    """

    id = fields.BigIntField(primary_key=True)
    session: fields.ForeignKeyRelation[TestSession] = fields.ForeignKeyField(
        "models.TestSession", related_name="overrides", on_delete=fields.CASCADE
    )
    session_id: int
    event: fields.ForeignKeyRelation[Event] = fields.ForeignKeyField(
        "models.Event", related_name="overrides", on_delete=fields.CASCADE
    )
    event_id: int
    # None with kind "reset": every field of the event.
    field: fields.ForeignKeyNullableRelation[Field] = fields.ForeignKeyField(
        "models.Field", related_name="overrides", null=True, on_delete=fields.CASCADE
    )
    field_id: int | None
    kind = fields.CharField(max_length=16, default="override")  # "override" or "reset"
    # None: every platform column.
    platform = fields.CharEnumField(Platform, max_length=8, null=True)
    verdict = fields.CharEnumField(Verdict, max_length=16)
    reason = fields.TextField(default="")
    created_by = fields.CharField(max_length=150, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    # The newest log id of the session when the override was made: results
    # compare it with the newest log to know which one is more recent.
    after_log_id = fields.BigIntField(default=0)
    # Set by a re-judge that changed the verdicts of this override's field: the rule under
    # the override is no longer the one the tester saw.
    rule_changed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "verdict_override"
        indexes = (("session_id", "event_id", "id"),)


class UnmatchedEvent(Model):
    """A small bin of recent events that matched no live session ("why didn't it show?")."""

    id = fields.BigIntField(primary_key=True)
    project: fields.ForeignKeyRelation[Project] = fields.ForeignKeyField(
        "models.Project", related_name="unmatched", on_delete=fields.CASCADE
    )
    project_id: int
    name = fields.CharField(max_length=255)
    user_id = fields.CharField(max_length=128)
    platform = fields.CharEnumField(Platform, max_length=8)
    source = fields.CharField(max_length=16)
    reason = fields.CharField(max_length=255)
    received_at = fields.DatetimeField()
    payload = fields.TextField()

    class Meta:
        table = "unmatched_event"
        indexes = (("project_id", "id"),)


class ResultCell(Model):
    """One results cell (session x event x field x platform): its counts per verdict.

    Updated by upserts in the same transaction as the caught logs, so a page
    never recomputes them from the logs. `n_*` count every event judged since
    the cell's last reset; `o_*` ("outstanding") those since the last override
    (equal to `n_*` when there is none). field_id 0 is the event as a whole:
    events counted by their worst field verdict, and `caught` (never reset).
    See trackmaster/sessions/cells.py for how a verdict is read from a row.
    """

    id = fields.BigIntField(primary_key=True)
    session: fields.ForeignKeyRelation[TestSession] = fields.ForeignKeyField(
        "models.TestSession", related_name="cells", on_delete=fields.CASCADE
    )
    session_id: int
    # Plain ids, no foreign keys: field 0 is no field, and cells outlive plan rows.
    event_id = fields.IntField()
    field_id = fields.IntField()
    platform = fields.CharEnumField(Platform, max_length=8)
    caught = fields.BigIntField(default=0)
    # Events caught since the cell's last reset (`caught` counts every one ever).
    n_caught = fields.BigIntField(default=0, db_default=0)
    n_success = fields.BigIntField(default=0)
    n_fail = fields.BigIntField(default=0)
    n_uncertain = fields.BigIntField(default=0)
    o_success = fields.BigIntField(default=0)
    o_fail = fields.BigIntField(default=0)
    o_uncertain = fields.BigIntField(default=0)
    # Events whose value was not kept as a CellValue (past the cap of distinct values).
    other_values = fields.BigIntField(default=0)
    # The newest reason and code of each verdict; the worst outstanding one is shown.
    success_reason = fields.CharField(max_length=500, default="")
    fail_reason = fields.CharField(max_length=500, default="")
    fail_code = fields.CharField(max_length=32, default="")
    uncertain_reason = fields.CharField(max_length=500, default="")
    uncertain_code = fields.CharField(max_length=32, default="")
    last_log_id = fields.BigIntField(default=0)
    # The override that covers every event counted before `o_*` began; None: none since reset.
    override_id = fields.BigIntField(null=True)
    override_verdict = fields.CharEnumField(Verdict, max_length=16, null=True)

    class Meta:
        table = "result_cell"
        unique_together = (("session", "event_id", "field_id", "platform"),)


class CellValue(Model):
    """A distinct value a cell has seen since its reset, with its count and an example log."""

    id = fields.BigIntField(primary_key=True)
    session: fields.ForeignKeyRelation[TestSession] = fields.ForeignKeyField(
        "models.TestSession", related_name="cell_values", on_delete=fields.CASCADE
    )
    session_id: int
    event_id = fields.IntField()
    field_id = fields.IntField()
    platform = fields.CharEnumField(Platform, max_length=8)
    # A digest of kind and value: identity that is case- and length-exact on any
    # collation (MariaDB's utf8mb4_unicode_ci would merge "Home" and "home").
    digest = fields.CharField(max_length=32)
    kind = fields.CharField(max_length=8)  # json kind; "" = not found
    value = fields.TextField(null=True)  # None = not found
    verdict = fields.CharEnumField(Verdict, max_length=16)
    code = fields.CharField(max_length=32, default="")
    reason = fields.CharField(max_length=500, default="")
    count = fields.BigIntField(default=0)
    example_log_id = fields.BigIntField(default=0)

    class Meta:
        table = "cell_value"
        unique_together = (("session", "event_id", "field_id", "platform", "digest"),)


class UnplannedProperty(Model):
    """A property caught events of a watched event sent that its plan does not list.

    Per session x event x platform x key, counted since the event's last reset,
    in the same transaction as the logs (docs/checks.md, "Unplanned properties").
    """

    id = fields.BigIntField(primary_key=True)
    session: fields.ForeignKeyRelation[TestSession] = fields.ForeignKeyField(
        "models.TestSession", related_name="unplanned", on_delete=fields.CASCADE
    )
    session_id: int
    event_id = fields.IntField()
    platform = fields.CharEnumField(Platform, max_length=8)
    # A digest of the key: exact identity on any collation ("Screen_Name" is not "screen_name").
    digest = fields.CharField(max_length=32)
    key = fields.TextField()  # "content_info.curency", "items[].sku"
    path = fields.TextField()  # its JSON path, "$.content_info.curency"
    suggestion = fields.CharField(max_length=500, default="")  # "did you mean"
    count = fields.BigIntField(default=0)
    example_log_id = fields.BigIntField(default=0)
    last_log_id = fields.BigIntField(default=0)

    class Meta:
        table = "unplanned_property"
        unique_together = (("session", "event_id", "platform", "digest"),)


class ExpectedProperty(Model):
    """A tester's mark: this unplanned property of this event is expected in this session."""

    id = fields.BigIntField(primary_key=True)
    session: fields.ForeignKeyRelation[TestSession] = fields.ForeignKeyField(
        "models.TestSession", related_name="expected_properties", on_delete=fields.CASCADE
    )
    session_id: int
    event_id = fields.IntField()
    digest = fields.CharField(max_length=32)
    key = fields.TextField()
    reason = fields.TextField(default="")
    created_by = fields.CharField(max_length=150, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "expected_property"
        unique_together = (("session", "event_id", "digest"),)


class RejudgeRun(Model):
    """One re-judging of a session's stored events against the current plan, with progress."""

    id = fields.BigIntField(primary_key=True)
    session: fields.ForeignKeyRelation[TestSession] = fields.ForeignKeyField(
        "models.TestSession", related_name="rejudge_runs", on_delete=fields.CASCADE
    )
    session_id: int
    status = fields.CharField(max_length=16, default="queued")  # queued running done failed
    total = fields.BigIntField(default=0)
    done = fields.BigIntField(default=0)
    changed = fields.BigIntField(default=0)  # cells whose verdict changed
    # {"cells": [{event, field, platform, before, after, worse}], "overridesMarked": [ids]}
    changes: dict[str, Any] = fields.JSONField(default=dict)
    error = fields.TextField(default="")
    started_by = fields.CharField(max_length=150, default="")
    started_at = fields.DatetimeField(auto_now_add=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "rejudge_run"
        indexes = (("session_id", "id"),)
