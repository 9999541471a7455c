"""A bounded pool of async workers inside the web process.

Admission is by latency, not queue length: with a `budget_s`, a job is
admitted only while the queue ahead of it can be finished within that budget,
judged from the measured time per job (a moving average). Otherwise it is
refused at once (`trackmaster.errors.PoolBusy`, shown to clients as 429 with Retry-After), so
that an overloaded process answers "later" within milliseconds instead of
queueing work its clients will have given up on before it starts. The queue
length (`queue_size`) stays as a hard cap. Work that was accepted is run,
unless the client that asked for it has gone away before it started (its
`abandoned` check says so): then it is dropped, since nobody waits for the
answer and the client will send it again.

Each job runs under a timeout; a failing job is logged and reported and never
kills its worker, except a database outage, which trackmaster/db_outage.py
reports once. On shutdown the pool stops taking work, lets queued and running
jobs finish within a grace period, then cancels the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from trackmaster.db_outage import DatabaseUnavailable
from trackmaster.errors import PoolBusy, PoolClosed
from trackmaster.notify import Notifier
from workers.retry_spread import RetrySpread

log = logging.getLogger(__name__)
T = TypeVar("T")


class ClientGone(RuntimeError):
    """The client of a queued job went away before it started; the job was not run."""


# Until jobs have been timed, assume this many seconds each (a batch of 100 events on
# MariaDB takes 20-40 ms): an optimistic first guess that the first answers correct.
INITIAL_JOB_S = 0.05
# Weight of the newest job in the moving average of job times.
JOB_TIME_WEIGHT = 0.1
# How long a request admitted with its headers counts ahead of later ones while its body
# arrives. 600 requests arriving at once were all admitted (nothing was ahead yet) and most
# refused only after their bodies had been read, seconds late; counted, those beyond the
# budget are refused at their headers. Only for this long: a body still arriving after it
# (a slow link, or a socket trickling on purpose) counts no more, so trickling sockets
# cannot refuse honest batches. A loopback or LAN body arrives in milliseconds.
IN_FLIGHT_S = 0.5


@dataclass
class _Job:
    name: str
    run: Callable[[], Awaitable[Any]]
    done: asyncio.Future[Any]
    abandoned: Callable[[], Awaitable[bool]] | None = None
    queued_at: float = field(default_factory=time.monotonic)


@dataclass
class PoolStats:
    submitted: int = 0
    succeeded: int = 0
    failed: int = 0
    timed_out: int = 0
    refused: int = 0  # refused by the latency budget or the queue cap
    abandoned: int = 0  # dropped before they started: their client had gone


class InFlight:
    """A request admitted with its headers whose body is still arriving (see IN_FLIGHT_S)."""

    def __init__(self, pool: WorkerPool) -> None:
        self._pool = pool

    def settle(self) -> None:
        """Its body is in (it takes a Reservation) or it ended: it counts no more."""
        self._pool._in_flight.pop(self, None)


class Reservation:
    """A place in the pool held for a request from its admission until its job is queued.

    Admission is asked before the body is read; the job is queued only after the
    body was read and parsed. Without a place held, every request arriving in that
    gap saw the same free pool and was admitted, and most were then refused at
    submit time, after their bodies had been read and parsed, seconds late.
    """

    def __init__(self, pool: WorkerPool) -> None:
        self._pool = pool
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self._pool._reserved -= 1


class WorkerPool:
    def __init__(
        self,
        workers: int,
        queue_size: int,
        job_timeout_s: float,
        notifier: Notifier | None = None,
        budget_s: float | None = None,
    ) -> None:
        self.workers = workers
        self.job_timeout_s = job_timeout_s
        self.budget_s = budget_s
        self.job_s = INITIAL_JOB_S  # moving average of the time one job takes
        self._running = 0
        self._reserved = 0  # places held by admitted requests whose job is not queued yet
        self.in_flight_s = IN_FLIGHT_S
        # Requests admitted with their headers, bodies still arriving: when each was admitted,
        # oldest first (a dict keeps insertion order).
        self._in_flight: dict[InFlight, float] = {}
        self.spread = RetrySpread()
        self.notifier = notifier or Notifier()
        self.stats = PoolStats()
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(queue_size)
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    @property
    def reserved(self) -> int:
        return self._reserved

    @property
    def running(self) -> bool:
        return bool(self._tasks) and not self._closing

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._work(), name=f"pool-worker-{n}") for n in range(self.workers)
        ]

    def expected_wait_s(self, ahead: int | None = None) -> float:
        """How long a job submitted now would take to finish, from the measured job time.

        `ahead` is the work counted before it (default: `ahead()`). With a worker free
        it starts at once: one job's time, however slow the last ones were (an estimate
        that only jobs can lower must not refuse every job).
        """
        ahead = self.ahead() if ahead is None else ahead
        if ahead < self.workers:
            return self.job_s
        return ((ahead - self.workers + 1) / self.workers + 1) * self.job_s

    def ahead(self) -> int:
        """Jobs running, queued, held places, and requests whose bodies are arriving now."""
        return self._committed() + self.in_flight()

    def _committed(self) -> int:
        """Jobs running, queued, and held places: work that will run."""
        return self._queue.qsize() + self._running + self._reserved

    def in_flight(self) -> int:
        """Requests admitted with their headers within `in_flight_s` whose bodies are not in."""
        cutoff = time.monotonic() - self.in_flight_s
        pending = self._in_flight
        while pending:
            oldest = next(iter(pending))
            if pending[oldest] > cutoff:
                break
            del pending[oldest]  # too slow to count; its body, when in, still takes a place
        return len(pending)

    def admit(self, *, count_in_flight: bool = True) -> None:
        """Raise PoolBusy when a new job could not finish within the budget (or is over the cap).

        Cheap: callers use it before reading and parsing a request, so that refusing
        under overload costs almost nothing. `count_in_flight=False` counts only the
        work that will run (see `reserve`).
        """
        if self._closing or not self._tasks:
            raise PoolClosed("the worker pool is not running")
        ahead = self.ahead() if count_in_flight else self._committed()
        if self._queue.full():
            raise self._refusal(self.expected_wait_s(ahead))
        if self.budget_s is not None and ahead >= self.workers:
            wait_s = self.expected_wait_s(ahead)
            if wait_s > self.budget_s:
                raise self._refusal(wait_s - self.budget_s)

    def admit_in_flight(self) -> InFlight:
        """Admit a request at its headers (or raise PoolBusy); it counts ahead while fresh."""
        self.admit()
        admitted = InFlight(self)
        self._in_flight[admitted] = time.monotonic()
        return admitted

    def reserve(self, in_flight: InFlight | None = None) -> Reservation:
        """Admit (or raise PoolBusy) and hold a place until `submit(..., reservation=)`.

        `in_flight`, the same request admitted at its headers, stops counting first: its
        place replaces it. Requests whose bodies are still arriving do not count here: a
        body that is in goes before them. Counted, a loop too starved to read bodies
        within `in_flight_s` refused everyone: each admitted request went stale before
        its body was read, later ones were admitted at their headers in its room, and at
        its last chunk it was refused for theirs (every request of a 600-request burst
        refused, in one bench run at load 7).
        """
        if in_flight is not None:
            in_flight.settle()
        self.admit(count_in_flight=in_flight is None)
        self._reserved += 1
        return Reservation(self)

    def _refusal(self, until_s: float) -> PoolBusy:
        """A refusal whose Retry-After spreads the refused clients' retries (retry_spread.py)."""
        self.stats.refused += 1
        capacity_per_s = self.workers / max(self.job_s, 0.001)
        return PoolBusy(self.spread.retry_after_s(math.ceil(until_s), capacity_per_s))

    def submit(
        self,
        name: str,
        run: Callable[[], Awaitable[T]],
        abandoned: Callable[[], Awaitable[bool]] | None = None,
        reservation: Reservation | None = None,
    ) -> asyncio.Future[T]:
        """Queue `run`; the returned future gives its result. Raises PoolBusy when over budget.

        `abandoned`, when given, is asked just before the job starts: True drops it
        (the future fails with ClientGone). A held `reservation` was admitted already:
        its place becomes the job's (only the queue's hard cap can refuse it now).
        """
        if reservation is not None and reservation.held:
            reservation.release()
            if self._closing or not self._tasks:
                raise PoolClosed("the worker pool is not running")
        else:
            self.admit()
        done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait(_Job(name, run, done, abandoned))
        except asyncio.QueueFull:
            raise self._refusal(self.expected_wait_s()) from None
        self.stats.submitted += 1
        return done

    async def run(
        self,
        name: str,
        run: Callable[[], Awaitable[T]],
        abandoned: Callable[[], Awaitable[bool]] | None = None,
        reservation: Reservation | None = None,
    ) -> T:
        """Submit and wait for the result (raises the job's own exception)."""
        return await self.submit(name, run, abandoned, reservation)

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            self._running += 1
            started = time.monotonic()
            try:
                if await self._gone(job):
                    continue
                await self._run_one(job)
                took_s = time.monotonic() - started
                self.job_s += JOB_TIME_WEIGHT * (took_s - self.job_s)
            finally:
                self._running -= 1
                self._queue.task_done()

    async def _gone(self, job: _Job) -> bool:
        """Whether nobody waits for `job` any more: then it is dropped unrun."""
        if job.done.done():  # the waiting request was cancelled
            self.stats.abandoned += 1
            return True
        if job.abandoned is None:
            return False
        try:
            gone = await job.abandoned()
        except Exception:
            gone = False
        if gone:
            self.stats.abandoned += 1
            self._finish(job, error=ClientGone(f"job {job.name}: the client went away"))
        return gone

    async def _run_one(self, job: _Job) -> None:
        try:
            result = await asyncio.wait_for(job.run(), timeout=self.job_timeout_s)
        except DatabaseUnavailable as exc:
            # One outage, many jobs: trackmaster/db_outage.py logs and notifies it once.
            self.stats.failed += 1
            self._finish(job, error=exc)
        except TimeoutError:
            self.stats.timed_out += 1
            error = TimeoutError(f"job {job.name} took longer than {self.job_timeout_s:g} s")
            log.error("pool: %s", error)
            self._finish(job, error=error)
            await self.notifier.notify("job timed out", str(error))
        except asyncio.CancelledError:
            self._finish(job, error=PoolClosed(f"job {job.name} was cancelled at shutdown"))
            raise
        except Exception as exc:
            self.stats.failed += 1
            log.exception("pool: job %s failed", job.name)
            self._finish(job, error=exc)
            await self.notifier.notify("job failed", f"{job.name}: {exc!r}")
        else:
            self.stats.succeeded += 1
            self._finish(job, result=result)

    @staticmethod
    def _finish(job: _Job, *, result: Any = None, error: BaseException | None = None) -> None:
        if job.done.done():
            return
        if error is not None:
            job.done.set_exception(error)
        else:
            job.done.set_result(result)

    async def close(self, grace_s: float) -> None:
        """Stop taking work; finish what was accepted within `grace_s`, then cancel the rest."""
        self._closing = True
        if not self._tasks:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout=grace_s)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # Jobs still queued after the grace period are failed, not silently forgotten.
        while not self._queue.empty():
            job = self._queue.get_nowait()
            self._finish(job, error=PoolClosed(f"job {job.name} was not run: shutting down"))
        self._tasks = []
