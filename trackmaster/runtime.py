"""Everything a process holds open, made in one place: `Runtime.open`.

The database, the process's ONE Redis client (locks, bus, the web's rate limiters
and the workers' heartbeat share its bounded pool), locks, the live-update bus, the
notifier, the plan-change hub and the realtime services (live index, ingest,
lifecycle). The web lifespan (web/app.py) and the worker processes (workers/process.py)
open one Runtime and close it on the way out, so every connection has exactly one
owner and nothing is built lazily inside a request.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import redis.asyncio as aioredis

from trackmaster.bus import Bus, MemoryBus, make_bus
from trackmaster.db import Database
from trackmaster.locks import Locks, make_locks
from trackmaster.notify import Notifier
from trackmaster.plan.changes import PlanChanges
from trackmaster.redis_client import redis_for
from trackmaster.sessions.service import Realtime
from trackmaster.settings import Settings

log = logging.getLogger(__name__)


def redis_client_name(settings: Settings, role: str) -> str:
    """The name every connection of a process's Redis client carries (CLIENT LIST shows it)."""
    return f"{settings.redis_prefix}{role}:{os.getpid()}"


@dataclass
class Runtime:
    settings: Settings
    db: Database
    locks: Locks
    bus: Bus
    notifier: Notifier
    plan_changes: PlanChanges
    realtime: Realtime
    # The process's one Redis client (None without REDIS).
    redis: aioredis.Redis | None = None

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        role: str = "web",
        live: bool = True,
        auto_migrate: bool | None = None,
        degrade_if_away: bool = False,
    ) -> Runtime:
        """Open everything; `role` names the process's Redis connections (web, consumer ...).

        `live=False` (the producer and consumer: they serve no live page) keeps the bus
        inside the process: no Redis subscription, nothing published that a page waits for.
        `degrade_if_away` (the web process): a MySQL that is away at the start is an outage
        to answer 503 through until it is back, not a reason to stop (trackmaster/db.py);
        the workers and commands have nothing to answer meanwhile: they stop and say so.
        """
        # The embedded SQLite default migrates itself so that `trackmaster serve`
        # is one command; a shared MySQL database is migrated on purpose, by hand.
        if auto_migrate is None:
            auto_migrate = not settings.uses_mysql
        notifier = Notifier(settings.slack_webhook_url, settings.notify_webhook_url)
        db = await Database.open(
            settings, auto_migrate=auto_migrate, notifier=notifier, degrade_if_away=degrade_if_away
        )
        redis = redis_for(settings, client_name=redis_client_name(settings, role))
        bus = make_bus(settings.redis, settings.redis_prefix, client=redis) if live else MemoryBus()
        try:
            # Never fails for Redis being away: the bus degrades and says so.
            await bus.start()
        except Exception:
            if redis is not None:
                await redis.aclose()
            await db.close()
            raise
        plan_changes = PlanChanges()
        return cls(
            settings=settings,
            db=db,
            locks=make_locks(settings.redis, settings.redis_prefix, client=redis),
            bus=bus,
            notifier=notifier,
            plan_changes=plan_changes,
            realtime=Realtime(settings, bus, notifier, plan_changes),
            redis=redis,
        )

    async def close(self) -> None:
        for name, closer in (("bus", self.bus.close), ("locks", self.locks.close)):
            try:
                await closer()
            except Exception:
                log.exception("closing %s failed", name)
        if self.redis is not None:
            try:
                await self.redis.aclose()
            except Exception:
                log.exception("closing the Redis client failed")
        await self.db.close()
