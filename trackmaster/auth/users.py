"""Users: create, authenticate, change role or password, disable. Every change is audited."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from trackmaster.auth import audit
from trackmaster.auth.passwords import hash_password, password_problem, verify_password
from trackmaster.auth.roles import Role
from trackmaster.errors import Conflict, InvalidParams, NotFound, field_error
from trackmaster.models import User

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,149}$")
LOCAL_ADMIN_NAME = "local"


@dataclass(frozen=True)
class Principal:
    """Who is making a request: a user (by session or API token) or the local admin."""

    username: str
    role: Role
    user_id: int | None = None  # None for the built-in local admin
    via: str = "session"  # "session", "token" or "local"

    def can(self, minimum: Role) -> bool:
        return self.role >= minimum


LOCAL_ADMIN = Principal(LOCAL_ADMIN_NAME, Role.ADMIN, None, "local")


def principal_of(user: User, via: str) -> Principal:
    return Principal(user.username, Role.parse(user.role), user.id, via)


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
        username=username, password_hash=hash_password(password), role=parsed.label
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
    user = await User.get_or_none(username=username.strip()[:150])
    verified = verify_password(user.password_hash if user else None, password)
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
    await audit.record(
        actor, "user.disable" if disabled else "user.enable", f"user:{user.username}"
    )
    return user


async def set_password(user_id: int, password: str, *, actor: str | None = None) -> User:
    """A new password; it also ends the user's sessions (the cookie carries its fingerprint)."""
    user = await get_user(user_id)
    validate_password(password)
    user.password_hash = hash_password(password)
    await user.save(update_fields=["password_hash"])
    await audit.record(actor, "user.password", f"user:{user.username}")
    return user
