"""API tokens: `tm_` + 32 random bytes, shown once; only their sha256 is stored.

sha256 (not argon2) is right here: a token has 256 bits of entropy, so it
cannot be guessed from its hash, and every API request must look it up fast.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from trackmaster.auth import audit
from trackmaster.errors import NotFound, field_error
from trackmaster.models import ApiToken, User

PREFIX = "tm_"
MAX_NAME_CHARS = 100
MAX_LIFETIME = timedelta(days=3650)
# Writing last_used_at on every request would turn reads into writes; once a minute is enough.
LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    plaintext: str  # shown once, never stored


def hash_token(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8", "surrogatepass")).hexdigest()


def looks_like_token(value: str) -> bool:
    return value.startswith(PREFIX) and 20 < len(value) < 200


_LIFETIME_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_lifetime(raw: str, field: str = "expires_in") -> timedelta | None:
    """`90d`, `12h`, `30m`, `45s` (or a bare number of days); empty: no expiry."""
    text = raw.strip().lower()
    if not text:
        return None
    unit = text[-1] if text[-1] in _LIFETIME_UNITS else "d"
    number = text[:-1] if text[-1] in _LIFETIME_UNITS else text
    try:
        amount = float(number)
    except ValueError:
        amount = -1
    if not 0 < amount < float("inf"):
        raise field_error(field, f"must be a duration such as 90d, 12h or 30m, got {raw[:40]!r}")
    lifetime = timedelta(seconds=amount * _LIFETIME_UNITS[unit])
    if lifetime > MAX_LIFETIME:
        raise field_error(field, f"must be at most {MAX_LIFETIME.days} days")
    return lifetime


async def create_token(
    user: User, name: str, *, expires_in: timedelta | None = None, actor: str | None = None
) -> NewToken:
    name = name.strip()
    if not name or len(name) > MAX_NAME_CHARS:
        raise field_error("name", f"must be 1-{MAX_NAME_CHARS} characters, e.g. 'ci pipeline'")
    plaintext = PREFIX + secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + expires_in if expires_in else None
    token = await ApiToken.create(
        user=user, name=name, token_hash=hash_token(plaintext), expires_at=expires_at
    )
    await audit.record(
        actor, "token.create", f"token:{token.id}", user=user.username, name=name,
        expires_at=expires_at.isoformat() if expires_at else None,
    )  # fmt: skip
    return NewToken(token, plaintext)


async def resolve_token(plaintext: str) -> ApiToken | None:
    """This live token (not revoked, not expired, its user enabled) with its user, or None."""
    if not looks_like_token(plaintext):
        return None
    # One query: the token and its user joined.
    token = (
        await ApiToken.filter(token_hash=hash_token(plaintext), revoked_at__isnull=True)
        .select_related("user")
        .first()
    )
    now = datetime.now(UTC)
    if token is None or token.user.disabled or not is_live(token, now):
        return None
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        await ApiToken.filter(id=token.id).update(last_used_at=now)
    return token


def is_live(token: ApiToken, now: datetime) -> bool:
    return token.revoked_at is None and (token.expires_at is None or token.expires_at > now)


async def token_still_live(token_id: int) -> bool:
    """For long requests (live streams): is this token still usable right now?"""
    token = await ApiToken.get_or_none(id=token_id).select_related("user")
    return token is not None and not token.user.disabled and is_live(token, datetime.now(UTC))


async def revoke_token(token_id: int, *, actor: str | None = None) -> ApiToken:
    token = await ApiToken.get_or_none(id=token_id).prefetch_related("user")
    if token is None:
        raise NotFound(f"no API token with id {token_id}")
    if token.revoked_at is None:
        token.revoked_at = datetime.now(UTC)
        await token.save(update_fields=["revoked_at"])
        await audit.record(
            actor, "token.revoke", f"token:{token.id}", user=token.user.username, name=token.name
        )
    return token


async def list_tokens() -> list[ApiToken]:
    return await ApiToken.all().prefetch_related("user").order_by("-id")
