"""Login throttle: after MAX_FAILURES failed logins of one username from one address
within WINDOW_S, that pair is refused until the window ends.

Keyed by username *and* address, so that an attacker cannot lock a real user
out from elsewhere by failing on purpose; argon2's cost bounds guessing
across many addresses. The username is the normalised one
(`users.normalised_name`): every spelling that reaches the same account counts
against the same key.

Atomic: an attempt is counted *before* its password is checked (`attempt`),
and a success clears the count. Checking first and counting after a failure
let 40 parallel guesses all pass the check before the first failure was
counted.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Protocol

import redis.asyncio as aioredis

from trackmaster.redis_client import UNAVAILABLE, RedisBreaker

log = logging.getLogger(__name__)

MAX_FAILURES = 5
WINDOW_S = 15 * 60


def throttle_key(username: str, address: str) -> str:
    # Hashed: usernames are free text and must not shape Redis keys.
    raw = f"{username}\x00{address}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(raw).hexdigest()[:32]


class LoginThrottle(Protocol):
    async def attempt(self, key: str) -> float | None:
        """Count one attempt; seconds to wait when it is over the limit, else None."""
        ...

    async def reset(self, key: str) -> None: ...


class MemoryLoginThrottle:
    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, tuple[int, float]] = {}  # key -> (count, window ends at)

    async def attempt(self, key: str) -> float | None:
        # No await between reading and writing the count: atomic on the event loop.
        now = time.monotonic()
        if len(self._failures) > 100_000:  # a flood of distinct keys must not grow memory
            self._failures = {k: v for k, v in self._failures.items() if v[1] > now}
        count, ends_at = self._failures.get(key, (0, 0.0))
        if ends_at <= now:
            count, ends_at = 0, now + self.window_s
        self._failures[key] = (count + 1, ends_at)
        return ends_at - now if count + 1 > self.max_failures else None

    async def reset(self, key: str) -> None:
        self._failures.pop(key, None)


class RedisLoginThrottle:
    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        max_failures: int = MAX_FAILURES,
        window_s: float = WINDOW_S,
    ) -> None:
        self.client = client
        self.prefix = f"{prefix}login-fail:"
        self.max_failures = max_failures
        self.window_s = window_s

    async def attempt(self, key: str) -> float | None:
        name = self.prefix + key
        async with self.client.pipeline(transaction=True) as pipe:
            # INCR is atomic across every web process; NX: the window starts at the first
            # attempt and is not pushed back by later ones.
            pipe.incr(name)
            pipe.expire(name, int(self.window_s), nx=True)
            pipe.pttl(name)
            count, _, ttl_ms = await pipe.execute()
        if int(count) > self.max_failures:
            return float(max(ttl_ms, 1000) / 1000)
        return None

    async def reset(self, key: str) -> None:
        await self.client.delete(self.prefix + key)


class FallbackLoginThrottle:
    """Redis counts; this process's own counts while Redis cannot be reached.

    Sign-in must not depend on Redis (nothing else about a login does): while it is away
    the failures are counted per web process, so with N processes a guesser gets up to N
    times MAX_FAILURES per window, and the counts start again when Redis is back. A
    person who needs to sign in during an outage matters more than that.
    """

    def __init__(
        self,
        primary: RedisLoginThrottle,
        fallback: MemoryLoginThrottle,
        breaker: RedisBreaker | None = None,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        # The ingest limiter's rule: while Redis is away, one attempt a second asks it;
        # the others are counted here at once instead of each waiting REDIS_TIMEOUT_S.
        self.breaker = breaker or RedisBreaker(
            "login throttle", "counting failed logins in this process"
        )

    @property
    def degraded(self) -> bool:
        return self.breaker.degraded

    async def attempt(self, key: str) -> float | None:
        if self.breaker.should_try():
            try:
                wait_s = await self.primary.attempt(key)
            except UNAVAILABLE as exc:
                self.breaker.failed(exc)
            else:
                self.breaker.succeeded("; failed logins are counted there again")
                return wait_s
        return await self.fallback.attempt(key)

    async def reset(self, key: str) -> None:
        await self.fallback.reset(key)
        if not self.breaker.should_try():
            return  # Redis's count ends with its window; the sign-in itself succeeded
        try:
            await self.primary.reset(key)
        except UNAVAILABLE as exc:
            self.breaker.failed(exc)
        else:
            self.breaker.succeeded("; failed logins are counted there again")


def make_login_throttle(client: aioredis.Redis | None, prefix: str) -> LoginThrottle:
    if client is None:
        return MemoryLoginThrottle()
    return FallbackLoginThrottle(RedisLoginThrottle(client, prefix), MemoryLoginThrottle())
