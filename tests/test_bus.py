"""The live-update bus: in-process, and across processes through Redis."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from trackmaster.bus import MemoryBus, RedisBus, Subscription


async def test_memory_bus_delivers_to_each_subscriber_of_the_channel() -> None:
    bus = MemoryBus()
    async with (
        bus.subscribe("session:1") as one,
        bus.subscribe("session:1") as two,
        bus.subscribe("session:2") as other,
    ):
        await bus.publish("session:1", {"n": 1})
        assert await one.get() == {"n": 1}
        assert await two.get() == {"n": 1}
        assert other.queue.empty()
    assert bus.subscriber_count("session:1") == 0


async def test_a_slow_subscriber_loses_the_oldest_and_knows_it() -> None:
    subscription = Subscription("c", maxsize=2)
    for n in range(3):
        subscription.offer({"n": n})
    assert subscription.overflowed is True
    assert [await subscription.get(), await subscription.get()] == [{"n": 1}, {"n": 2}]


async def test_redis_bus_carries_messages_between_two_instances(
    redis_url: str, redis_prefix: str
) -> None:
    publisher = RedisBus(aioredis.from_url(redis_url), prefix=redis_prefix)
    listener = RedisBus(aioredis.from_url(redis_url), prefix=redis_prefix)
    await publisher.start()
    await listener.start()
    try:
        async with listener.subscribe("session:7") as subscription:
            await publisher.publish("session:7", {"log": 42})
            assert await asyncio.wait_for(subscription.get(), timeout=5) == {"log": 42}
    finally:
        await publisher.close()
        await listener.close()
