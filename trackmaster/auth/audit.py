"""The audit log: who did what to what, and when.

`record` is called at the service points (user changes, tokens, write keys,
plan syncs, session start/stop, verdict overrides). The web layer sets the
acting user for the request in a context variable, so service code deep in
trackmaster/ can record the actor without every function taking it.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any, cast

from trackmaster.models import AuditEntry

log = logging.getLogger(__name__)

SYSTEM = "system"  # background work: schedules, the pull loop, the CLI without a user
_actor: ContextVar[str] = ContextVar("trackmaster_audit_actor", default=SYSTEM)

MAX_TARGET_CHARS = 255
MAX_ACTOR_CHARS = 150


def set_actor(actor: str) -> Token[str]:
    """Make `actor` the one recorded for the rest of this task; returns a reset token."""
    return _actor.set(actor[:MAX_ACTOR_CHARS])


def reset_actor(token: Token[str]) -> None:
    _actor.reset(token)


def current_actor() -> str:
    return _actor.get()


async def record(actor: str | None, action: str, target: str = "", **details: Any) -> AuditEntry:
    """Write one audit entry; `actor=None` records the request's (or background) actor."""
    entry = await AuditEntry.create(
        actor=(actor or current_actor())[:MAX_ACTOR_CHARS],
        action=action[:64],
        target=str(target)[:MAX_TARGET_CHARS],
        details=_jsonable(details),
    )
    log.info("audit: %s %s %s", entry.actor, entry.action, entry.target)
    return entry


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    total: int


async def search(
    *, action: str = "", actor: str = "", offset: int = 0, limit: int = 50
) -> AuditPage:
    """Entries newest first, filtered by action (exact or `prefix.`) and actor (exact)."""
    query = AuditEntry.all()
    if action:
        query = (
            query.filter(action__startswith=action)
            if action.endswith(".")
            else query.filter(action=action)
        )
    if actor:
        query = query.filter(actor=actor)
    total = await query.count()
    entries = await query.order_by("-id").offset(offset).limit(limit)
    return AuditPage(entries, total)


async def actions() -> list[str]:
    """Every action recorded so far, for the filter's choices."""
    rows = await AuditEntry.all().distinct().order_by("action").values_list("action", flat=True)
    return list(cast(list[str], rows))
