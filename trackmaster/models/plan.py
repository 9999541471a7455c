"""The tracking plan: projects, their test accounts, enum types, stories, events, fields.

Plan rows that leave the plan are never deleted while a test session still
refers to them: `removed_at` hides them from plan pages and new sessions, and
the sessions that used them keep their history.
"""

from __future__ import annotations

import secrets
from typing import Any

from tortoise import fields
from tortoise.models import Model


def new_write_key() -> str:
    """A per-project ingest key: 32 url-safe characters, about 190 bits."""
    return secrets.token_urlsafe(24)


class Project(Model):
    id = fields.IntField(primary_key=True)
    # Jet's project id (a string in its API); None for projects made from files.
    jet_id = fields.CharField(max_length=64, null=True, unique=True)
    name = fields.CharField(max_length=100)
    description = fields.TextField(default="")
    write_key = fields.CharField(max_length=64, unique=True, default=new_write_key)
    unmatched_count = fields.BigIntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    # Reverse relations that code reads (declared for the type checker only).
    accounts: fields.ReverseRelation[Account]
    stories: fields.ReverseRelation[Story]

    class Meta:
        table = "project"
        ordering = ["name", "id"]


class Account(Model):
    """A test user id a tester uses on a device."""

    id = fields.IntField(primary_key=True)
    project: fields.ForeignKeyRelation[Project] = fields.ForeignKeyField(
        "models.Project", related_name="accounts", on_delete=fields.CASCADE
    )
    project_id: int
    user_id = fields.CharField(max_length=128)
    description = fields.CharField(max_length=50)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "account"
        unique_together = (("project", "user_id"),)
        ordering = ["id"]


class EnumType(Model):
    id = fields.IntField(primary_key=True)
    project: fields.ForeignKeyRelation[Project] = fields.ForeignKeyField(
        "models.Project", related_name="enum_types", on_delete=fields.CASCADE
    )
    project_id: int
    jet_id = fields.CharField(max_length=64, null=True)
    name = fields.CharField(max_length=200)
    status = fields.CharField(max_length=32, default="")
    values: fields.ReverseRelation[EnumValue]

    class Meta:
        table = "enum_type"
        unique_together = (("project", "jet_id"),)
        ordering = ["name", "id"]


class EnumValue(Model):
    id = fields.IntField(primary_key=True)
    enum_type: fields.ForeignKeyRelation[EnumType] = fields.ForeignKeyField(
        "models.EnumType", related_name="values", on_delete=fields.CASCADE
    )
    enum_type_id: int
    jet_id = fields.CharField(max_length=64, null=True)
    name = fields.CharField(max_length=255)
    description = fields.TextField(default="")
    deprecated = fields.BooleanField(default=False)

    class Meta:
        table = "enum_value"
        unique_together = (("enum_type", "jet_id"),)
        ordering = ["id"]


class Story(Model):
    """A requirement of the tracking plan: a feature and the events it must emit."""

    id = fields.IntField(primary_key=True)
    project: fields.ForeignKeyRelation[Project] = fields.ForeignKeyField(
        "models.Project", related_name="stories", on_delete=fields.CASCADE
    )
    project_id: int
    jet_id = fields.CharField(max_length=64, null=True)
    name = fields.CharField(max_length=255)
    description = fields.TextField(default="")
    removed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    events: fields.ReverseRelation[Event]

    class Meta:
        table = "story"
        unique_together = (("project", "jet_id"),)
        indexes = (("project_id", "removed_at", "updated_at"),)
        ordering = ["-updated_at", "-id"]


class Event(Model):
    """An analytics event the app must emit."""

    id = fields.IntField(primary_key=True)
    story: fields.ForeignKeyRelation[Story] = fields.ForeignKeyField(
        "models.Story", related_name="events", on_delete=fields.CASCADE
    )
    story_id: int
    jet_id = fields.CharField(max_length=64, null=True)
    name = fields.CharField(max_length=255)
    description = fields.TextField(default="")
    removed_at = fields.DatetimeField(null=True)
    # Not a column: plan.browse attaches the event's fields, in order, for display.
    plan_fields: list[Field]

    class Meta:
        table = "event"
        unique_together = (("story", "jet_id"),)
        indexes = (("name",),)
        ordering = ["id"]


class Field(Model):
    """One property of an event: where to find it and what it must hold."""

    id = fields.IntField(primary_key=True)
    event: fields.ForeignKeyRelation[Event] = fields.ForeignKeyField(
        "models.Event", related_name="fields", on_delete=fields.CASCADE
    )
    event_id: int
    jet_id = fields.CharField(max_length=64, null=True)
    # A path such as `page_info.id`; web logs may carry it as `page_info$$id`.
    key = fields.CharField(max_length=255)
    type_name = fields.CharField(max_length=200, default="")
    enum_type: fields.ForeignKeyNullableRelation[EnumType] = fields.ForeignKeyField(
        "models.EnumType", related_name="fields", null=True, on_delete=fields.SET_NULL
    )
    enum_type_id: int | None
    # Allowed values after enum ids were replaced by enum names; [] = no fixed value.
    values: list[str] = fields.JSONField(default=list)
    # The values as the plan gave them, before resolution (shown and exported).
    raw_values: list[str] = fields.JSONField(default=list)
    note = fields.TextField(default="")
    # Typed rules from the plan (trackmaster/checks/rules.py); a sync from a source that has
    # none (Jet) leaves them alone.
    # Nullable so that adding the columns to an existing table needs no JSON default (which
    # MariaDB cannot give a TEXT column in ALTER TABLE); None reads as no rules.
    rules: dict[str, Any] | None = fields.JSONField(default=dict, null=True)
    # A local overlay on top of `rules`, edited in TrackMaster: no sync ever writes it, so
    # fields that come from Jet can still get a type or a pattern.
    local_rules: dict[str, Any] | None = fields.JSONField(default=dict, null=True)
    removed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "field"
        unique_together = (("event", "jet_id"),)
        ordering = ["id"]
