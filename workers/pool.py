"""A bounded pool of async workers inside the web process.

A full queue refuses new work at once (`PoolBusy`, shown to clients as 429
with Retry-After) rather than queueing without bound or dropping jobs: work
that was accepted is always run. Each job runs under a timeout; a failing
job is logged and reported and never kills its worker. On shutdown the pool
stops taking work, lets queued and running jobs finish within a grace
period, then cancels the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from trackmaster.notify import Notifier

log = logging.getLogger(__name__)
T = TypeVar("T")


class PoolBusy(RuntimeError):
    """The queue is full; try again after `retry_after_s`."""

    def __init__(self, retry_after_s: int = 1) -> None:
        super().__init__("the worker pool is busy")
        self.retry_after_s = retry_after_s


class PoolClosed(RuntimeError):
    """The pool is shutting down and takes no new work."""


@dataclass
class _Job:
    name: str
    run: Callable[[], Awaitable[Any]]
    done: asyncio.Future[Any]
    queued_at: float = field(default_factory=time.monotonic)


@dataclass
class PoolStats:
    submitted: int = 0
    succeeded: int = 0
    failed: int = 0
    timed_out: int = 0
    refused: int = 0


class WorkerPool:
    def __init__(
        self,
        workers: int,
        queue_size: int,
        job_timeout_s: float,
        notifier: Notifier | None = None,
    ) -> None:
        self.workers = workers
        self.job_timeout_s = job_timeout_s
        self.notifier = notifier or Notifier()
        self.stats = PoolStats()
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(queue_size)
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    @property
    def running(self) -> bool:
        return bool(self._tasks) and not self._closing

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._work(), name=f"pool-worker-{n}") for n in range(self.workers)
        ]

    def submit(self, name: str, run: Callable[[], Awaitable[T]]) -> asyncio.Future[T]:
        """Queue `run`; the returned future gives its result. Raises PoolBusy when full."""
        if self._closing or not self._tasks:
            raise PoolClosed("the worker pool is not running")
        done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait(_Job(name, run, done))
        except asyncio.QueueFull:
            self.stats.refused += 1
            raise PoolBusy() from None
        self.stats.submitted += 1
        return done

    async def run(self, name: str, run: Callable[[], Awaitable[T]]) -> T:
        """Submit and wait for the result (raises the job's own exception)."""
        return await self.submit(name, run)

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await self._run_one(job)
            finally:
                self._queue.task_done()

    async def _run_one(self, job: _Job) -> None:
        try:
            result = await asyncio.wait_for(job.run(), timeout=self.job_timeout_s)
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
