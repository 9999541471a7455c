"""Everything a process holds open: database, locks, bus, notifier, (optionally) Kafka.

The web app's lifespan and the worker processes open one Runtime and close
it on the way out, so every connection has exactly one owner.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from trackmaster.bus import Bus, make_bus
from trackmaster.db import Database
from trackmaster.locks import Locks, make_locks
from trackmaster.notify import Notifier
from trackmaster.redis_client import redis_for
from trackmaster.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    locks: Locks
    bus: Bus
    notifier: Notifier
    # The process's one Redis client (None without REDIS): locks, bus and the web's
    # rate limiter share its bounded pool.
    redis: aioredis.Redis | None = None
    owns_redis: bool = True
    # Per-process parts built on first use by the modules that own them (e.g. the
    # realtime index), so they share the Runtime's lifetime without it knowing them.
    components: dict[str, Any] = field(default_factory=dict)

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        auto_migrate: bool | None = None,
        redis: aioredis.Redis | None = None,
    ) -> Runtime:
        # The embedded SQLite default migrates itself so that `trackmaster serve`
        # is one command; a shared MySQL database is migrated on purpose, by hand.
        if auto_migrate is None:
            auto_migrate = not settings.uses_mysql
        notifier = Notifier(settings.slack_webhook_url, settings.notify_webhook_url)
        db = await Database.open(settings, auto_migrate=auto_migrate, notifier=notifier)
        owns_redis = redis is None
        redis = redis if redis is not None else redis_for(settings)
        bus = make_bus(settings.redis, settings.redis_prefix, client=redis)
        try:
            # Never fails for Redis being away: the bus degrades and says so.
            await bus.start()
        except Exception:
            await db.close()
            raise
        return cls(
            settings=settings,
            db=db,
            locks=make_locks(settings.redis, settings.redis_prefix, client=redis),
            bus=bus,
            notifier=notifier,
            redis=redis,
            owns_redis=owns_redis,
        )

    async def close(self) -> None:
        for name, closer in (("bus", self.bus.close), ("locks", self.locks.close)):
            try:
                await closer()
            except Exception:
                log.exception("closing %s failed", name)
        if self.redis is not None and self.owns_redis:
            try:
                await self.redis.aclose()
            except Exception:
                log.exception("closing the Redis client failed")
        await self.db.close()
