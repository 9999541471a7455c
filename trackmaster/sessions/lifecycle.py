"""Start, update and stop test sessions; stop them by themselves at their time limit.

A session that pulls from Jet owns a Jet log filter: it is created and set
RECORDING before the session is stored (a Jet failure stores nothing), kept
in step with the session's accounts and events, and set STOPPED when the
session stops (before the last read of its logs, so that read misses
nothing). Stopping is a conditional UPDATE that changes one row, so of
two processes (a tester's click and the expiry loop) exactly one does it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, cast

from tortoise.transactions import in_transaction

from trackmaster import found
from trackmaster.auth import audit
from trackmaster.bus import Bus
from trackmaster.errors import BadRequest, field_error
from trackmaster.models import (
    Project,
    SessionAccount,
    SessionEvent,
    SessionStatus,
    TestSession,
)
from trackmaster.sessions.live import LiveIndex
from trackmaster.sessions.publish import bump_revisions, publish_safely
from trackmaster.sessions.selection import (
    ChosenAccount,
    ChosenEvent,
    resolve_accounts,
    resolve_events,
)

log = logging.getLogger(__name__)

# A stop waits at most this long for the last read of a Jet session's logs.
FINAL_PULL_TIMEOUT_S = 5.0

SOURCES = ("push", "jet")
FILTER_RECORDING = "RECORDING"
FILTER_STOPPED = "STOPPED"


class JetFilters(Protocol):
    async def create_filter(
        self, events: list[str], project_jet_id: str, user_ids: list[str]
    ) -> dict[str, Any]: ...
    async def change_filter(
        self, filter_id: str, status: str, events: list[str], user_ids: list[str]
    ) -> None: ...


JetFactory = Callable[[], AbstractAsyncContextManager[JetFilters]]
# One last read of a Jet session before it stops (the Jet puller's final_pull).
FinalRead = Callable[[TestSession, bool], Awaitable[Any]]


class Lifecycle:
    def __init__(
        self,
        index: LiveIndex,
        bus: Bus,
        *,
        limit_s: int,
        jet: JetFactory | None = None,
        notify: Callable[[str, str], Any] | None = None,
    ) -> None:
        self.index = index
        self.bus = bus
        self.limit_s = limit_s
        self.jet = jet
        self.notify = notify
        self._final_read: FinalRead | None = None

    @contextlib.contextmanager
    def reading_before_stop(self, read: FinalRead) -> Iterator[None]:
        """While the block runs, `read(session, filter_stopped)` does one last read of a
        Jet session's logs before it stops, so events sent just before Stop are still
        caught; `filter_stopped` says whether the filter was set STOPPED (then it may
        clear it). The web lifespan enters this with its Jet puller (web/app.py)."""
        self._final_read = read
        try:
            yield
        finally:
            self._final_read = None

    # --- start -------------------------------------------------------------------------

    async def start(
        self,
        project_id: Any,
        accounts: Any,
        events: Any = None,
        stories: Any = None,
        *,
        name: str = "",
        source: str | None = None,
        limit_s: Any = None,
        created_by: str = "",
        events_required: bool = True,
    ) -> TestSession:
        """Start a session; `events_required=False` lets it start watching no event yet
        (the original API allowed that; events are added with update)."""
        project = await self._project(project_id)
        chosen_accounts = await resolve_accounts(project.id, accounts)
        chosen_events = await resolve_events(project.id, events, stories, required=events_required)
        source = self._source(project, source)
        limit = self._limit(limit_s)
        filter_id = None
        if source == "jet":
            filter_id = await self._create_filter(project, chosen_accounts, chosen_events)
        now = datetime.now(UTC)
        try:
            async with in_transaction():
                session = await TestSession.create(
                    project_id=project.id,
                    name=str(name or "")[:200],
                    status=SessionStatus.ON,
                    source=source,
                    jet_filter_id=filter_id,
                    expires_at=now + timedelta(seconds=limit),
                    created_by=created_by[:150],
                )
                await self._write_accounts(session.id, chosen_accounts)
                await self._write_events(session.id, chosen_events)
                await audit.record(
                    created_by or None,
                    "session.start",
                    f"session:{session.id}",
                    project=project.id,
                    accounts=[a.user_id for a in chosen_accounts][:50],
                    events=[e.name for e in chosen_events][:50],
                )
        except BaseException:
            if filter_id:
                await self._set_filter(filter_id, FILTER_STOPPED, [], [])
            raise
        self.index.invalidate(project.id)
        await self._announce(session, "started")
        return session

    async def _project(self, project_id: Any) -> Project:
        if isinstance(project_id, bool) or not isinstance(project_id, int):
            raise field_error("project", f"must be a project id (a number), got {project_id!r}")
        project = await Project.get_or_none(id=project_id)
        if project is None:
            raise field_error("project", f"no project with id {project_id}")
        return project

    def _source(self, project: Project, source: str | None) -> str:
        if source is None:
            # The original pulled from Jet; keep doing so where Jet knows the project.
            return "jet" if (self.jet and project.jet_id) else "push"
        if source not in SOURCES:
            raise field_error("source", f"must be one of {', '.join(SOURCES)}, got {source!r}")
        if source == "jet" and not self.jet:
            raise field_error("source", "Jet is not configured (JET_URL); use source push")
        if source == "jet" and not project.jet_id:
            raise field_error("source", f"project {project.id} is not a Jet project")
        return source

    def _limit(self, limit_s: Any) -> float:
        if limit_s is None:
            return self.limit_s
        if isinstance(limit_s, bool) or not isinstance(limit_s, int | float) or limit_s <= 0:
            raise field_error("limitS", f"must be a positive number of seconds, got {limit_s!r}")
        if limit_s > self.limit_s:
            raise field_error("limitS", f"must be at most REALTIME_LIMIT ({self.limit_s} s)")
        return int(limit_s) if limit_s >= 1 else limit_s  # sub-second limits: tests, demos

    async def _create_filter(
        self, project: Project, accounts: list[ChosenAccount], events: list[ChosenEvent]
    ) -> str:
        assert self.jet is not None
        names = [e.name for e in events]
        users = [a.user_id for a in accounts]
        async with self.jet() as jet:
            created = await jet.create_filter(names, project.jet_id or "", users)
            filter_id = str(created["id"])
            await jet.change_filter(filter_id, FILTER_RECORDING, names, users)
        return filter_id

    @staticmethod
    async def _write_accounts(session_id: int, accounts: list[ChosenAccount]) -> None:
        await SessionAccount.bulk_create(
            [
                SessionAccount(session_id=session_id, account_id=a.account_id, user_id=a.user_id)
                for a in accounts
            ]
        )

    @staticmethod
    async def _write_events(session_id: int, events: list[ChosenEvent]) -> None:
        await SessionEvent.bulk_create(
            [SessionEvent(session_id=session_id, event_id=e.event_id, name=e.name) for e in events]
        )

    # --- update ------------------------------------------------------------------------

    async def update(
        self, session_id: Any, accounts: Any = None, events: Any = None, stories: Any = None
    ) -> TestSession:
        session = await found.get_session(session_id)
        if session.status != SessionStatus.ON:
            raise BadRequest(f"test session {session.id} is stopped; start a new one")
        if accounts is None and events is None and stories is None:
            raise field_error("accounts", "give accounts, events or stories to change")
        chosen_accounts = (
            await resolve_accounts(session.project_id, accounts) if accounts is not None else None
        )
        chosen_events = (
            await resolve_events(session.project_id, events, stories)
            if events is not None or stories is not None
            else None
        )
        if session.jet_filter_id:
            names, users = await self._watched(session.id)
            if chosen_accounts is not None:
                users = [a.user_id for a in chosen_accounts]
            if chosen_events is not None:
                names = [e.name for e in chosen_events]
            assert self.jet is not None
            async with self.jet() as jet:
                await jet.change_filter(
                    session.jet_filter_id, FILTER_RECORDING, list(names), list(users)
                )
        async with in_transaction() as conn:
            if chosen_accounts is not None:
                await SessionAccount.filter(session_id=session.id).delete()
                await self._write_accounts(session.id, chosen_accounts)
            if chosen_events is not None:
                await SessionEvent.filter(session_id=session.id).delete()
                await self._write_events(session.id, chosen_events)
            revisions = await bump_revisions(conn, [session.id])
            await audit.record(
                None,
                "session.update",
                f"session:{session.id}",
                accounts=[a.user_id for a in chosen_accounts][:50] if chosen_accounts else None,
                events=[e.name for e in chosen_events][:50] if chosen_events else None,
            )
        session.revision = revisions[session.id]
        self.index.invalidate(session.project_id)
        await self._announce(session, "updated")
        return session

    @staticmethod
    async def _watched(session_id: int) -> tuple[list[str], list[str]]:
        """The event names and user ids a session watches now (what its Jet filter holds)."""
        names = await SessionEvent.filter(session_id=session_id).values_list("name", flat=True)
        users = await SessionAccount.filter(session_id=session_id).values_list("user_id", flat=True)
        return sorted(cast(list[str], names)), sorted(cast(list[str], users))

    # --- stop --------------------------------------------------------------------------

    async def stop(self, session_id: Any, reason: str = "stopped", by: str = "") -> TestSession:
        """Stop a live session; stopping a stopped one answers it as it is."""
        session = await found.get_session(session_id)
        await self._stop(session, reason, by)
        return await TestSession.get(id=session.id)

    async def _stop(self, session: TestSession, reason: str, by: str = "") -> bool:
        filter_stopped = False
        if session.jet_filter_id and session.status == SessionStatus.ON:
            # STOPPED first: nothing reaches the filter after it, so the last read
            # below gets every log and its clear deletes none unread.
            names, users = await self._watched(session.id)
            filter_stopped = await self._set_filter(
                session.jet_filter_id, FILTER_STOPPED, names, users
            )
        read = self._final_read
        if read and session.jet_filter_id and session.status == SessionStatus.ON:
            try:
                await asyncio.wait_for(read(session, filter_stopped), timeout=FINAL_PULL_TIMEOUT_S)
            except Exception as exc:  # the stop itself must not depend on Jet
                log.warning("session %s: last Jet read before stop failed: %r", session.id, exc)
        now = datetime.now(UTC)
        async with in_transaction() as conn:
            changed = await TestSession.filter(id=session.id, status=SessionStatus.ON).update(
                status=SessionStatus.OFF, stopped_at=now, stop_reason=reason[:64]
            )
            if not changed:
                return False
            revisions = await bump_revisions(conn, [session.id])
            # by "" -> the request's user, or "system" for the expiry loop.
            await audit.record(by or None, "session.stop", f"session:{session.id}", reason=reason)
        session.status, session.stopped_at, session.stop_reason = SessionStatus.OFF, now, reason
        session.revision = revisions[session.id]
        self.index.invalidate(session.project_id)
        await self._announce(session, "stopped")
        return True

    async def expire_due(self, now: datetime | None = None) -> list[int]:
        """Stop every live session past its time limit; returns the ids this call stopped."""
        now = now or datetime.now(UTC)
        due = await TestSession.filter(status=SessionStatus.ON, expires_at__lte=now)
        stopped = []
        for session in due:
            if await self._stop(session, "time limit"):
                stopped.append(session.id)
        return stopped

    async def _set_filter(
        self, filter_id: str, status: str, events: list[str], user_ids: list[str]
    ) -> bool:
        """Best effort: the session's own state is what counts; a Jet failure is reported.

        Returns whether Jet took the change."""
        if not self.jet:
            return False
        try:
            async with self.jet() as jet:
                await jet.change_filter(filter_id, status, events, user_ids)
        except Exception as exc:
            log.warning("cannot set Jet filter %s %s: %s", filter_id, status, exc)
            if self.notify:
                await self.notify(f"Jet filter {filter_id} not set {status}", str(exc))
            return False
        return True

    async def _announce(self, session: TestSession, what: str) -> None:
        await publish_safely(
            self.bus,
            session.id,
            {
                "type": "status",
                "session": session.id,
                "revision": session.revision,
                "event": what,
                "status": str(session.status),
                "stop_reason": session.stop_reason,
            },
        )
