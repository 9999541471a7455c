"""Token buckets per key (a project's write key): in memory, or in Redis across processes.

A bucket holds up to `burst` tokens and refills at `rate_per_s`. `take(key,
cost)` removes `cost` tokens and answers None, or, when there are not
enough, takes nothing and answers how many seconds until there will be.
A request that is refused therefore costs nothing, and one that is larger
than the whole bucket is refused for good (with the time a full bucket takes).

With Redis the buckets are shared by every web process; while Redis is away
each process falls back to its own buckets (`FallbackRateLimiter`), so
ingest keeps accepting events instead of failing with the limiter: one
WARNING when it starts, one INFO line when Redis is back, and a count of the
takes made in-process (`fallback_takes`, on /healthz).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

import redis.asyncio as aioredis

from trackmaster.redis_client import UNAVAILABLE

log = logging.getLogger(__name__)

# While degraded, Redis is tried again this often (by one request at a time).
RETRY_REDIS_S = 1.0


class RateLimiter(Protocol):
    async def take(self, key: str, cost: float = 1) -> float | None: ...
    def state(self) -> dict[str, Any]: ...


def _refill(tokens: float, last_s: float, now_s: float, rate_per_s: float, burst: float) -> float:
    return min(burst, tokens + max(0.0, now_s - last_s) * rate_per_s)


class MemoryRateLimiter:
    """Buckets inside one process (the embedded default)."""

    # Idle buckets are full again after burst/rate seconds; forget them then.
    _SWEEP_EVERY = 10_000

    def __init__(self, rate_per_s: float, burst: float) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._calls = 0

    def state(self) -> dict[str, Any]:
        return {"ok": True, "mode": "in-process"}

    async def take(self, key: str, cost: float = 1) -> float | None:
        now = time.monotonic()
        self._sweep(now)
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = _refill(tokens, last, now, self.rate_per_s, self.burst)
        if cost > self.burst:
            self._buckets[key] = (tokens, now)
            return self.burst / self.rate_per_s
        if tokens >= cost:
            self._buckets[key] = (tokens - cost, now)
            return None
        self._buckets[key] = (tokens, now)
        return (cost - tokens) / self.rate_per_s

    def _sweep(self, now: float) -> None:
        self._calls += 1
        if self._calls % self._SWEEP_EVERY:
            return
        full_after_s = self.burst / self.rate_per_s
        self._buckets = {
            key: value for key, value in self._buckets.items() if now - value[1] < full_after_s
        }


# KEYS[1] bucket; ARGV: rate_per_s, burst, cost. Redis's own clock, so that
# several web processes with skewed clocks share one bucket consistently.
_TAKE_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if cost > burst then
  wait = burst / rate
elseif tokens >= cost then
  tokens = tokens - cost
else
  wait = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisRateLimiter:
    """Buckets in Redis, updated atomically by one Lua script per take."""

    def __init__(self, client: aioredis.Redis, prefix: str, rate_per_s: float, burst: float):
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._prefix = f"{prefix}rate:"
        self._script = client.register_script(_TAKE_LUA)

    async def take(self, key: str, cost: float = 1) -> float | None:
        wait = float(
            await self._script(keys=[self._prefix + key], args=[self.rate_per_s, self.burst, cost])
        )
        return wait if wait > 0 else None

    def state(self) -> dict[str, Any]:
        return {"ok": True, "mode": "redis"}


class FallbackRateLimiter:
    """Redis buckets; this process's own buckets while Redis cannot be reached.

    In-process buckets are per web process, so with N processes a key may send up
    to N times its rate during an outage: letting events in matters more than
    holding the exact rate for a few seconds.
    """

    def __init__(self, primary: RedisRateLimiter, fallback: MemoryRateLimiter) -> None:
        self.primary = primary
        self.fallback = fallback
        self.degraded_since: float | None = None
        self.outages = 0
        self.fallback_takes = 0  # the metric: takes answered in-process
        self._retry_at = 0.0

    async def take(self, key: str, cost: float = 1) -> float | None:
        now = time.monotonic()
        if self.degraded_since is None or now >= self._retry_at:
            if self.degraded_since is not None:
                self._retry_at = now + RETRY_REDIS_S  # one probe at a time while degraded
            try:
                wait_s = await self.primary.take(key, cost)
            except UNAVAILABLE as exc:
                self._degrade(exc)
            else:
                if self.degraded_since is not None:
                    log.info(
                        "ingest rate limit: Redis is back after %.1f s (%d take(s) were counted "
                        "in this process meanwhile)",
                        time.monotonic() - self.degraded_since,
                        self.fallback_takes,
                    )
                    self.degraded_since = None
                return wait_s
        self.fallback_takes += 1
        return await self.fallback.take(key, cost)

    def _degrade(self, exc: BaseException) -> None:
        self._retry_at = time.monotonic() + RETRY_REDIS_S
        if self.degraded_since is not None:
            return
        self.degraded_since = time.monotonic()
        self.outages += 1
        log.warning(
            "ingest rate limit: Redis unavailable (%s: %s); counting in this process's own "
            "buckets until it is back",
            type(exc).__name__,
            exc,
        )

    def state(self) -> dict[str, Any]:
        return {
            "ok": self.degraded_since is None,
            "mode": "redis" if self.degraded_since is None else "in-process (Redis unavailable)",
            "fallback_takes": self.fallback_takes,
            "outages": self.outages,
        }


def make_ratelimiter(
    client: aioredis.Redis | None, prefix: str, rate_per_s: float, burst: float
) -> RateLimiter:
    if client is None:
        return MemoryRateLimiter(rate_per_s, burst)
    return FallbackRateLimiter(
        RedisRateLimiter(client, prefix, rate_per_s, burst), MemoryRateLimiter(rate_per_s, burst)
    )
