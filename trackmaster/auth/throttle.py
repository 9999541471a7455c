"""Login throttle: after MAX_FAILURES failed logins of one username from one address
within WINDOW_S, that pair is refused until the window ends.

Keyed by username *and* address, so that an attacker cannot lock a real user
out from elsewhere by failing on purpose; argon2's cost bounds guessing
across many addresses.
"""

from __future__ import annotations

import hashlib
import time
from typing import Protocol

import redis.asyncio as aioredis

MAX_FAILURES = 5
WINDOW_S = 15 * 60


def throttle_key(username: str, address: str) -> str:
    # Hashed: usernames are free text and must not shape Redis keys.
    raw = f"{username.strip().lower()}\x00{address}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(raw).hexdigest()[:32]


class LoginThrottle(Protocol):
    async def retry_after(self, key: str) -> float | None: ...
    async def failed(self, key: str) -> None: ...
    async def reset(self, key: str) -> None: ...


class MemoryLoginThrottle:
    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, tuple[int, float]] = {}  # key -> (count, window ends at)

    def _live(self, key: str) -> tuple[int, float] | None:
        entry = self._failures.get(key)
        if entry and entry[1] > time.monotonic():
            return entry
        self._failures.pop(key, None)
        return None

    async def retry_after(self, key: str) -> float | None:
        entry = self._live(key)
        if entry and entry[0] >= self.max_failures:
            return entry[1] - time.monotonic()
        return None

    async def failed(self, key: str) -> None:
        if len(self._failures) > 100_000:  # a flood of distinct keys must not grow memory
            now = time.monotonic()
            self._failures = {k: v for k, v in self._failures.items() if v[1] > now}
        entry = self._live(key)
        if entry:
            self._failures[key] = (entry[0] + 1, entry[1])
        else:
            self._failures[key] = (1, time.monotonic() + self.window_s)

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

    async def retry_after(self, key: str) -> float | None:
        async with self.client.pipeline(transaction=True) as pipe:
            count, ttl_ms = await pipe.get(self.prefix + key).pttl(self.prefix + key).execute()
        if count is not None and int(count) >= self.max_failures and ttl_ms > 0:
            return ttl_ms / 1000
        return None

    async def failed(self, key: str) -> None:
        name = self.prefix + key
        async with self.client.pipeline(transaction=True) as pipe:
            # NX: the window starts at the first failure and is not pushed back by later ones.
            await pipe.incr(name).expire(name, int(self.window_s), nx=True).execute()

    async def reset(self, key: str) -> None:
        await self.client.delete(self.prefix + key)


def make_login_throttle(client: aioredis.Redis | None, prefix: str) -> LoginThrottle:
    return MemoryLoginThrottle() if client is None else RedisLoginThrottle(client, prefix)
