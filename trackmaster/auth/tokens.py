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


async def create_token(user: User, name: str, *, actor: str | None = None) -> NewToken:
    name = name.strip()
    if not name or len(name) > MAX_NAME_CHARS:
        raise field_error("name", f"must be 1-{MAX_NAME_CHARS} characters, e.g. 'ci pipeline'")
    plaintext = PREFIX + secrets.token_urlsafe(32)
    token = await ApiToken.create(user=user, name=name, token_hash=hash_token(plaintext))
    await audit.record(actor, "token.create", f"token:{token.id}", user=user.username, name=name)
    return NewToken(token, plaintext)


async def resolve_token(plaintext: str) -> User | None:
    """The enabled user this live token belongs to, or None."""
    if not looks_like_token(plaintext):
        return None
    # One query: the token and its user joined.
    token = (
        await ApiToken.filter(token_hash=hash_token(plaintext), revoked_at__isnull=True)
        .select_related("user")
        .first()
    )
    if token is None or token.user.disabled:
        return None
    now = datetime.now(UTC)
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        await ApiToken.filter(id=token.id).update(last_used_at=now)
    return token.user


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
