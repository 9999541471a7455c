"""Jet logs read but not yet judged and stored: the puller's local copy (workers/jet_pull.py).

Jet's "clear logs" deletes every log of a filter, so what a read returned is
written here, in one small insert, before the clear; judging and storing then
work from this copy and delete its rows in the transaction that stores them.
A row left here (a failed store, a crash) is judged again by the next round.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from trackmaster.models.sessions import TestSession


class JetStagedLog(Model):
    id = fields.BigIntField(primary_key=True)
    session: fields.ForeignKeyRelation[TestSession] = fields.ForeignKeyField(
        "models.TestSession", related_name="jet_staged", on_delete=fields.CASCADE
    )
    session_id: int
    # Jet's log id; a second read of the same log stages nothing (unique with the
    # session). Null when Jet sent none we can use: such a row is kept, never merged.
    jet_id = fields.CharField(max_length=128, null=True)
    # The item exactly as Jet answered it, as JSON text (parsed only when judged).
    item = fields.TextField()
    # When TrackMaster caught it: the stored log's received_at.
    staged_at = fields.DatetimeField()

    class Meta:
        table = "jet_staged_log"
        unique_together = (("session", "jet_id"),)
