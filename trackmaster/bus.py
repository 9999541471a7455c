"""Publish/subscribe of live updates: in-process, or through Redis across processes.

Subscribers get a bounded queue. A subscriber that may have missed messages
is told so (`Subscription.overflowed`, and a `{"type": "gap"}` message that
wakes it up), so that the SSE layer sends a full refresh instead of leaving a
page silently behind. That happens when a slow subscriber's queue overflows,
and with Redis when the reader reconnected (whatever was published meanwhile
never reached this process) or when a publish had to be given up.

Publishing to Redis never blocks the caller (an ingest job after its commit):
messages go to an outbox that one task sends, in order, in pipelines. While
Redis is away the outbox keeps them and retries, and this process's own
subscribers get each message at once, so pages served here stay live.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import redis.asyncio as aioredis

from trackmaster.reachability import address_of, cannot_connect, reason_of
from trackmaster.redis_client import UNAVAILABLE, make_redis

log = logging.getLogger(__name__)

QUEUE_SIZE = 256
# Messages kept while Redis is away; past this the oldest are dropped and their
# channels get a gap message once Redis is back.
OUTBOX_SIZE = 10_000
# Messages sent in one pipeline.
PUBLISH_BATCH = 200
# Waits between attempts while Redis is away (the reader's reconnects too).
RETRY_DELAYS_S = (0.1, 0.2, 0.5)
# How long start() waits for the first subscription before going on without it.
START_WAIT_S = 2.0

GAP = {"type": "gap"}


class Subscription:
    def __init__(self, channel: str, maxsize: int = QUEUE_SIZE) -> None:
        self.channel = channel
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize)
        self.overflowed = False

    def gap(self) -> None:
        """Messages may have been missed: the reader must re-read everything."""
        self.overflowed = True
        self.offer(GAP)

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
    def state(self) -> dict[str, Any]: ...


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

    def gap_all(self) -> None:
        for subscriptions in list(self._subscribers.values()):
            for subscription in list(subscriptions):
                subscription.gap()

    def subscriber_count(self, channel: str) -> int:
        return len(self._subscribers.get(channel, ()))

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._subscribers.clear()

    def state(self) -> dict[str, Any]:
        return {"ok": True, "mode": "in-process (REDIS not set)"}


@dataclass
class BusStats:
    published: int = 0
    publish_failures: int = 0  # attempts that failed (each is retried)
    dropped: int = 0  # messages given up because the outbox was full (their channels gapped)
    reconnects: int = 0  # the reader lost its subscription and got it back
    gaps: int = 0  # times local subscribers were told to refresh


class RedisBus:
    """Redis pub/sub: one pattern subscription per process, fanned out locally.

    One connection per process instead of one per browser: 200 watching
    browsers cost Redis one subscriber, not 200.
    """

    def __init__(
        self, client: aioredis.Redis, prefix: str = "tm:bus:", *, owns_client: bool = True
    ):
        self._redis = client
        self._owns_client = owns_client
        self._prefix = prefix
        self._local = MemoryBus()
        self._reader: asyncio.Task[None] | None = None
        self._publisher: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._outbox: deque[tuple[str, dict[str, Any]]] = deque()
        self._outbox_ready = asyncio.Event()
        self._gapped: set[str] = set()  # channels whose messages were dropped from the outbox
        self.subscribed = False
        self.publishing_ok = True
        self.down_since: float | None = None
        self.stats = BusStats()
        self._last_error: BaseException | None = None

    async def start(self) -> None:
        self._reader = asyncio.create_task(self._read(), name="redis-bus-reader")
        self._publisher = asyncio.create_task(self._publish_loop(), name="redis-bus-publisher")
        try:
            await asyncio.wait_for(self._ready.wait(), timeout=START_WAIT_S)
        except TimeoutError:
            # Degrade, do not refuse to start: pages served here stay live in-process,
            # and the reader keeps trying; once it subscribes every page is refreshed.
            address = address_of(self._redis.connection_pool.connection_kwargs)
            reason = reason_of(self._last_error or TimeoutError())
            log.warning(
                "%s Starting degraded meanwhile: Redis is unreachable at start, live updates "
                "stay inside this process and rate limits are per process until it is back.",
                cannot_connect("Redis", address, "REDIS", reason),
            )

    # --- reading ------------------------------------------------------------------------

    async def _read(self) -> None:
        attempt = 0
        ever_subscribed = False
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.psubscribe(self._prefix + "*")
                if ever_subscribed or attempt:
                    # Whatever was published while we were not subscribed never reached us.
                    self.stats.reconnects += ever_subscribed
                    self.stats.gaps += 1
                    log.info("bus: Redis subscription is back; live pages get a full refresh")
                    self._local.gap_all()
                ever_subscribed, attempt = True, 0
                self.subscribed = True
                self._ready.set()
                while True:
                    raw = await pubsub.get_message(timeout=1.0)
                    if raw is None or raw.get("type") != "pmessage":
                        continue
                    self._deliver_raw(raw)
            except asyncio.CancelledError:
                self.subscribed = False
                with contextlib.suppress(*UNAVAILABLE):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py 8.1 leaves it unannotated
                raise
            except Exception as exc:
                # Redis errors above all; anything else must not end the one reader either.
                self._last_error = exc
                if self.subscribed or attempt == 0:
                    log.warning("bus: Redis subscription failed (%s); reconnecting", exc)
                self.subscribed = False
                with contextlib.suppress(*UNAVAILABLE):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py 8.1 leaves it unannotated
                await asyncio.sleep(RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)])
                attempt += 1

    def _deliver_raw(self, raw: dict[str, Any]) -> None:
        channel = raw["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else channel
        try:
            message = json.loads(raw["data"])
        except (ValueError, TypeError):
            log.warning("bus: dropped a message that is not JSON on %s", channel)
            return
        self._local.deliver(channel[len(self._prefix) :], message)

    # --- publishing ---------------------------------------------------------------------

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        """Queue `message` for Redis; never blocks and never raises for Redis being away."""
        if len(self._outbox) >= OUTBOX_SIZE:
            dropped_channel, _ = self._outbox.popleft()
            self._gapped.add(dropped_channel)
            self.stats.dropped += 1
        self._outbox.append((channel, message))
        if not self.publishing_ok:
            # Redis is away: pages served by this process still see it now. The copy
            # sent later, once Redis is back, repeats it (cell swaps are idempotent and
            # pages drop log rows they already show).
            self._local.deliver(channel, message)
        self._outbox_ready.set()
        if self._publisher is None:  # not started (a test publishing without start)
            await self._flush()

    async def _publish_loop(self) -> None:
        attempt = 0
        while True:
            await self._outbox_ready.wait()
            self._outbox_ready.clear()
            while self._outbox or self._gapped:
                try:
                    await self._flush()
                except UNAVAILABLE as exc:
                    self.stats.publish_failures += 1
                    if self.publishing_ok:
                        self.publishing_ok = False
                        self.down_since = time.monotonic()
                        log.warning(
                            "bus: cannot publish to Redis (%s); keeping %d message(s) to retry, "
                            "pages of this process are updated directly",
                            exc, len(self._outbox),
                        )  # fmt: skip
                        # What is waiting now was not delivered anywhere yet.
                        for channel, message in list(self._outbox):
                            self._local.deliver(channel, message)
                    await asyncio.sleep(RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)])
                    attempt += 1
                    continue
                if not self.publishing_ok:
                    log.info(
                        "bus: publishing to Redis again after %.1f s",
                        time.monotonic() - (self.down_since or time.monotonic()),
                    )
                    self.publishing_ok, self.down_since = True, None
                attempt = 0

    async def _flush(self) -> None:
        """Send what the outbox holds, in order; a failure leaves the unsent part in it."""
        if self._gapped:
            gapped = sorted(self._gapped)
            async with self._redis.pipeline(transaction=False) as pipe:
                for channel in gapped:
                    pipe.publish(self._prefix + channel, json.dumps(GAP))
                await pipe.execute()
            self._gapped.difference_update(gapped)
        while self._outbox:
            batch = [self._outbox[n] for n in range(min(PUBLISH_BATCH, len(self._outbox)))]
            async with self._redis.pipeline(transaction=False) as pipe:
                for channel, message in batch:
                    pipe.publish(self._prefix + channel, json.dumps(message))
                await pipe.execute()
            for _ in batch:
                self._outbox.popleft()
            self.stats.published += len(batch)

    def subscribe(self, channel: str) -> contextlib.AbstractAsyncContextManager[Subscription]:
        return self._local.subscribe(channel)

    def state(self) -> dict[str, Any]:
        return {
            "ok": self.subscribed and self.publishing_ok,
            "mode": "redis",
            "subscribed": self.subscribed,
            "publishing": self.publishing_ok,
            "outbox": len(self._outbox),
            "stats": vars(self.stats),
        }

    async def close(self) -> None:
        for task in (self._publisher, self._reader):
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        # A last try for what is still queued, bounded: shutting down must not hang on Redis.
        if self._outbox:
            with contextlib.suppress(*UNAVAILABLE):
                await asyncio.wait_for(self._flush(), timeout=1.0)
        await self._local.close()
        if self._owns_client:
            await self._redis.aclose()


def make_bus(redis_url: str, prefix: str = "tm:", client: aioredis.Redis | None = None) -> Bus:
    if not redis_url and client is None:
        return MemoryBus()
    if client is None:
        return RedisBus(make_redis(redis_url), prefix=f"{prefix}bus:")
    return RedisBus(client, prefix=f"{prefix}bus:", owns_client=False)
