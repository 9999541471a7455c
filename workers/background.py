"""Long-running loops the web process runs beside its requests.

Each entry takes the process's Runtime and WorkerPool and runs until
cancelled at shutdown. The realtime issue adds the session expiry and the
Jet pull loop; the schedule issue adds the in-process scheduler (without
BROKER).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from trackmaster.runtime import Runtime
from workers import expiry, jet_pull, scheduler
from workers.pool import WorkerPool

log = logging.getLogger(__name__)

BackgroundLoop = Callable[[Runtime, WorkerPool], Awaitable[None]]

# Filled by the modules that own each loop (see web.app.create_app).
LOOPS: list[tuple[str, BackgroundLoop]] = []
LOOPS.append(("session-expiry", expiry.run))
LOOPS.append(("jet-pull", jet_pull.run))
# Scheduled plan sync without BROKER (returns at once when BROKER is set).
LOOPS.append(("plan-scheduler", scheduler.scheduler_loop))


async def _guarded(name: str, loop: BackgroundLoop, runtime: Runtime, pool: WorkerPool) -> None:
    """Run a loop forever: a crash is logged and the loop restarts after a pause."""
    while True:
        try:
            await loop(runtime, pool)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("background loop %s crashed; restarting in 5 s", name)
            await runtime.notifier.notify(f"background loop {name} crashed", repr(exc))
            await asyncio.sleep(5)


def start_all(
    runtime: Runtime, pool: WorkerPool, loops: list[tuple[str, BackgroundLoop]] | None = None
) -> list[asyncio.Task[None]]:
    return [
        asyncio.create_task(_guarded(name, loop, runtime, pool), name=f"background-{name}")
        for name, loop in (LOOPS if loops is None else loops)
    ]


async def stop_all(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
