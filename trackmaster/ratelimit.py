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

import time
from typing import Any, Protocol

import redis.asyncio as aioredis

from trackmaster.redis_client import UNAVAILABLE, RedisBreaker


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
        self.breaker = RedisBreaker("ingest rate limit", "counting in this process's own buckets")
        self.fallback_takes = 0  # the metric: takes answered in-process

    async def take(self, key: str, cost: float = 1) -> float | None:
        if self.breaker.should_try():
            try:
                wait_s = await self.primary.take(key, cost)
            except UNAVAILABLE as exc:
                self.breaker.failed(exc)
            else:
                self.breaker.succeeded(
                    f" ({self.fallback_takes} take(s) were counted in this process meanwhile)"
                )
                return wait_s
        self.fallback_takes += 1
        return await self.fallback.take(key, cost)

    def state(self) -> dict[str, Any]:
        degraded = self.breaker.degraded
        return {
            "ok": not degraded,
            "mode": "in-process (Redis unavailable)" if degraded else "redis",
            "fallback_takes": self.fallback_takes,
            "outages": self.breaker.outages,
        }


def make_ratelimiter(
    client: aioredis.Redis | None, prefix: str, rate_per_s: float, burst: float
) -> RateLimiter:
    if client is None:
        return MemoryRateLimiter(rate_per_s, burst)
    return FallbackRateLimiter(
        RedisRateLimiter(client, prefix, rate_per_s, burst), MemoryRateLimiter(rate_per_s, burst)
    )
