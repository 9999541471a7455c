"""Password hashing: argon2id through argon2-cffi, with rehash when parameters change.

Verification of an unknown user still runs one argon2 verification against a
dummy hash, so a login attempt takes as long whether or not the user exists
and the response time does not reveal which usernames are real.

argon2 costs ~50 ms of CPU and 64 MiB by design, so it never runs on the event
loop: `verify_async` and `hash_async` run it in a thread (argon2-cffi releases
the GIL), at most PASSWORD_HASH_THREADS at a time; when
PASSWORD_HASH_QUEUE more already wait, the caller gets 503 with Retry-After
instead of growing an unbounded queue of 64 MiB jobs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from trackmaster.errors import ServiceUnavailable

# argon2-cffi's defaults follow RFC 9106's second recommendation (argon2id,
# 64 MiB, 3 passes); they move with the library, and `needs_rehash` upgrades
# stored hashes on the next successful login.
_T = TypeVar("_T")
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


class HashingBudget:
    """At most `threads` argon2 runs at once, and at most `queue` callers waiting for one."""

    def __init__(self, threads: int = 2, queue: int = 32) -> None:
        self.threads = threads
        self.queue = queue
        self._slots: asyncio.Semaphore | None = None
        self._waiting = 0

    async def run(self, work: Callable[..., _T], *args: Any) -> _T:
        if self._slots is None:  # made in the running loop, on first use
            self._slots = asyncio.Semaphore(self.threads)
        if self._waiting >= self.queue:
            raise ServiceUnavailable(
                "too many sign-ins at once; retry in a moment (PASSWORD_HASH_QUEUE)",
                retry_after_s=1,
            )
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        slots = self._slots
        # The slot is held until the thread ends, even when the caller gives up (a client
        # that disconnects): a thread cannot be stopped, so it still counts.
        job = asyncio.ensure_future(asyncio.to_thread(work, *args))
        job.add_done_callback(lambda _: slots.release())
        return await asyncio.shield(job)


budget = HashingBudget()


def configure(threads: int, queue: int) -> None:
    """Set the budget from the settings (the web app does, at start)."""
    global budget
    budget = HashingBudget(threads, queue)


async def verify_async(stored_hash: str | None, password: str) -> Verified:
    return await budget.run(verify_password, stored_hash, password)


async def hash_async(password: str) -> str:
    return await budget.run(hash_password, password)
