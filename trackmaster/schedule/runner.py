"""One scheduled sync of one project, safe under at-least-once delivery and many workers.

The order matters, and fixes the original's two defects:

1. Take the project's lock. Lock service unreachable: report it and run nothing
   (the original ran the job even when its lock failed).
2. Under the lock, re-read the schedule: off or not due any more -> skip (the
   original trusted the time in the message, which was stale by then).
3. Claim the run: write `last_run_at = now, last_outcome = running` with a
   conditional UPDATE, so a duplicate message finds the schedule not due.
4. Run the sync under a timeout while the lease is renewed beside it; a lost
   lease cancels the sync, since another worker may now hold the project.
5. Record the outcome (shielded from cancellation) and release the lock.

A worker killed during step 4 leaves `running` behind; its lock expires after
its TTL and the next holder, seeing an unfinished run, syncs again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from trackmaster.locks import Lease, LockError, Locks, keep_extended
from trackmaster.models import Schedule, SyncRun
from trackmaster.models.ops import UNFINISHED_OUTCOMES
from trackmaster.notify import Notifier
from trackmaster.schedule.due import is_due, utcnow

log = logging.getLogger(__name__)

SyncFn = Callable[[int], Awaitable[Any]]
"""Sync one project's plan; may return its SyncRun (status ok/failed) or raise."""

ERROR_CHARS = 2000


def lock_name(project_id: int) -> str:
    return f"sync:project:{project_id}"


@dataclass(frozen=True)
class JobResult:
    project_id: int
    # ok, failed, interrupted (ran, outcome recorded); skipped, locked, lock_error (did not run)
    status: str
    detail: str = ""
    run_id: int | None = None
    duration_s: float = 0.0

    @property
    def ran(self) -> bool:
        return self.status in {"ok", "failed", "interrupted"}

    def line(self) -> str:
        took = f" in {self.duration_s:.1f} s" if self.ran else ""
        run = f" (sync run {self.run_id})" if self.run_id else ""
        detail = f": {self.detail}" if self.detail else ""
        return f"project {self.project_id}: {self.status}{took}{run}{detail}"


async def run_scheduled_sync(
    project_id: int,
    *,
    locks: Locks,
    sync: SyncFn,
    lock_ttl_s: float,
    job_timeout_s: float,
    notifier: Notifier,
    now: datetime | None = None,
) -> JobResult:
    """Sync `project_id` if its schedule is on and due, under its lock; see the module doc."""
    if lock_ttl_s <= job_timeout_s:
        raise ValueError(f"lock TTL {lock_ttl_s:g} s must be longer than the timeout")
    try:
        lease = await locks.acquire(lock_name(project_id), lock_ttl_s)
    except LockError as exc:
        detail = f"{exc}; no sync runs without its lock"
        log.error("scheduled sync of project %s not run: %s", project_id, detail)
        await notifier.notify(
            "scheduled plan sync not run",
            f"project {project_id}: {detail}",
            {"project": project_id, "reason": "lock_error"},
        )
        return JobResult(project_id, "lock_error", detail)
    if lease is None:
        return JobResult(project_id, "locked", "another worker holds this project's sync lock")
    try:
        return await _run_locked(project_id, lease, sync, job_timeout_s, notifier, now)
    finally:
        try:
            # Shielded: a cancelled job must still hand its lock back rather than
            # make the next worker wait out the TTL.
            await asyncio.shield(lease.release())
        except LockError as exc:
            log.warning("could not release %s (%s); it expires by itself", lease.name, exc)


async def _run_locked(
    project_id: int,
    lease: Lease,
    sync: SyncFn,
    job_timeout_s: float,
    notifier: Notifier,
    now: datetime | None,
) -> JobResult:
    now = now or utcnow()
    schedule = await Schedule.get_or_none(project_id=project_id)
    if schedule is None or not schedule.enabled:
        return JobResult(project_id, "skipped", "schedule is off")
    if not is_due(schedule, now):
        due = schedule.next_due_at
        return JobResult(project_id, "skipped", f"not due until {due:%Y-%m-%d %H:%M:%S} UTC")
    resumed = schedule.last_outcome in UNFINISHED_OUTCOMES
    if not await _claim(schedule, now):
        return JobResult(project_id, "skipped", "the schedule changed while the lock was taken")
    # Under the lock nobody else runs this project: a "running" row is a dead worker's.
    await SyncRun.filter(project_id=project_id, trigger="schedule", status="running").update(
        status="failed", finished_at=now, error="abandoned: its worker stopped or lost its lock"
    )
    before = await SyncRun.filter(project_id=project_id).order_by("-id").first()
    before_id = before.id if before else 0
    started = time.monotonic()
    try:
        status, error, lease_held = await _run_guarded(sync, project_id, lease, job_timeout_s)
    except asyncio.CancelledError:
        error = "stopped before the sync finished (the worker shut down); it runs again next scan"
        await asyncio.shield(_finish(schedule, now, "interrupted", error, before_id, True))
        raise
    run_id = await _finish(schedule, now, status, error, before_id, lease_held)
    result = JobResult(
        project_id,
        status,
        "; ".join(part for part in ("resumed an unfinished run" if resumed else "", error) if part),
        run_id,
        time.monotonic() - started,
    )
    if status == "failed":
        await notifier.notify(
            "scheduled plan sync failed",
            f"project {project_id}: {error}",
            {"project": project_id, "sync_run": run_id},
        )
    return result


async def _claim(schedule: Schedule, now: datetime) -> bool:
    """Mark the run as started, only if the row is still what was read (compare and set)."""
    query = Schedule.filter(id=schedule.id, last_outcome=schedule.last_outcome, enabled=True)
    if schedule.last_run_at is None:
        query = query.filter(last_run_at__isnull=True)
    else:
        query = query.filter(last_run_at=schedule.last_run_at)
    changed = await query.update(last_run_at=now, last_outcome="running", last_error="")
    return changed == 1


async def _run_guarded(
    sync: SyncFn, project_id: int, lease: Lease, job_timeout_s: float
) -> tuple[str, str, bool]:
    """Run the sync under its timeout with the lease renewed; (status, error, lease held)."""
    job = asyncio.create_task(asyncio.wait_for(sync(project_id), job_timeout_s))
    # Renew at a third of the TTL: two renewals can fail before the lease expires.
    keeper = asyncio.create_task(keep_extended(lease, every_s=lease.ttl_s / 3))
    try:
        await asyncio.wait({job, keeper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (job, keeper):
            if not task.done():
                task.cancel()
        await asyncio.gather(job, keeper, return_exceptions=True)
    if not job.done() or job.cancelled():
        return "failed", "lost the project's sync lock while it ran; the sync was cancelled", False
    if job.exception() is not None:
        exc = job.exception()
        if isinstance(exc, TimeoutError):
            return "failed", f"took longer than {job_timeout_s:g} s (SYNC_JOB_TIMEOUT_S)", True
        return "failed", f"{type(exc).__name__}: {exc}"[:ERROR_CHARS], True
    run = job.result()
    if isinstance(run, SyncRun) and run.status == "failed":
        return "failed", (run.error or "the sync failed")[:ERROR_CHARS], True
    return "ok", "", True


async def _finish(
    schedule: Schedule,
    claimed_at: datetime,
    status: str,
    error: str,
    before_id: int,
    lease_held: bool,
) -> int | None:
    """Record the outcome on the schedule and in the run history; the run's id."""
    finished_at = utcnow()
    # Only our own claim is updated: after a lost lease another worker may own the row.
    await Schedule.filter(id=schedule.id, last_run_at=claimed_at, last_outcome="running").update(
        last_outcome=status, last_error=error[:ERROR_CHARS]
    )
    runs = await SyncRun.filter(
        project_id=schedule.project_id,
        trigger="schedule",
        id__gt=before_id,
    ).order_by("id")
    if lease_held:
        for run in runs:
            if run.status == "running":
                # The sync was cancelled (timeout, shutdown) after it wrote its row.
                run.status, run.error, run.finished_at = "failed", error, finished_at
                await run.save(update_fields=["status", "error", "finished_at"])
    if runs:
        return runs[-1].id
    # The sync failed before it wrote a row (or the injected sync writes none):
    # the history still shows the attempt.
    run = await SyncRun.create(
        project_id=schedule.project_id,
        source="jet",
        trigger="schedule",
        status="ok" if status == "ok" else "failed",
        started_at=claimed_at,
        finished_at=finished_at,
        error=error[:ERROR_CHARS],
        started_by="scheduler",
    )
    return run.id
