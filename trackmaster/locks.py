"""Leases with a TTL: in-process, or in Redis when several processes share the work.

A lease is a key holding a random token. Only the holder's token can extend
or release it, so a process whose lease expired (paused, partitioned) cannot
release the lease another process has taken since.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Protocol

import redis.asyncio as aioredis

from trackmaster.redis_client import make_redis


class LockError(RuntimeError):
    """The lock service could not be reached; no work may run without its lock."""


@dataclass
class Lease:
    name: str
    token: str
    ttl_s: float
    _locks: Locks = field(repr=False)

    async def extend(self) -> bool:
        """Push the expiry `ttl_s` into the future; False when the lease was lost."""
        return await self._locks._extend(self)

    async def release(self) -> None:
        await self._locks._release(self)


class Locks(Protocol):
    async def acquire(self, name: str, ttl_s: float) -> Lease | None: ...
    async def _extend(self, lease: Lease) -> bool: ...
    async def _release(self, lease: Lease) -> None: ...
    async def close(self) -> None: ...


class MemoryLocks:
    """Leases inside one process (the embedded default)."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[str, float]] = {}

    def _live(self, name: str) -> tuple[str, float] | None:
        held = self._held.get(name)
        if held and held[1] > time.monotonic():
            return held
        self._held.pop(name, None)
        return None

    async def acquire(self, name: str, ttl_s: float) -> Lease | None:
        if self._live(name):
            return None
        token = secrets.token_hex(16)
        self._held[name] = (token, time.monotonic() + ttl_s)
        return Lease(name, token, ttl_s, self)

    async def _extend(self, lease: Lease) -> bool:
        held = self._live(lease.name)
        if not held or held[0] != lease.token:
            return False
        self._held[lease.name] = (lease.token, time.monotonic() + lease.ttl_s)
        return True

    async def _release(self, lease: Lease) -> None:
        held = self._live(lease.name)
        if held and held[0] == lease.token:
            del self._held[lease.name]

    async def close(self) -> None:
        self._held.clear()


# Compare-and-act scripts: the check and the change must be one atomic step.
_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class RedisLocks:
    """Leases in Redis: SET NX PX to take, scripts to extend and release."""

    def __init__(
        self, client: aioredis.Redis, prefix: str = "tm:lock:", *, owns_client: bool = True
    ) -> None:
        self._redis = client
        self._owns_client = owns_client
        self._prefix = prefix
        self._extend_script = client.register_script(_EXTEND)
        self._release_script = client.register_script(_RELEASE)

    async def acquire(self, name: str, ttl_s: float) -> Lease | None:
        token = secrets.token_hex(16)
        try:
            taken = await self._redis.set(
                self._prefix + name, token, nx=True, px=max(1, int(ttl_s * 1000))
            )
        except aioredis.RedisError as exc:
            raise LockError(f"cannot take lock {name!r}: Redis failed: {exc}") from exc
        return Lease(name, token, ttl_s, self) if taken else None

    async def _extend(self, lease: Lease) -> bool:
        try:
            done = await self._extend_script(
                keys=[self._prefix + lease.name], args=[lease.token, int(lease.ttl_s * 1000)]
            )
        except aioredis.RedisError as exc:
            raise LockError(f"cannot extend lock {lease.name!r}: Redis failed: {exc}") from exc
        return bool(done)

    async def _release(self, lease: Lease) -> None:
        try:
            await self._release_script(keys=[self._prefix + lease.name], args=[lease.token])
        except aioredis.RedisError as exc:
            raise LockError(f"cannot release lock {lease.name!r}: Redis failed: {exc}") from exc

    async def close(self) -> None:
        if self._owns_client:
            await self._redis.aclose()


async def keep_extended(lease: Lease, every_s: float) -> None:
    """Extend `lease` every `every_s` until cancelled; return when the lease is lost.

    Run it beside the guarded work and cancel the work when it returns: work
    must never go on without its lease.
    """
    while True:
        await asyncio.sleep(every_s)
        try:
            if not await lease.extend():
                return
        except LockError:
            return


def make_locks(redis_url: str, prefix: str = "tm:", client: aioredis.Redis | None = None) -> Locks:
    if client is not None:
        return RedisLocks(client, prefix=f"{prefix}lock:", owns_client=False)
    if not redis_url:
        return MemoryLocks()
    return RedisLocks(make_redis(redis_url, timeout_s=5), prefix=f"{prefix}lock:")
