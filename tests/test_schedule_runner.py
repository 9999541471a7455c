"""One scheduled sync under its lock: due or not, duplicates, lost locks, timeouts, crashes.

The sync itself is injected (a recording coroutine) so that these tests pin the
lock-and-due logic; the end-to-end tests at the bottom run the real plan sync
against the fake Jet. Locks are real: in-process and Redis.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from tests.support.schedule import make_project, schedule_of, scheduled_runs, webhook
from trackmaster.locks import Locks, MemoryLocks, RedisLocks
from trackmaster.models import Story, SyncRun
from trackmaster.notify import Notifier
from trackmaster.schedule import is_due, jet_sync, lock_name, run_scheduled_sync

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class RecordingSync:
    """Stands in for the plan sync: counts calls, can be slow or fail."""

    def __init__(self, delay_s: float = 0.0, error: Exception | None = None) -> None:
        self.calls: list[int] = []
        self.delay_s = delay_s
        self.error = error
        self.started = asyncio.Event()

    async def __call__(self, project_id: int) -> None:
        self.calls.append(project_id)
        self.started.set()
        await asyncio.sleep(self.delay_s)
        if self.error:
            raise self.error


@pytest.fixture(params=["memory", "redis"])
async def locks(request: pytest.FixtureRequest, redis_prefix: str):
    if request.param == "memory":
        made: Locks = MemoryLocks()
    else:
        made = RedisLocks(aioredis.from_url(request.getfixturevalue("redis_url")), redis_prefix)
    yield made
    await made.close()


async def run(
    project_id: int, locks: Locks, sync, *, now=NOW, ttl_s=5.0, timeout_s=2.0, notifier=None
):
    return await run_scheduled_sync(
        project_id,
        locks=locks,
        sync=sync,
        lock_ttl_s=ttl_s,
        job_timeout_s=timeout_s,
        notifier=notifier or Notifier(),
        now=now,
    )


def test_due_rule() -> None:
    from trackmaster.models import Schedule

    schedule = Schedule(enabled=True, interval_s=3600, last_run_at=NOW, last_outcome="ok")
    assert not is_due(schedule, NOW + timedelta(minutes=59))
    assert is_due(schedule, NOW + timedelta(hours=1))
    assert not is_due(Schedule(enabled=False, interval_s=3600), NOW)
    assert is_due(Schedule(enabled=True, interval_s=3600, last_run_at=None), NOW)
    # A run that never finished is due at once, whatever the interval says.
    unfinished = Schedule(enabled=True, interval_s=3600, last_run_at=NOW, last_outcome="running")
    assert is_due(unfinished, NOW + timedelta(seconds=1))


async def test_a_due_schedule_is_synced_once_and_a_duplicate_message_is_a_no_op(
    db, locks: Locks
) -> None:
    project = await make_project(last_run_at=NOW - timedelta(hours=2))
    sync = RecordingSync()

    first = await run(project.id, locks, sync)
    duplicate = await run(project.id, locks, sync, now=NOW + timedelta(seconds=5))

    assert (first.status, duplicate.status) == ("ok", "skipped")
    assert "not due until 2026-03-01 13:00:00" in duplicate.detail
    assert sync.calls == [project.id]
    schedule = await schedule_of(project.id)
    assert (schedule.last_run_at, schedule.last_outcome, schedule.last_error) == (NOW, "ok", "")
    runs = await scheduled_runs(project.id)
    assert [(r.status, r.id) for r in runs] == [("ok", first.run_id)]
    # The lock was handed back: the next worker does not wait for the TTL.
    assert await locks.acquire(lock_name(project.id), 1) is not None


async def test_a_schedule_turned_off_or_not_due_is_not_synced(db, locks: Locks) -> None:
    off = await make_project("off", enabled=False)
    recent = await make_project("recent", last_run_at=NOW - timedelta(minutes=10))
    sync = RecordingSync()
    assert (await run(off.id, locks, sync)).detail == "schedule is off"
    assert (await run(recent.id, locks, sync)).status == "skipped"
    assert sync.calls == []
    assert await scheduled_runs(recent.id) == []


async def test_two_workers_at_once_sync_a_project_once(db, locks: Locks) -> None:
    project = await make_project()
    sync = RecordingSync(delay_s=0.3)
    results = await asyncio.gather(run(project.id, locks, sync), run(project.id, locks, sync))
    assert sorted(r.status for r in results) == ["locked", "ok"]
    assert sync.calls == [project.id]


async def test_redis_unreachable_runs_nothing_and_reports_it(db) -> None:
    project = await make_project()
    sync = RecordingSync()
    unreachable = RedisLocks(
        aioredis.from_url("redis://127.0.0.1:1", socket_connect_timeout=0.5), "tm:"
    )
    async with webhook() as hook:
        result = await run(project.id, unreachable, sync, notifier=Notifier(webhook_url=hook.url))
    await unreachable.close()
    assert result.status == "lock_error"
    assert "no sync runs without its lock" in result.detail
    assert sync.calls == []
    assert [m["title"] for m in hook.received] == ["scheduled plan sync not run"]
    assert f"project {project.id}" in hook.received[0]["text"]
    # Nothing was written without the lock.
    schedule = await schedule_of(project.id)
    assert (schedule.last_run_at, schedule.last_outcome) == (None, "")


async def test_a_lost_lock_cancels_the_sync(db, redis_url: str, redis_prefix: str) -> None:
    project = await make_project()
    client = aioredis.from_url(redis_url)
    locks = RedisLocks(client, redis_prefix)
    sync = RecordingSync(delay_s=5)
    job = asyncio.create_task(run(project.id, locks, sync, ttl_s=0.6, timeout_s=0.5))
    await asyncio.wait_for(sync.started.wait(), 5)
    # The lease vanishes (expired while the worker was paused; another took over).
    await client.delete(redis_prefix + lock_name(project.id))
    result = await asyncio.wait_for(job, 5)
    await locks.close()
    assert result.status == "failed"
    assert "lost the project's sync lock" in result.detail


async def test_a_sync_over_its_timeout_fails_and_notifies(db, locks: Locks) -> None:
    project = await make_project()
    async with webhook() as hook:
        result = await run(
            project.id, locks, RecordingSync(delay_s=5), timeout_s=0.2,
            notifier=Notifier(webhook_url=hook.url),
        )  # fmt: skip
    assert result.status == "failed"
    assert "took longer than 0.2 s" in result.detail
    schedule = await schedule_of(project.id)
    assert schedule.last_outcome == "failed" and "took longer" in schedule.last_error
    [history] = await scheduled_runs(project.id)
    assert history.status == "failed" and history.finished_at is not None
    assert [m["title"] for m in hook.received] == ["scheduled plan sync failed"]
    assert hook.received[0]["details"]["sync_run"] == history.id


async def test_a_failing_sync_is_recorded_and_waits_for_its_next_period(db, locks: Locks) -> None:
    project = await make_project()
    failing = RecordingSync(error=RuntimeError("Jet answered 500"))
    assert (await run(project.id, locks, failing)).status == "failed"
    schedule = await schedule_of(project.id)
    assert schedule.last_error == "RuntimeError: Jet answered 500"
    # No retry storm: a failed run is not due again before its interval.
    assert (await run(project.id, locks, failing, now=NOW + timedelta(minutes=1))).status == (
        "skipped"
    )
    assert failing.calls == [project.id]


async def test_a_run_left_unfinished_by_a_dead_worker_is_resumed(db, locks: Locks) -> None:
    # A worker claimed the run at NOW, wrote its "running" row, and was killed.
    project = await make_project(last_run_at=NOW)
    schedule = await schedule_of(project.id)
    schedule.last_outcome = "running"
    await schedule.save()
    dead = await SyncRun.create(project=project, source="jet", trigger="schedule")

    sync = RecordingSync()
    result = await run(project.id, locks, sync, now=NOW + timedelta(minutes=1))

    assert result.status == "ok" and "resumed an unfinished run" in result.detail
    assert sync.calls == [project.id]
    await dead.refresh_from_db()
    assert dead.status == "failed" and "abandoned" in dead.error


async def test_a_shutdown_mid_sync_records_an_interrupted_run_that_is_due_again(
    db, locks: Locks
) -> None:
    project = await make_project()
    sync = RecordingSync(delay_s=5)
    job = asyncio.create_task(run(project.id, locks, sync))
    await asyncio.wait_for(sync.started.wait(), 5)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    schedule = await schedule_of(project.id)
    assert schedule.last_outcome == "interrupted"
    assert [r.status for r in await scheduled_runs(project.id)] == ["failed"]
    # The lock was released on the way out, and the next message finishes the job.
    again = await run(project.id, locks, RecordingSync(), now=NOW + timedelta(seconds=30))
    assert again.status == "ok"


# --- the real plan sync against the fake Jet ---------------------------------------------


async def test_the_real_sync_brings_the_plan_from_jet(db, fake_jet, settings) -> None:
    from tests.fakes.jet import seed_realistic_plan

    seeded = seed_realistic_plan(fake_jet)
    project = await make_project(jet_id=seeded["project"]["id"])
    sync = jet_sync(settings.replace(jet_url=fake_jet.url))

    result = await run(project.id, MemoryLocks(), sync, timeout_s=20, ttl_s=30)

    assert result.status == "ok", result.detail
    [history] = await scheduled_runs(project.id)
    assert (history.id, history.status, history.source) == (result.run_id, "ok", "jet")
    assert history.started_by == "scheduler"
    assert await Story.filter(project_id=project.id).count() == 2


async def test_a_jet_failure_is_the_scheduled_runs_error(db, fake_jet, settings) -> None:
    from tests.fakes.jet import seed_realistic_plan

    seeded = seed_realistic_plan(fake_jet)
    project = await make_project(jet_id=seeded["project"]["id"])
    fake_jet.fail("enum_types", 503, times=None)

    sync = jet_sync(settings.replace(jet_url=fake_jet.url, jet_retries=0))
    result = await run(project.id, MemoryLocks(), sync)

    assert result.status == "failed"
    [history] = await scheduled_runs(project.id)
    assert history.status == "failed" and "503" in history.error
    assert (await schedule_of(project.id)).last_error == history.error
