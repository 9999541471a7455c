"""Long-running loops the web process runs beside its requests.

Each loop takes the process's Runtime and WorkerPool and runs until cancelled at
shutdown; the web lifespan (web/app.py) names the loops it runs (session expiry,
the Jet pull, the in-process scheduler) and starts them here, guarded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from trackmaster.db_outage import DatabaseUnavailable
from trackmaster.runtime import Runtime
from workers.pool import WorkerPool

log = logging.getLogger(__name__)

BackgroundLoop = Callable[[Runtime, WorkerPool], Awaitable[None]]
RESTART_PAUSE_S = 5.0


async def _guarded(name: str, loop: BackgroundLoop, runtime: Runtime, pool: WorkerPool) -> None:
    """Run a loop forever: a crash is logged and the loop restarts after a pause.

    It starts once the database may be queried (a web process that started with it away
    waits for its schema to be checked, trackmaster/schema_watch.py). A loop stopped by
    the database being away is no crash: the outage was logged and notified once
    (trackmaster/db_outage.py), so it says one line and starts again after the pause.
    """
    await runtime.db.usable()
    while True:
        try:
            await loop(runtime, pool)
            return
        except asyncio.CancelledError:
            raise
        except DatabaseUnavailable as exc:
            log.info(
                "background loop %s stopped: %s; restarting in %g s", name, exc, RESTART_PAUSE_S
            )
            await asyncio.sleep(RESTART_PAUSE_S)
        except Exception as exc:
            log.exception("background loop %s crashed; restarting in %g s", name, RESTART_PAUSE_S)
            await runtime.notifier.notify(f"background loop {name} crashed", repr(exc))
            await asyncio.sleep(RESTART_PAUSE_S)


def start_all(
    runtime: Runtime, pool: WorkerPool, loops: list[tuple[str, BackgroundLoop]]
) -> list[asyncio.Task[None]]:
    return [
        asyncio.create_task(_guarded(name, loop, runtime, pool), name=f"background-{name}")
        for name, loop in loops
    ]


async def stop_all(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def running(
    runtime: Runtime, pool: WorkerPool, loops: list[tuple[str, BackgroundLoop]]
) -> AsyncIterator[list[asyncio.Task[None]]]:
    """The loops, started for the block and stopped (cancelled, awaited) when it ends."""
    tasks = start_all(runtime, pool, loops)
    try:
        yield tasks
    finally:
        await stop_all(tasks)
