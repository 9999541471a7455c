"""Password hashing: argon2id through argon2-cffi, with rehash when parameters change.

Verification of an unknown user still runs one argon2 verification against a
dummy hash, so a login attempt takes as long whether or not the user exists
and the response time does not reveal which usernames are real.
"""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# argon2-cffi's defaults follow RFC 9106's second recommendation (argon2id,
# 64 MiB, 3 passes); they move with the library, and `needs_rehash` upgrades
# stored hashes on the next successful login.
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("trackmaster-dummy-password-for-timing")

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024  # argon2 takes any length; this only bounds the work per request


@dataclass(frozen=True)
class Verified:
    ok: bool
    # A new hash to store when the stored one used older parameters; None otherwise.
    new_hash: str | None = None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> Verified:
    """Check `password` against `stored_hash` (None: unknown user, same cost, never ok)."""
    if len(password) > MAX_PASSWORD_CHARS:
        # No stored password is this long; spend the same time and say no.
        stored_hash, password = None, password[:MAX_PASSWORD_CHARS]
    try:
        _hasher.verify(stored_hash or _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return Verified(False)
    if stored_hash is None:
        return Verified(False)
    if _hasher.check_needs_rehash(stored_hash):
        return Verified(True, _hasher.hash(password))
    return Verified(True)


def password_problem(password: str) -> str | None:
    """What is wrong with a new password, in words; None when it is acceptable."""
    if len(password) < MIN_PASSWORD_CHARS:
        return f"must be at least {MIN_PASSWORD_CHARS} characters"
    if len(password) > MAX_PASSWORD_CHARS:
        return f"must be at most {MAX_PASSWORD_CHARS} characters"
    if not password.strip():
        return "must not be only spaces"
    return None
