"""Share links: a read-only link to one session's report for people without an account.

`tms_` + 32 random bytes, shown once; only its sha256 is stored (as for API
tokens: 256 bits cannot be guessed from the hash, and a hash lookup is fast).
A link has an expiry (1 to MAX_DAYS days) and can be revoked at once; both
are recorded in the audit log, never the token itself.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from trackmaster.auth import audit
from trackmaster.auth.tokens import hash_token
from trackmaster.errors import NotFound, field_error
from trackmaster.models import ShareLink, TestSession

PREFIX = "tms_"
DEFAULT_DAYS = 7
MAX_DAYS = 90
MAX_NOTE_CHARS = 100
# last_used_at is written at most this often: reading a report must not turn into writes.
LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class NewLink:
    link: ShareLink
    token: str  # shown once, never stored


def looks_like_token(value: str) -> bool:
    return value.startswith(PREFIX) and 20 < len(value) < 200


def parse_days(raw: Any) -> int:
    if raw in (None, ""):
        return DEFAULT_DAYS
    try:
        days = int(str(raw).strip())
    except ValueError:
        raise field_error("days", f"must be a whole number of days, got {raw!r}") from None
    if not 1 <= days <= MAX_DAYS:
        raise field_error("days", f"must be between 1 and {MAX_DAYS}, got {days}")
    return days


async def create_link(
    session: TestSession, *, days: Any = None, note: str = "", by: str = ""
) -> NewLink:
    lifetime = parse_days(days)
    note = (note or "").strip()
    if len(note) > MAX_NOTE_CHARS:
        raise field_error("note", f"at most {MAX_NOTE_CHARS} characters")
    token = PREFIX + secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + timedelta(days=lifetime)
    link = await ShareLink.create(
        session_id=session.id, token_hash=hash_token(token), note=note,
        created_by=by[:150], expires_at=expires,
    )  # fmt: skip
    await audit.record(
        by or None, "share.create", f"session:{session.id}", link=link.id, days=lifetime,
        note=note,
    )  # fmt: skip
    return NewLink(link, token)


async def resolve(token: str) -> ShareLink | None:
    """The live link of this token (not revoked, not expired), or None."""
    if not looks_like_token(token):
        return None
    link = await ShareLink.filter(token_hash=hash_token(token), revoked_at__isnull=True).first()
    now = datetime.now(UTC)
    if link is None or link.expires_at <= now:
        return None
    if link.last_used_at is None or now - link.last_used_at > LAST_USED_RESOLUTION:
        await ShareLink.filter(id=link.id).update(last_used_at=now)
    return link


async def revoke(session_id: int, link_id: int, *, by: str = "") -> ShareLink:
    link = await ShareLink.get_or_none(id=link_id, session_id=session_id)
    if link is None:
        raise NotFound(f"session {session_id} has no share link {link_id}")
    if link.revoked_at is None:
        link.revoked_at = datetime.now(UTC)
        link.revoked_by = by[:150]
        await link.save(update_fields=["revoked_at", "revoked_by"])
        await audit.record(by or None, "share.revoke", f"session:{session_id}", link=link.id)
    return link


async def links_of(session_id: int) -> list[ShareLink]:
    return list(await ShareLink.filter(session_id=session_id).order_by("-id"))


def state(link: ShareLink, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    if link.revoked_at is not None:
        return "revoked"
    return "expired" if link.expires_at <= now else "live"
