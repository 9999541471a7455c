"""Users: create, authenticate, change role or password, disable. Every change is audited."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.expressions import F

from trackmaster.auth import audit
from trackmaster.auth.passwords import hash_async, password_problem, verify_async
from trackmaster.auth.roles import Role
from trackmaster.errors import Conflict, InvalidParams, NotFound, field_error
from trackmaster.models import ApiToken, User

MAX_USERNAME_CHARS = 150
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,149}$")
LOCAL_ADMIN_NAME = "local"


def lookup_name(username: str) -> str:
    """The text a login looks the user up by: stripped, at most the column's length."""
    return username.strip()[:MAX_USERNAME_CHARS]


def normalised_name(username: str) -> str:
    """One key per account for throttling: every spelling that can reach the same row.

    Cut like the lookup (a 151st character must not make a new key), and folded
    (NFKC, case) so that `ADA`, `ada` and its full-width form share a bucket whatever
    the database's collation makes of them.
    """
    return unicodedata.normalize("NFKC", lookup_name(username)).casefold()


@dataclass(frozen=True)
class Principal:
    """Who is making a request: a user (by session or API token) or the local admin."""

    username: str
    role: Role
    user_id: int | None = None  # None for the built-in local admin
    via: str = "session"  # "session", "token" or "local"
    epoch: int | None = None  # via session: the session epoch its cookie carries
    token_id: int | None = None  # via token: which one

    def can(self, minimum: Role) -> bool:
        return self.role >= minimum


LOCAL_ADMIN = Principal(LOCAL_ADMIN_NAME, Role.ADMIN, None, "local")


def principal_of(user: User, via: str, *, token_id: int | None = None) -> Principal:
    epoch = user.session_epoch if via == "session" else None
    return Principal(user.username, Role.parse(user.role), user.id, via, epoch, token_id)


def validate_username(username: str) -> str:
    username = username.strip()
    if not USERNAME_RE.match(username):
        raise field_error(
            "username",
            "must be 2-150 characters: letters, digits and . _ @ -, starting with a letter "
            f"or digit, got {username[:160]!r}",
        )
    if username.lower() == LOCAL_ADMIN_NAME:
        raise field_error("username", f"{LOCAL_ADMIN_NAME!r} is reserved for the local admin")
    return username


def validate_password(password: str, field: str = "password") -> str:
    problem = password_problem(password)
    if problem:
        raise field_error(field, problem)
    return password


def parse_role(raw: str) -> Role:
    try:
        return Role.parse(raw)
    except ValueError as exc:
        raise field_error("role", str(exc)) from None


async def users_exist() -> bool:
    return await User.exists()


async def create_user(username: str, password: str, role: str, *, actor: str | None = None) -> User:
    username = validate_username(username)
    validate_password(password)
    parsed = parse_role(role)
    if await User.filter(username=username).exists():
        raise Conflict(f"username: {username!r} is taken", details=[{"field": "username"}])
    user = await User.create(
        username=username, password_hash=await hash_async(password), role=parsed.label
    )
    await audit.record(actor, "user.create", f"user:{username}", role=parsed.label)
    return user


async def get_user(user_id: int) -> User:
    user = await User.get_or_none(id=user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    return user


async def authenticate(username: str, password: str) -> User | None:
    """The enabled user with this password, or None; upgrades an outdated hash on the way."""
    user = await User.get_or_none(username=lookup_name(username))
    verified = await verify_async(user.password_hash if user else None, password)
    if user is None or not verified.ok or user.disabled:
        return None
    user.last_login_at = datetime.now(UTC)
    update = ["last_login_at"]
    if verified.new_hash:
        user.password_hash = verified.new_hash
        update.append("password_hash")
    await user.save(update_fields=update)
    return user


async def _admins_left_without(user: User) -> int:
    return await User.filter(role=Role.ADMIN.label, disabled=False).exclude(id=user.id).count()


async def set_role(user_id: int, role: str, *, actor: str | None = None) -> User:
    user = await get_user(user_id)
    parsed = parse_role(role)
    if (
        user.role == Role.ADMIN.label
        and parsed != Role.ADMIN
        and not await _admins_left_without(user)
    ):
        raise InvalidParams(
            "role: this is the last enabled admin; make another user admin first",
            details=[{"field": "role", "error": "last admin"}],
        )
    before = user.role
    user.role = parsed.label
    await user.save(update_fields=["role"])
    await audit.record(actor, "user.role", f"user:{user.username}", before=before, after=user.role)
    return user


async def set_disabled(user_id: int, disabled: bool, *, actor: str | None = None) -> User:
    user = await get_user(user_id)
    if disabled and user.role == Role.ADMIN.label and not await _admins_left_without(user):
        raise InvalidParams(
            "this is the last enabled admin; it cannot be disabled",
            details=[{"field": "disabled", "error": "last admin"}],
        )
    user.disabled = disabled
    await user.save(update_fields=["disabled"])
    # Both ways: disabling ends every login, and enabling must not revive the old cookies.
    await end_sessions(user)
    await audit.record(
        actor, "user.disable" if disabled else "user.enable", f"user:{user.username}"
    )
    return user


async def set_password(user_id: int, password: str, *, actor: str | None = None) -> User:
    """A new password. It ends the user's logins everywhere and revokes their API tokens:
    whoever knew the old password may have made either."""
    user = await get_user(user_id)
    validate_password(password)
    user.password_hash = await hash_async(password)
    await user.save(update_fields=["password_hash"])
    await end_sessions(user)
    revoked = await ApiToken.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=datetime.now(UTC)
    )
    await audit.record(actor, "user.password", f"user:{user.username}", tokens_revoked=revoked)
    return user


async def change_own_password(user_id: int, current: str, new: str) -> User:
    """Self-service: the current password proves it is the user, not a stolen cookie."""
    user = await get_user(user_id)
    if not (await verify_async(user.password_hash, current)).ok:
        raise field_error("current_password", "is not your current password")
    validate_password(new, "new_password")
    if new == current:
        raise field_error("new_password", "must differ from the current password")
    return await set_password(user.id, new, actor=user.username)


async def end_sessions(user: User, *, actor: str | None = None, audited: bool = False) -> None:
    """Bump the session epoch: every login cookie of this user stops working at once."""
    await User.filter(id=user.id).update(session_epoch=F("session_epoch") + 1)
    await user.refresh_from_db(fields=["session_epoch"])
    if audited:
        await audit.record(actor, "user.signout", f"user:{user.username}")
