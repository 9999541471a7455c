"""The worker pool: bounded, timed, never drops accepted work, drains on shutdown."""

from __future__ import annotations

import asyncio

import pytest

from trackmaster.errors import PoolBusy, PoolClosed
from workers.pool import ClientGone, WorkerPool


async def test_jobs_run_and_return_their_results() -> None:
    pool = WorkerPool(workers=2, queue_size=10, job_timeout_s=5)
    pool.start()

    async def double(n: int) -> int:
        await asyncio.sleep(0)
        return 2 * n

    results = await asyncio.gather(*(pool.run(f"job{n}", lambda n=n: double(n)) for n in range(5)))
    assert results == [0, 2, 4, 6, 8]
    await pool.close(grace_s=1)
    assert pool.stats.succeeded == 5


async def test_a_full_queue_refuses_instead_of_dropping() -> None:
    pool = WorkerPool(workers=1, queue_size=1, job_timeout_s=5)
    pool.start()
    release = asyncio.Event()
    running = pool.submit("blocker", release.wait)
    await asyncio.sleep(0.01)  # the worker takes the blocker off the queue
    queued = pool.submit("queued", release.wait)
    with pytest.raises(PoolBusy):
        pool.submit("refused", release.wait)
    release.set()
    assert await running is True and await queued is True
    assert pool.stats.refused == 1
    await pool.close(grace_s=1)


async def test_a_slow_job_times_out_and_the_worker_goes_on() -> None:
    pool = WorkerPool(workers=1, queue_size=5, job_timeout_s=0.05)
    pool.start()
    with pytest.raises(TimeoutError, match="longer than"):
        await pool.run("slow", lambda: asyncio.sleep(1))
    assert await pool.run("fast", lambda: asyncio.sleep(0, result="ok")) == "ok"
    await pool.close(grace_s=1)


async def test_a_failing_job_does_not_kill_its_worker() -> None:
    pool = WorkerPool(workers=1, queue_size=5, job_timeout_s=1)
    pool.start()

    async def boom() -> None:
        raise ValueError("bad data")

    with pytest.raises(ValueError, match="bad data"):
        await pool.run("boom", boom)
    assert await pool.run("after", lambda: asyncio.sleep(0, result=1)) == 1
    await pool.close(grace_s=1)


async def test_shutdown_finishes_accepted_work_then_refuses_new() -> None:
    pool = WorkerPool(workers=1, queue_size=10, job_timeout_s=5)
    pool.start()
    done: list[int] = []

    async def work(n: int) -> None:
        await asyncio.sleep(0.01)
        done.append(n)

    futures = [pool.submit(f"w{n}", lambda n=n: work(n)) for n in range(5)]
    await pool.close(grace_s=5)
    assert done == [0, 1, 2, 3, 4]
    assert all(future.done() and future.exception() is None for future in futures)
    with pytest.raises(PoolClosed):
        pool.submit("late", lambda: work(9))


async def test_work_left_after_the_grace_period_is_failed_not_forgotten() -> None:
    pool = WorkerPool(workers=1, queue_size=10, job_timeout_s=30)
    pool.start()
    futures = [pool.submit(f"slow{n}", lambda: asyncio.sleep(10)) for n in range(3)]
    await pool.close(grace_s=0.05)
    assert all(future.done() for future in futures)
    assert all(isinstance(future.exception(), PoolClosed) for future in futures)


async def test_admission_is_by_expected_latency_not_queue_length() -> None:
    pool = WorkerPool(workers=2, queue_size=1000, job_timeout_s=5, budget_s=0.45)
    pool.start()
    release = asyncio.Event()
    pool.job_s = 0.2  # as measured: 0.2 s a job
    running = [pool.submit(f"r{n}", release.wait) for n in range(2)]
    await asyncio.sleep(0.01)
    # Both workers busy: a job waits behind them. Two queued fit in 0.45 s, a third does not.
    queued = [pool.submit(f"q{n}", release.wait) for n in range(2)]
    with pytest.raises(PoolBusy) as refused:
        pool.submit("over", release.wait)
    assert refused.value.retry_after_s >= 1 and pool.queued == 2  # far below the 1000 cap
    release.set()
    await asyncio.gather(*running, *queued)
    # However slow the last jobs were, a free worker always takes the next one.
    pool.job_s = 60.0
    assert await pool.run("free worker", lambda: asyncio.sleep(0, result="ran")) == "ran"
    await pool.close(grace_s=1)


async def test_a_job_whose_client_went_away_is_dropped_before_it_starts() -> None:
    pool = WorkerPool(workers=1, queue_size=10, job_timeout_s=5)
    pool.start()
    release = asyncio.Event()
    ran: list[str] = []
    blocker = pool.submit("blocker", release.wait)

    async def gone() -> bool:
        return True

    async def work() -> None:
        ran.append("work")

    dropped = pool.submit("abandoned", work, abandoned=gone)
    release.set()
    await blocker
    with pytest.raises(ClientGone):
        await dropped
    assert ran == [] and pool.stats.abandoned == 1
    await pool.close(grace_s=1)


async def test_a_request_being_read_holds_its_place_and_its_job_takes_it() -> None:
    pool = WorkerPool(workers=2, queue_size=1000, job_timeout_s=5, budget_s=0.45)
    pool.start()
    release = asyncio.Event()
    pool.job_s = 0.2
    running = [pool.submit(f"r{n}", release.wait) for n in range(2)]
    await asyncio.sleep(0.01)
    # Two requests admitted and still reading their bodies fill the budget: a third
    # arriving meanwhile is refused, though nothing is queued yet.
    places = [pool.reserve(), pool.reserve()]
    assert pool.queued == 0
    with pytest.raises(PoolBusy):
        pool.reserve()
    # Each admitted request's job takes its place: not refused by the budget it filled.
    queued = [pool.submit(f"q{n}", release.wait, reservation=p) for n, p in enumerate(places)]
    assert pool.queued == 2 and not any(p.held for p in places)
    with pytest.raises(PoolBusy):
        pool.submit("over", release.wait)
    release.set()
    await asyncio.gather(*running, *queued)
    # A request that gave its place back without a job (refused later, say) frees it.
    place = pool.reserve()
    place.release()
    place.release()  # twice is once
    assert pool.ahead() == 0
    await pool.close(grace_s=1)


def test_retry_after_spreads_refused_clients_over_the_time_the_pool_needs() -> None:
    import random

    from workers.retry_spread import MOST_RETRY_AFTER_S, RetrySpread

    now = [0.0]
    spread = RetrySpread(random.Random(7), clock=lambda: now[0])
    alone = spread.retry_after_s(1, capacity_per_s=20)
    assert alone == 1  # one refusal: the queue's own wait, nothing to spread
    # 600 clients refused within half a second by a pool that serves 20 jobs a second.
    delays = []
    for n in range(600):
        now[0] = n / 1200
        delays.append(spread.retry_after_s(1, capacity_per_s=20))
    late = delays[300:]
    assert len(set(late)) > 5  # jittered: not one wave
    assert max(late) > 5 * min(late)
    assert max(delays) <= MOST_RETRY_AFTER_S
    # The more demand per unit of capacity, the longer the delays.
    slow = RetrySpread(random.Random(7), clock=lambda: now[0])
    now[0] = 0.0
    slow_delays = []
    for n in range(600):
        now[0] = n / 1200
        slow_delays.append(slow.retry_after_s(1, capacity_per_s=5))
    assert sum(slow_delays) > sum(delays)


async def test_requests_whose_bodies_arrive_count_ahead_only_while_fresh() -> None:
    pool = WorkerPool(workers=1, queue_size=1000, job_timeout_s=5, budget_s=0.45)
    pool.start()
    pool.job_s = 0.1  # one job and three behind it fit in the budget
    burst = [pool.admit_in_flight() for _ in range(4)]
    assert pool.in_flight() == 4 and pool.queued == 0
    with pytest.raises(PoolBusy):
        pool.admit_in_flight()  # nothing is queued yet, but four bodies are arriving
    # A body that is in takes a place instead: not refused for the room it held itself.
    place = pool.reserve(burst[0])
    assert pool.in_flight() == 3 and pool.reserved == 1
    burst[1].settle()  # one ended without a body (a disconnect): it frees its room
    burst[1].settle()  # twice is once
    late = pool.admit_in_flight()
    # Bodies still arriving after in_flight_s count no more: a trickling socket holds nothing.
    pool.in_flight_s = 0.05
    await asyncio.sleep(0.1)
    assert pool.in_flight() == 0 and pool.ahead() == 1  # the held place only
    fresh = [pool.admit_in_flight() for _ in range(3)]  # admitted in the stale ones' room
    with pytest.raises(PoolBusy):
        pool.admit_in_flight()
    # A body that is in goes before the ones still arriving: the stale ones, their bodies
    # in at last, take places while the budget holds the work that will run.
    places = [place, pool.reserve(late), pool.reserve(burst[2]), pool.reserve(burst[3])]
    with pytest.raises(PoolBusy):
        pool.reserve(fresh[0])  # the budget is full of places now
    assert pool.in_flight() == 2
    for held in places:
        held.release()
    await pool.close(grace_s=1)
