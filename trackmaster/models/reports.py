"""Read-only share links to one session's report, for people without an account."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from trackmaster.models.sessions import TestSession


class ShareLink(Model):
    """A link that shows one session's report to whoever holds it, until revoked or expired.

    Only the token's sha256 is stored (like API tokens): it is shown once, at creation.
    """

    id = fields.IntField(primary_key=True)
    session: fields.ForeignKeyRelation[TestSession] = fields.ForeignKeyField(
        "models.TestSession", related_name="share_links", on_delete=fields.CASCADE
    )
    session_id: int
    token_hash = fields.CharField(max_length=64, unique=True)
    note = fields.CharField(max_length=100, default="")
    created_by = fields.CharField(max_length=150, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)
    revoked_by = fields.CharField(max_length=150, default="")
    last_used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "share_link"
        indexes = (("session_id", "id"),)
