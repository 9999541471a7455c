"""Database connection and schema state: one place that knows SQLite and MariaDB apart.

Migrations are Tortoise's own (`migrations/`), written as database-neutral
operations, so one history builds the same schema on SQLite and on MariaDB
(see docs/migrations.md for why not aerich).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.context import TortoiseContext, get_current_context
from tortoise.migrations.executor import MigrationExecutor

from trackmaster.db_outage import OUTAGE, DatabaseUnavailable
from trackmaster.notify import Notifier
from trackmaster.reachability import Away, check_database
from trackmaster.schema_watch import SchemaWatch
from trackmaster.settings import Settings

log = logging.getLogger(__name__)

APP_LABEL = "models"
MODEL_MODULES = ["trackmaster.models"]
MIGRATIONS_MODULE = "migrations"
# How often a web process that started with its database away asks again (the issue
# asks for the first event accepted within 2 s of the database being back).
SCHEMA_CHECK_INTERVAL_S = 0.5


class SchemaOutOfDate(RuntimeError):
    """The database lacks migrations this code needs; the message says what to run."""


def tortoise_config(settings: Settings) -> dict[str, Any]:
    if settings.uses_mysql:
        connection: dict[str, Any] = {
            # Tortoise's engine with a deadline on every call (trackmaster/db_mysql.py).
            "engine": "trackmaster.db_mysql",
            "credentials": {
                "host": settings.db_host,
                "port": settings.db_port,
                "user": settings.db_user,
                "password": settings.db_password,
                "database": settings.db_name,
                "charset": "utf8mb4",
                "minsize": 1,
                "maxsize": settings.db_pool_size,
                "connect_timeout": max(1, round(settings.db_timeout_s)),
                "deadline_s": settings.db_timeout_s,
            },
        }
    else:
        path = Path(settings.sqlite_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = {
            "engine": "tortoise.backends.sqlite",
            # WAL lets page reads go on while the ingest path writes.
            "credentials": {"file_path": str(path), "journal_mode": "wal"},
        }
    return {
        "connections": {"default": connection},
        "apps": {
            APP_LABEL: {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": MIGRATIONS_MODULE,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def describe(settings: Settings) -> str:
    """Where the data lives, for logs and /healthz (never the password)."""
    if settings.uses_mysql:
        return (
            f"mysql://{settings.db_user}@{settings.db_host}:{settings.db_port}/{settings.db_name}"
        )
    return f"sqlite://{settings.sqlite_path}"


def out_of_date_message(settings: Settings, pending: list[str]) -> str:
    # A few names, so that the fix at the end survives wherever the line is shortened
    # (/healthz shows 300 characters of an error).
    named = ", ".join(pending[:2]) + (f" and {len(pending) - 2} more" if len(pending) > 2 else "")
    return (
        f"the database {describe(settings)} is missing {len(pending)} migration(s) "
        f"({named}); run `trackmaster migrate` first"
    )


async def pending_migrations(settings: Settings) -> list[str]:
    """Names of migrations not yet applied to the configured database."""
    # Tortoise reads an unreachable database as one with no migrations applied.
    await check_database(settings)
    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(settings))
        executor = MigrationExecutor(ctx.db("default"), tortoise_config(settings)["apps"])
        steps = await executor.plan()
        return [f"{step.migration.app_label}.{step.migration.name}" for step in steps]


async def migrate(settings: Settings) -> list[str]:
    """Apply every pending migration; returns the names applied."""
    await check_database(settings)
    applied: list[str] = []

    def progress(event: str, app_label: str, name: str) -> None:
        if event.endswith("success") or event == "apply_success":
            applied.append(f"{app_label}.{name}")
            log.info("applied migration %s.%s", app_label, name)

    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(settings))
        executor = MigrationExecutor(ctx.db("default"), tortoise_config(settings)["apps"])
        steps = await executor.plan()
        await executor.migrate(progress=progress)
        return [f"{step.migration.app_label}.{step.migration.name}" for step in steps]


class Database:
    """The process's ORM connection, opened once by whoever starts first.

    Tortoise keeps its connections in a context; the web app's lifespan runs in
    another task than its requests, so the context is made the process-wide
    fallback. When something else (a CLI command, a test) already opened one,
    the app reuses it and leaves closing to its owner.
    """

    def __init__(
        self, context: TortoiseContext, owned: bool, watch: SchemaWatch | None = None
    ) -> None:
        self.context = context
        self.owned = owned
        # Set when the process started with the database away (trackmaster/schema_watch.py).
        self.watch = watch

    @property
    def closed_because(self) -> str | None:
        """Why no request may query the database yet, or None: it may."""
        return self.watch.closed_because if self.watch is not None else None

    async def usable(self) -> None:
        """Return once the database may be queried (at once unless it was away at the start)."""
        if self.watch is not None:
            await self.watch.opened.wait()

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        auto_migrate: bool = False,
        notifier: Notifier | None = None,
        degrade_if_away: bool = False,
    ) -> Database:
        """Open the ORM on a database that answers and is current (else raise, saying so).

        `degrade_if_away` (the web process): a MySQL that is away, not misconfigured,
        opens anyway, closed to queries until its schema is found current.
        """
        if notifier is not None:
            OUTAGE.notifier = notifier  # told once per outage (trackmaster/db_outage.py)
            OUTAGE.back_at = None  # a new app's first outage is news, however recent the last
        watch: SchemaWatch | None = None
        existing = get_current_context()
        if existing is not None and existing.inited:
            return cls(existing, owned=False)
        if auto_migrate:
            await migrate(settings)  # checks that the database answers
        else:
            try:
                pending = await pending_migrations(settings)
            except Away as away:
                if not degrade_if_away:
                    raise
                log.warning(
                    "%s Starting degraded: requests that need the database answer 503 "
                    "with Retry-After until it answers.",
                    away,
                )
                watch = SchemaWatch(
                    lambda: pending_migrations(settings),
                    lambda missing: out_of_date_message(settings, missing),
                    SCHEMA_CHECK_INTERVAL_S,
                )
                pending = []
            if pending:
                raise SchemaOutOfDate(out_of_date_message(settings, pending))
        # Tortoise caches compiled INSERT/DELETE statements by connection name,
        # not by dialect: a process that opens SQLite and later MariaDB (the
        # test suite) would send SQLite's SQL to MariaDB without this.
        EXECUTOR_CACHE.clear()
        context = TortoiseContext()
        # Init needs the context current; afterwards every task reaches it
        # through the global fallback.
        with context:
            await context.init(config=tortoise_config(settings), _enable_global_fallback=True)
        if watch is not None:
            watch.start()
        return cls(context, owned=True, watch=watch)

    async def ping(self, timeout_s: float = 3.0) -> None:
        """One round trip, under a deadline (MariaDB calls also have their own, DB_TIMEOUT_S)."""
        if self.closed_because is not None:
            raise DatabaseUnavailable(self.closed_because)
        try:
            async with asyncio.timeout(timeout_s):
                await self.context.db("default").execute_query("SELECT 1")
        except TimeoutError:
            raise DatabaseUnavailable(f"no answer to a ping within {timeout_s:g} s") from None

    async def close(self) -> None:
        if self.watch is not None:
            await self.watch.close()
        if self.owned:
            await self.context.close_connections()


async def detect_model_changes(*, write: bool) -> list[str]:
    """Compare the models with the migration history; optionally write the new migration.

    Returns the names of migrations the models need. An empty list means the
    history builds exactly the models' schema (the test suite insists on it).
    """
    from tortoise.migrations.autodetector import MigrationAutodetector

    # No database is touched: the history is read from disk and the models from code.
    config: dict[str, Any] = {
        "connections": {"default": "sqlite://:memory:"},
        "apps": {
            APP_LABEL: {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": MIGRATIONS_MODULE,
            }
        },
    }
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        assert ctx.apps is not None
        writers = await MigrationAutodetector(ctx.apps, config["apps"]).changes()
        if write:
            for writer in writers:
                writer.write()
        return [writer.name for writer in writers]
