"""Pull caught events from Jet for live Jet sessions (the original's way).

Each web process runs `run`: every POLL_INTERVAL_S it lists the live Jet
sessions and tries to take the lease `jet-pull:{session}` of each one it does
not pull yet. The holder keeps the lease extended and, every interval, reads
the filter's logs, stores them through the same ingest path as the push
endpoints (in the worker pool, one transaction), and only after the commit
clears them in Jet. A failed store clears nothing: the next round reads the
same logs again, and message ids (Jet's log ids) keep them from being stored
twice. When the session stops or the lease is lost, the puller ends; another
process takes over a dead holder's session after JET_LEASE_TTL_S.

Jet's contract clears every log of a filter at once: a log Jet receives
between our read and our clear is lost. The original had the same window;
reading again right before the clear would not close it either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from trackmaster.errors import AppError, InvalidParams
from trackmaster.locks import Lease, LockError, keep_extended
from trackmaster.models import SessionStatus, TestSession
from trackmaster.runtime import Runtime
from trackmaster.sessions.service import Realtime, realtime_for
from trackmaster.sources import CaughtEvent
from trackmaster.sources.jet import parse_jet_log
from workers.pool import PoolBusy, PoolClosed, WorkerPool
from workers.ticker import Ticker

log = logging.getLogger(__name__)


def lease_name(session_id: int) -> str:
    return f"jet-pull:{session_id}"


@dataclass
class PullStats:
    polls: int = 0
    stored: int = 0
    cleared: int = 0
    failures: int = 0
    bad_logs: int = 0


@dataclass
class JetPuller:
    realtime: Realtime
    runtime: Runtime
    pool: WorkerPool
    poll_interval_s: float
    lease_ttl_s: float
    stats: PullStats = field(default_factory=PullStats)
    _tasks: dict[int, asyncio.Task[None]] = field(default_factory=dict)

    @property
    def pulling(self) -> set[int]:
        return {sid for sid, task in self._tasks.items() if not task.done()}

    async def run_forever(self) -> None:
        ticker = Ticker(self.poll_interval_s)
        try:
            while True:
                await ticker.wait()
                try:
                    await self.claim()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("jet pull: cannot list or claim sessions")
        finally:
            await self.close()

    async def claim(self) -> None:
        """Start pulling every live Jet session whose lease this process can take."""
        if self.realtime.jet is None:
            return
        live = await TestSession.filter(
            status=SessionStatus.ON, source="jet", jet_filter_id__isnull=False
        ).values_list("id", "project_id", "jet_filter_id")
        for session_id, project_id, filter_id in live:
            if session_id in self.pulling:
                continue
            try:
                lease = await self.runtime.locks.acquire(lease_name(session_id), self.lease_ttl_s)
            except LockError as exc:
                log.warning("jet pull: %s", exc)
                return
            if lease is None:
                continue  # another process pulls this session
            self._tasks[session_id] = asyncio.create_task(
                self._pull(session_id, project_id, filter_id, lease),
                name=f"jet-pull-{session_id}",
            )

    async def _pull(self, session_id: int, project_id: int, filter_id: str, lease: Lease) -> None:
        keeper = asyncio.create_task(keep_extended(lease, self.lease_ttl_s / 3))
        try:
            assert self.realtime.jet is not None
            async with self.realtime.jet() as jet:
                # A fixed schedule: the period is the interval, not interval + work.
                ticker = Ticker(self.poll_interval_s)
                while not keeper.done():
                    await ticker.wait()
                    if keeper.done():
                        break
                    status = await TestSession.filter(id=session_id).values_list(
                        "status", flat=True
                    )
                    if not status or status[0] != SessionStatus.ON:
                        return
                    await self.pull_once(jet, session_id, project_id, filter_id)
                log.warning("jet pull: lost the lease of session %s; another process has it",
                            session_id)  # fmt: skip
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            with contextlib.suppress(LockError):
                await lease.release()

    async def pull_once(self, jet, session_id: int, project_id: int, filter_id: str) -> int:
        """Read, store, then clear one round of logs; returns how many logs were stored."""
        self.stats.polls += 1
        try:
            items = await jet.logs(filter_id)
        except AppError as exc:
            self.stats.failures += 1
            log.warning("jet pull: session %s: %s", session_id, exc.msg)
            return 0
        if not items:
            return 0
        events: list[CaughtEvent] = []
        bad: list[str] = []
        for n, item in enumerate(items):
            try:
                events.append(parse_jet_log(item))
            except InvalidParams as exc:
                bad.append(f"log {item.get('id', n) if isinstance(item, dict) else n}: {exc.msg}")
        try:
            report = await self.pool.run(
                f"jet-pull:{session_id}",
                lambda: self.realtime.ingestor.ingest(project_id, events),
            )
        except (PoolBusy, PoolClosed):
            return 0  # busy: Jet keeps the logs, the next round tries again
        except Exception as exc:
            # Nothing was stored, so nothing is cleared: the logs stay in Jet for the next round.
            self.stats.failures += 1
            log.warning("jet pull: session %s: storing failed, logs kept in Jet: %r",
                        session_id, exc)  # fmt: skip
            return 0
        self.stats.stored += report.stored
        try:
            await jet.clear_logs(filter_id)
            self.stats.cleared += len(items)
        except AppError as exc:
            # Stored but not cleared: the next read returns them and de-duplication skips them.
            self.stats.failures += 1
            log.warning("jet pull: session %s: clearing failed: %s", session_id, exc.msg)
        if bad:
            self.stats.bad_logs += len(bad)
            text = "; ".join(bad[:5])
            log.warning("jet pull: session %s: %d log(s) not readable: %s", session_id,
                        len(bad), text)  # fmt: skip
            await self.runtime.notifier.notify(
                f"Jet logs of session {session_id} not readable", text
            )
        return report.stored

    async def final_pull(self, session: TestSession) -> int:
        """One last read, store and clear of a Jet session that is about to stop.

        The session is still live, so what Jet holds is matched and stored as usual;
        a round this process's loop runs at the same time only adds duplicates,
        which de-duplication by Jet log id drops.
        """
        if self.realtime.jet is None or not session.jet_filter_id:
            return 0
        async with self.realtime.jet() as jet:
            return await self.pull_once(jet, session.id, session.project_id, session.jet_filter_id)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()


def puller_for(runtime: Runtime, pool: WorkerPool) -> JetPuller:
    settings = runtime.settings
    return JetPuller(
        realtime_for(runtime),
        runtime,
        pool,
        poll_interval_s=settings.poll_interval_s,
        lease_ttl_s=settings.jet_lease_ttl_s,
    )


async def run(runtime: Runtime, pool: WorkerPool) -> None:
    puller = puller_for(runtime, pool)
    runtime.components["jet_puller"] = puller  # seen by tests and /healthz
    puller.realtime.lifecycle.before_stop = puller.final_pull
    try:
        await puller.run_forever()
    finally:
        puller.realtime.lifecycle.before_stop = None
