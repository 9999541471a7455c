"""Publish/subscribe of live updates: in-process, or through Redis across processes.

Subscribers get a bounded queue. A subscriber that falls behind loses the
oldest messages and is told so (`Subscription.overflowed`), so that one slow
browser never holds up the others; the SSE layer then sends a full refresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any, Protocol

import redis.asyncio as aioredis

from trackmaster.reachability import cannot_connect, reason_of

log = logging.getLogger(__name__)

QUEUE_SIZE = 256


class Subscription:
    def __init__(self, channel: str, maxsize: int = QUEUE_SIZE) -> None:
        self.channel = channel
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize)
        self.overflowed = False

    def offer(self, message: dict[str, Any]) -> None:
        if self.queue.full():
            self.overflowed = True
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
        self.queue.put_nowait(message)

    async def get(self) -> dict[str, Any]:
        return await self.queue.get()


class Bus(Protocol):
    async def publish(self, channel: str, message: dict[str, Any]) -> None: ...
    def subscribe(self, channel: str) -> contextlib.AbstractAsyncContextManager[Subscription]: ...
    async def start(self) -> None: ...
    async def close(self) -> None: ...


class MemoryBus:
    """Fan-out inside one process."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)

    def deliver(self, channel: str, message: dict[str, Any]) -> None:
        for subscription in list(self._subscribers.get(channel, ())):
            subscription.offer(message)

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        self.deliver(channel, message)

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        subscription = Subscription(channel)
        self._subscribers[channel].add(subscription)
        try:
            yield subscription
        finally:
            self._subscribers[channel].discard(subscription)
            if not self._subscribers[channel]:
                del self._subscribers[channel]

    def subscriber_count(self, channel: str) -> int:
        return len(self._subscribers.get(channel, ()))

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._subscribers.clear()


class RedisBus:
    """Redis pub/sub: one pattern subscription per process, fanned out locally.

    One connection per process instead of one per browser: 200 watching
    browsers cost Redis one subscriber, not 200.
    """

    def __init__(self, client: aioredis.Redis, prefix: str = "tm:bus:") -> None:
        self._redis = client
        self._prefix = prefix
        self._local = MemoryBus()
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._last_error: BaseException | None = None

    async def start(self) -> None:
        self._reader = asyncio.create_task(self._read(), name="redis-bus-reader")
        try:
            await asyncio.wait_for(self._ready.wait(), timeout=10)
        except TimeoutError:
            self._reader.cancel()
            kwargs = self._redis.connection_pool.connection_kwargs
            address = kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}"
            reason = reason_of(self._last_error or TimeoutError())
            raise cannot_connect("Redis", address, "REDIS", reason) from None

    async def _read(self) -> None:
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.psubscribe(self._prefix + "*")
                self._ready.set()
                async for raw in pubsub.listen():
                    if raw.get("type") != "pmessage":
                        continue
                    channel = raw["channel"]
                    channel = channel.decode() if isinstance(channel, bytes) else channel
                    try:
                        message = json.loads(raw["data"])
                    except (ValueError, TypeError):
                        log.warning("bus: dropped a message that is not JSON on %s", channel)
                        continue
                    self._local.deliver(channel[len(self._prefix) :], message)
            except asyncio.CancelledError:
                await pubsub.aclose()
                raise
            except aioredis.RedisError as exc:
                self._last_error = exc
                log.warning("bus: Redis subscription failed (%s); reconnecting in 1 s", exc)
                await pubsub.aclose()
                await asyncio.sleep(1)

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        await self._redis.publish(self._prefix + channel, json.dumps(message))

    def subscribe(self, channel: str) -> contextlib.AbstractAsyncContextManager[Subscription]:
        return self._local.subscribe(channel)

    async def close(self) -> None:
        if self._reader:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._local.close()
        await self._redis.aclose()


def make_bus(redis_url: str, prefix: str = "tm:") -> Bus:
    if not redis_url:
        return MemoryBus()
    return RedisBus(aioredis.from_url(redis_url, socket_connect_timeout=5), prefix=f"{prefix}bus:")
