"""Leases: taken once, expire after their TTL, only the holder extends or releases."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from trackmaster.locks import LockError, Locks, MemoryLocks, RedisLocks, keep_extended


@pytest.fixture(params=["memory", "redis"])
async def locks(request: pytest.FixtureRequest, redis_prefix: str):
    if request.param == "memory":
        made: Locks = MemoryLocks()
    else:
        url = request.getfixturevalue("redis_url")
        made = RedisLocks(aioredis.from_url(url), prefix=redis_prefix)
    yield made
    await made.close()


async def test_a_lease_is_exclusive_until_released(locks: Locks) -> None:
    first = await locks.acquire("project:1", ttl_s=5)
    assert first is not None
    assert await locks.acquire("project:1", ttl_s=5) is None
    assert await locks.acquire("project:2", ttl_s=5) is not None
    await first.release()
    assert await locks.acquire("project:1", ttl_s=5) is not None


async def test_a_lease_expires_after_its_ttl(locks: Locks) -> None:
    lease = await locks.acquire("project:1", ttl_s=0.2)
    assert lease is not None
    await asyncio.sleep(0.35)
    taken_over = await locks.acquire("project:1", ttl_s=5)
    assert taken_over is not None
    # The old holder can neither extend nor release the new holder's lease.
    assert await lease.extend() is False
    await lease.release()
    assert await locks.acquire("project:1", ttl_s=5) is None


async def test_extending_keeps_a_lease_alive(locks: Locks) -> None:
    lease = await locks.acquire("job", ttl_s=0.3)
    assert lease is not None
    keeper = asyncio.create_task(keep_extended(lease, every_s=0.1))
    await asyncio.sleep(0.6)
    assert await locks.acquire("job", ttl_s=5) is None
    keeper.cancel()


async def test_redis_unreachable_raises_instead_of_running_unlocked() -> None:
    unreachable = RedisLocks(aioredis.from_url("redis://127.0.0.1:1", socket_connect_timeout=0.5))
    with pytest.raises(LockError, match="Redis"):
        await unreachable.acquire("project:1", ttl_s=5)
    await unreachable.close()
