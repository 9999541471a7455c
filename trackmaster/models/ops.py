"""Operations around the plan: sync runs, schedules, users, tokens and the audit log."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from trackmaster.models.plan import Project

# A scheduled run writes "running" when it starts and "ok"/"failed" when it ends; a
# consumer stopped mid-run leaves "running" (killed) or "interrupted" (SIGTERM).
UNFINISHED_OUTCOMES = frozenset({"running", "interrupted"})

DEFAULT_SYNC_INTERVAL_S = 3 * 3600
MIN_SYNC_INTERVAL_S = 3600
MAX_SYNC_INTERVAL_S = 24 * 3600


class SyncRun(Model):
    """One plan sync of a project, from Jet or a file, by hand or by schedule."""

    id = fields.IntField(primary_key=True)
    project: fields.ForeignKeyRelation[Project] = fields.ForeignKeyField(
        "models.Project", related_name="sync_runs", on_delete=fields.CASCADE
    )
    project_id: int
    source = fields.CharField(max_length=16)  # "jet" or "file"
    trigger = fields.CharField(max_length=16, default="manual")  # "manual", "schedule", "cli"
    status = fields.CharField(max_length=16, default="running")  # running, ok, failed
    started_at = fields.DatetimeField(auto_now_add=True)
    finished_at = fields.DatetimeField(null=True)
    # {"created": {"story": n, ...}, "updated": {...}, "removed": {...}, "items": [...]}
    diff: dict[str, Any] = fields.JSONField(default=dict)
    error = fields.TextField(default="")
    started_by = fields.CharField(max_length=150, default="")

    class Meta:
        table = "sync_run"
        indexes = (("project_id", "id"),)
        ordering = ["-id"]


class Schedule(Model):
    """Re-sync a project's plan every `interval_s` while enabled."""

    id = fields.IntField(primary_key=True)
    project: fields.OneToOneRelation[Project] = fields.OneToOneField(
        "models.Project", related_name="schedule", on_delete=fields.CASCADE
    )
    project_id: int
    enabled = fields.BooleanField(default=False)
    interval_s = fields.IntField(default=DEFAULT_SYNC_INTERVAL_S)
    last_run_at = fields.DatetimeField(null=True)
    last_outcome = fields.CharField(max_length=16, default="")  # "", running, ok, failed, ...
    last_error = fields.TextField(default="")
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "schedule"
        indexes = (("enabled", "last_run_at"),)

    @property
    def next_due_at(self) -> datetime | None:
        """When the next sync is due: None while off; the last run time plus the interval.

        A run that started and never finished ("running" or "interrupted") is due again
        as soon as its lock is free; see trackmaster/schedule/due.py.
        """
        if not self.enabled:
            return None
        if self.last_run_at is None or self.last_outcome in UNFINISHED_OUTCOMES:
            return self.last_run_at or self.updated_at
        return self.last_run_at + timedelta(seconds=self.interval_s)


class User(Model):
    id = fields.IntField(primary_key=True)
    username = fields.CharField(max_length=150, unique=True)
    password_hash = fields.CharField(max_length=255)
    role = fields.CharField(max_length=16)  # admin, tester, viewer
    disabled = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_login_at = fields.DatetimeField(null=True)
    # Every login cookie carries the epoch it was made in; bumping it (logout, disabling,
    # a new password, "sign out everywhere") ends all of them at once.
    session_epoch = fields.IntField(default=0, db_default=0)

    class Meta:
        table = "user"


class ApiToken(Model):
    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="tokens", on_delete=fields.CASCADE
    )
    user_id: int
    name = fields.CharField(max_length=100)
    # sha256 of the token; the token itself is shown once, at creation.
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField(null=True)  # None: until revoked

    class Meta:
        table = "api_token"


class AuditEntry(Model):
    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField(auto_now_add=True)
    actor = fields.CharField(max_length=150)
    action = fields.CharField(max_length=64)
    target = fields.CharField(max_length=255, default="")
    details: dict[str, Any] = fields.JSONField(default=dict)

    class Meta:
        table = "audit_entry"
        indexes = (("at",),)
        ordering = ["-id"]
