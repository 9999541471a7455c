"""Pull caught events from Jet for live Jet sessions.

Each web process runs `run`: on a fixed schedule (every POLL_INTERVAL_S) it
lists the live Jet sessions and tries to take the lease `jet-pull:{session}`
of each one it does not pull yet. The holder keeps the lease extended and,
on its own fixed schedule (a late tick fires at once, missed ones are
dropped), runs one round per tick:

1. read the filter's logs from Jet: everything it holds, since it is not
   cleared every round;
2. stage the logs not staged since the filter's last clear (their keys are
   kept in memory per filter): one INSERT of the raw items into
   `jet_staged_log` (trackmaster/sessions/jet_staging.py), idempotent by
   (session, Jet log id) as the backstop after a restart, which forgets the keys;
3. only when the read returned at least JET_CLEAR_AT_LOGS logs: read again
   while reads bring logs not staged yet (at most READS_PER_ROUND reads),
   stage those, clear the filter in Jet and forget its keys;
4. judge and store every staged log of the session through the one ingest
   path (in the worker pool), deleting the staged rows in the transaction
   that stores them.

Jet's clear deletes every log of a filter at once, so a log Jet receives
between our last read and our clear is deleted unread: the contract forces
that window. Clearing once per JET_CLEAR_AT_LOGS logs instead of once per
round opens it that much less often; a stop sets the filter STOPPED before
its last read and clear (trackmaster/sessions/lifecycle.py), so the stop's
clear loses nothing. Everything read is durable before any clear: a failed
store or a crash leaves the logs staged, and the next round (this
process's, or the process that takes the lease over after JET_LEASE_TTL_S)
judges them again; de-duplication by Jet log id keeps a log from being
stored twice. A failed staging write clears nothing: Jet keeps the logs for
the next round. An item Jet answers without a field it must have is
reported once (log, notifier, `bad_logs`) and counted toward the clear, so it
blocks neither its filter nor the clear. When the session stops or the lease
is lost, the puller ends.

Storing stays in the round, after the clear, rather than beside the next
reads: measured at 500 logs/s, running it beside them lost no fewer logs (its
CPU work and, on SQLite, its transaction then fall inside the next window).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

from trackmaster.db_outage import DatabaseUnavailable
from trackmaster.errors import AppError, PoolBusy, PoolClosed
from trackmaster.locks import Lease, LockError, keep_extended
from trackmaster.models import JetStagedLog, SessionStatus, TestSession
from trackmaster.plan.jet import JetLogs
from trackmaster.runtime import Runtime
from trackmaster.sessions import jet_staging
from trackmaster.sessions.ingest import IngestReport
from trackmaster.sessions.service import Realtime
from trackmaster.sources import CaughtEvent
from workers.pool import WorkerPool
from workers.ticker import Ticker

log = logging.getLogger(__name__)


# Most reads of one round before its clear: the first, then more while a read brings new
# logs. Every benchmark figure in the docs was taken with 4; a comparison of 1, 2 and 4 at
# 500 logs/s on the loaded machine put 1 last, 2 and 4 within its noise. Each read costs
# Jet a whole answer of the filter.
READS_PER_ROUND = 4


def lease_name(session_id: int) -> str:
    return f"jet-pull:{session_id}"


@dataclass
class PullStats:
    polls: int = 0
    rereads: int = 0  # reads before a clear that followed a staging write
    staged: int = 0
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
    clear_at_logs: int = 5000  # JET_CLEAR_AT_LOGS
    stats: PullStats = field(default_factory=PullStats)
    _tasks: dict[int, asyncio.Task[None]] = field(default_factory=dict)
    # Per Jet filter id: jet_staging.log_key of each log staged (or reported
    # unreadable) since the filter's last clear; a re-read skips them.
    _seen: dict[str, set[str]] = field(default_factory=dict)

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
                    await self.sweep_stopped()
                except asyncio.CancelledError:
                    raise
                except DatabaseUnavailable:
                    pass  # an outage, logged and notified once by trackmaster/db_outage.py
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
                    status = cast(
                        list[SessionStatus],
                        await TestSession.filter(id=session_id).values_list("status", flat=True),
                    )
                    if not status or status[0] != SessionStatus.ON:
                        return
                    await self.pull_once(jet, session_id, project_id, filter_id)
                log.warning("jet pull: lost the lease of session %s; another process has it",
                            session_id)  # fmt: skip
        finally:
            # Stopped, or another process pulls it now: this one's keys are of no use.
            self._seen.pop(filter_id, None)
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            with contextlib.suppress(LockError):
                await lease.release()

    async def pull_once(
        self,
        jet,
        session_id: int,
        project_id: int,
        filter_id: str,
        *,
        stopped: bool = False,
        final: bool = False,
    ) -> int:
        """Read, stage what is new, clear at the threshold, then judge and store; returns
        how many logs were stored. `stopped`: the filter is STOPPED (nothing can reach it
        any more), so clear after this one read whatever it holds."""
        self.stats.polls += 1
        try:
            read = await jet.logs(filter_id)
        except AppError as exc:
            self.stats.failures += 1
            log.warning("jet pull: session %s: %s", session_id, exc.msg)
            read = None
        if read:
            clear = stopped or len(read) >= self.clear_at_logs
            reads = 1 if stopped else READS_PER_ROUND
            await self._stage_and_clear(jet, session_id, filter_id, read, clear, reads)
        # Every staged log, not only this read's: what a failed store or a crash left too.
        # A stop's last read judges them even when the pool refuses: the session ends next.
        return await self.judge_staged(session_id, project_id, inline=final)

    async def _stage_and_clear(
        self, jet, session_id: int, filter_id: str, read: JetLogs, clear: bool, max_reads: int
    ) -> None:
        """Stage what the read brought that is new; when clearing, read again first.

        Below the threshold nothing is cleared, so nothing can be lost: the
        next read returns these logs again and they are skipped. Before a
        clear, Jet deletes whatever reached it after our last read; the first
        staging write is the longest, so instead of clearing after it, read
        again while reads bring new logs (few rows to stage each): the clear
        then follows a read whose answer was staged at once.
        """
        now = datetime.now(UTC)  # one staged_at per round: judged as one batch
        for reads in range(1, max_reads + 1):
            if reads > 1:
                try:
                    read = await jet.logs(filter_id)
                except AppError as exc:
                    # Everything read is staged; Jet keeps the rest for the next round.
                    self.stats.failures += 1
                    log.warning("jet pull: session %s: %s", session_id, exc.msg)
                    return
                self.stats.rereads += 1
            new = await self._stage_new(session_id, filter_id, read, now)
            if new is None or not clear:
                return  # a failed staging write: not durable, so Jet must keep them
            if new == 0:
                break  # all this read returned is staged: clear right after it
        try:
            await jet.clear_logs(filter_id)
        except AppError as exc:
            # Not cleared: the next read returns them again, and their keys skip them.
            self.stats.failures += 1
            log.warning("jet pull: session %s: clearing failed: %s", session_id, exc.msg)
            return
        self.stats.cleared += len(self._seen.pop(filter_id, ()))

    async def _stage_new(
        self, session_id: int, filter_id: str, read: JetLogs, now: datetime
    ) -> int | None:
        """Stage the read's logs not staged since the last clear; how many were new,
        or None when the staging write failed."""
        seen = self._seen.setdefault(filter_id, set())
        fresh = [item for item in read.items if jet_staging.log_key(item) not in seen]
        bad = [b for b in read.bad if jet_staging.log_key(b.item) not in seen]
        if fresh:
            try:
                await jet_staging.stage(session_id, fresh, now)
            except Exception as exc:
                self.stats.failures += 1
                log.warning("jet pull: session %s: staging failed, logs kept in Jet: %r",
                            session_id, exc)  # fmt: skip
                return None
            self.stats.staged += len(fresh)
            seen.update(jet_staging.log_key(item) for item in fresh)
        if bad:
            # Reported once: their keys keep the re-reads until the clear from repeating it.
            seen.update(jet_staging.log_key(b.item) for b in bad)
            await self._report_unreadable(
                session_id, [f"log {_bad_id(b.item)}: {b.why}" for b in bad]
            )
        return len(fresh) + len(bad)

    async def judge_staged(self, session_id: int, project_id: int, *, inline: bool = False) -> int:
        """Judge and store a session's staged logs in the worker pool; returns how many stored.

        A failure leaves them staged for the next round; nothing is lost and Jet is
        not involved any more.
        """

        def ingest(events: list[CaughtEvent], received_at, also) -> Awaitable[IngestReport]:
            return self.realtime.ingestor.ingest(
                project_id, events, received_at=received_at, also_in_transaction=also
            )

        try:
            try:
                report = await self.pool.run(
                    f"jet-pull:{session_id}", lambda: jet_staging.judge(session_id, ingest)
                )
            except (PoolBusy, PoolClosed):
                if not inline:
                    return 0  # busy: the logs stay staged, the next round tries again
                report = await jet_staging.judge(session_id, ingest)
        except Exception as exc:
            self.stats.failures += 1
            log.warning("jet pull: session %s: storing failed, logs kept staged: %r",
                        session_id, exc)  # fmt: skip
            return 0
        self.stats.stored += report.stored
        if report.unreadable:
            await self._report_unreadable(session_id, report.unreadable)
        return report.stored

    async def _report_unreadable(self, session_id: int, reasons: list[str]) -> None:
        """Logs TrackMaster cannot judge: counted, logged and told, never passed silently."""
        self.stats.bad_logs += len(reasons)
        text = "; ".join(reasons[:5])
        log.warning("jet pull: session %s: %d log(s) not readable: %s", session_id,
                    len(reasons), text)  # fmt: skip
        await self.runtime.notifier.notify(f"Jet logs of session {session_id} not readable", text)

    async def sweep_stopped(self) -> int:
        """Judge what is still staged for sessions that stopped (a crash, a failed last store).

        Their logs were read while the session was live; the ingest path matches
        them as any late event (the unmatched list, with its reason, when no live
        session watches them), and the notifier is told.
        """
        total = 0
        for session_id, project_id in await jet_staging.staged_sessions_not_live():
            count = await JetStagedLog.filter(session_id=session_id).count()
            stored = await self.judge_staged(session_id, project_id)
            left = await JetStagedLog.filter(session_id=session_id).count()
            total += stored
            if left < count:
                await self.runtime.notifier.notify(
                    f"Jet logs of session {session_id} judged after it stopped",
                    f"{count - left} log(s) read from Jet while the session was live were "
                    f"judged only after it stopped (a crash or a failed store); {stored} "
                    "matched a live session, the others are in the project's unmatched list.",
                )
        return total

    async def final_pull(self, session: TestSession, filter_stopped: bool = True) -> int:
        """One last read, stage, clear and store of a Jet session that is about to stop.

        The lifecycle has set the filter STOPPED just before, so nothing reaches
        Jet after this read and its clear deletes nothing unread. If setting
        STOPPED failed, Jet may still be adding logs: no clear then (Jet keeps
        them; nothing is deleted unread). The session is still live, so what
        Jet holds (and what is still staged) is matched and stored as usual. A
        round of a loop that runs at the same time stages nothing twice (same
        Jet ids), and of two judges of the same staged rows only one stores
        them (jet_staging.judge).
        """
        if self.realtime.jet is None or not session.jet_filter_id:
            return 0
        async with self.realtime.jet() as jet:
            return await self.pull_once(
                jet,
                session.id,
                session.project_id,
                session.jet_filter_id,
                stopped=filter_stopped,
                final=True,
            )

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()


def _bad_id(item: object) -> object:
    log_id = item.get("id") if isinstance(item, dict) else None
    return log_id if log_id not in (None, "") else "(no id)"


def puller_for(runtime: Runtime, pool: WorkerPool) -> JetPuller:
    """The process's puller; the web lifespan (web/app.py) runs it and lets the session
    lifecycle call its `final_pull` before each Jet session stops."""
    settings = runtime.settings
    return JetPuller(
        runtime.realtime,
        runtime,
        pool,
        poll_interval_s=settings.poll_interval_s,
        lease_ttl_s=settings.jet_lease_ttl_s,
        clear_at_logs=settings.jet_clear_at_logs,
    )
