"""Everything a process holds open: database, locks, bus, notifier, (optionally) Kafka.

The web app's lifespan and the worker processes open one Runtime and close
it on the way out, so every connection has exactly one owner.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from trackmaster.bus import Bus, make_bus
from trackmaster.db import Database
from trackmaster.locks import Locks, make_locks
from trackmaster.notify import Notifier
from trackmaster.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    locks: Locks
    bus: Bus
    notifier: Notifier
    # Per-process parts built on first use by the modules that own them (e.g. the
    # realtime index), so they share the Runtime's lifetime without it knowing them.
    components: dict[str, Any] = field(default_factory=dict)

    @classmethod
    async def open(cls, settings: Settings, *, auto_migrate: bool | None = None) -> Runtime:
        # The embedded SQLite default migrates itself so that `trackmaster serve`
        # is one command; a shared MySQL database is migrated on purpose, by hand.
        if auto_migrate is None:
            auto_migrate = not settings.uses_mysql
        db = await Database.open(settings, auto_migrate=auto_migrate)
        bus = make_bus(settings.redis, settings.redis_prefix)
        try:
            await bus.start()
        except Exception:
            await db.close()
            raise
        return cls(
            settings=settings,
            db=db,
            locks=make_locks(settings.redis, settings.redis_prefix),
            bus=bus,
            notifier=Notifier(settings.slack_webhook_url, settings.notify_webhook_url),
        )

    async def close(self) -> None:
        for name, closer in (("bus", self.bus.close), ("locks", self.locks.close)):
            try:
                await closer()
            except Exception:
                log.exception("closing %s failed", name)
        await self.db.close()
