"""The embedded scheduler: without BROKER, the web process syncs due schedules itself.

The same job as the Kafka consumer (trackmaster.schedule.run_scheduled_sync),
found by the same scan as the producer, without the topic in between. Locks are
the runtime's: in-process, or Redis when REDIS is set, so several web processes
sharing a database still sync each project once per period.
"""

from __future__ import annotations

import asyncio
import logging

from trackmaster.runtime import Runtime
from trackmaster.schedule import SyncFn, due_schedules, jet_sync, run_scheduled_sync, utcnow
from workers.pool import WorkerPool

log = logging.getLogger(__name__)


async def scan_once(runtime: Runtime, sync: SyncFn) -> int:
    """Sync every due schedule, one after the other; the number that ran."""
    settings = runtime.settings
    ran = 0
    for schedule in await due_schedules(utcnow()):
        result = await run_scheduled_sync(
            schedule.project_id,
            locks=runtime.locks,
            sync=sync,
            lock_ttl_s=settings.sync_lock_ttl_s,
            job_timeout_s=settings.sync_job_timeout_s,
            notifier=runtime.notifier,
        )
        log.info("scheduler: %s", result.line())
        ran += result.ran
    return ran


async def scheduler_loop(runtime: Runtime, pool: WorkerPool, *, sync: SyncFn | None = None) -> None:
    """Scan every SCHEDULE_SCAN_INTERVAL_S until cancelled; nothing when BROKER is set."""
    settings = runtime.settings
    if settings.broker:
        log.info("scheduler: BROKER is set; the producer and consumer processes sync plans")
        return
    sync = sync or jet_sync(settings, runtime.plan_changes)
    log.info("scheduler: in-process, scanning every %g s", settings.schedule_scan_interval_s)
    while True:
        await scan_once(runtime, sync)
        await asyncio.sleep(settings.schedule_scan_interval_s)
