"""Which live sessions catch an event: an in-memory index per project, refreshed often.

Matching runs for every caught event, so it must not query the database. Each
process keeps, per project, a snapshot of its live sessions (accounts, watched
events, the rules of those events, coverage so far). A snapshot is rebuilt
when this process starts, updates or stops a session of the project, when the
plan syncs (`invalidate`), and otherwise after `ttl_s`, so that changes made
by other web processes are seen within that delay. Between two rebuilds a
session another process stopped may still catch events for up to `ttl_s`.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from trackmaster.checks import Coverage, FieldRule
from trackmaster.models import (
    CellValue,
    CoverageValue,
    Project,
    SessionAccount,
    SessionEvent,
    SessionStatus,
    TestSession,
)
from trackmaster.sessions.cells import ValueTracker
from trackmaster.sessions.plans import EventPlan, load_event_plans

DEFAULT_TTL_S = 2.0


@dataclass(eq=False)
class LiveSession:
    id: int
    project_id: int
    expires_at: datetime
    user_ids: frozenset[str]
    event_ids: dict[str, int]  # watched event name -> event id
    rules: tuple[FieldRule, ...]  # every rule of every watched event (coverage)
    coverage: Coverage
    values: ValueTracker  # which distinct values each cell keeps (trackmaster/sessions/cells.py)


@dataclass(frozen=True, slots=True)
class Target:
    session: LiveSession
    plan: EventPlan


@dataclass
class ProjectSnapshot:
    project_id: int
    loaded_at: float
    sessions: list[LiveSession] = field(default_factory=list)
    by_user_event: dict[tuple[str, str], list[Target]] = field(default_factory=dict)

    def match(self, user_id: str, name: str, now: datetime) -> list[Target]:
        targets = self.by_user_event.get((user_id, name))
        if not targets:
            return []
        return [t for t in targets if t.session.expires_at > now]

    def why_unmatched(self, user_id: str, name: str, now: datetime) -> str:
        """The reason an event matched nothing, in words a tester understands."""
        live = [s for s in self.sessions if s.expires_at > now]
        if not live:
            return "no live session in this project"
        with_user = [s for s in live if user_id in s.user_ids]
        if not with_user:
            return f"user id {user_id!r} is not an account of a live session"
        return f"event {name!r} is not watched by the live sessions of user id {user_id!r}"


class LiveIndex:
    def __init__(self, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._snapshots: dict[int, ProjectSnapshot] = {}
        self._loading: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        # Coverage outlives snapshots: rebuilt from the database only for a
        # session seen for the first time or whose rules changed.
        self._coverage: dict[int, tuple[tuple[FieldRule, ...], Coverage]] = {}
        self._keys: dict[str, tuple[int | None, float]] = {}
        self._values: dict[int, ValueTracker] = {}

    def invalidate(self, project_id: int | None = None) -> None:
        """Forget a project's snapshot (or all): the next event reloads it."""
        if project_id is None:
            self._snapshots.clear()
        else:
            self._snapshots.pop(project_id, None)

    def forget_coverage(self, session_id: int) -> None:
        """Drop a session's coverage (a store failed after it was updated); reloaded next time."""
        self._coverage.pop(session_id, None)
        for snapshot in list(self._snapshots.values()):
            if any(s.id == session_id for s in snapshot.sessions):
                self.invalidate(snapshot.project_id)

    def forget_values(self, session_id: int) -> None:
        """A reset deleted some of a session's kept values: reload them with the next snapshot."""
        self._values.pop(session_id, None)
        for snapshot in list(self._snapshots.values()):
            if any(s.id == session_id for s in snapshot.sessions):
                self.invalidate(snapshot.project_id)

    async def snapshot(self, project_id: int) -> ProjectSnapshot:
        current = self._snapshots.get(project_id)
        if current and time.monotonic() - current.loaded_at < self.ttl_s:
            return current
        async with self._loading[project_id]:
            current = self._snapshots.get(project_id)
            if current and time.monotonic() - current.loaded_at < self.ttl_s:
                return current
            current = await self._load(project_id)
            self._snapshots[project_id] = current
            return current

    async def project_for_key(self, write_key: str) -> int | None:
        """The project id of a write key (cached for ttl_s, misses too)."""
        cached = self._keys.get(write_key)
        if cached and time.monotonic() - cached[1] < self.ttl_s:
            return cached[0]
        project_id = cast(
            list[int], await Project.filter(write_key=write_key).values_list("id", flat=True)
        )
        found = project_id[0] if project_id else None
        if len(self._keys) > 10_000:  # wrong keys must not grow memory without bound
            self._keys.clear()
        self._keys[write_key] = (found, time.monotonic())
        return found

    async def _load(self, project_id: int) -> ProjectSnapshot:
        loaded_at = time.monotonic()
        rows = await TestSession.filter(project_id=project_id, status=SessionStatus.ON).values_list(
            "id", "expires_at"
        )
        snapshot = ProjectSnapshot(project_id, loaded_at)
        if not rows:
            return snapshot
        ids = [session_id for session_id, _ in rows]
        users: dict[int, set[str]] = defaultdict(set)
        for session_id, user_id in await SessionAccount.filter(session_id__in=ids).values_list(
            "session_id", "user_id"
        ):
            users[session_id].add(user_id)
        events: dict[int, dict[str, int]] = defaultdict(dict)
        for session_id, event_id, name in await SessionEvent.filter(session_id__in=ids).values_list(
            "session_id", "event_id", "name"
        ):
            events[session_id][name] = event_id
        plans = await load_event_plans(e for by_name in events.values() for e in by_name.values())
        for session_id, expires_at in rows:
            watched = events[session_id]
            rules = tuple(rule for e in watched.values() for rule in plans[e].fields)
            live = LiveSession(
                session_id,
                project_id,
                expires_at,
                frozenset(users[session_id]),
                dict(watched),
                rules,
                await self._coverage_of(session_id, rules),
                await self._values_of(session_id),
            )
            snapshot.sessions.append(live)
            for user_id in live.user_ids:
                for name, event_id in watched.items():
                    snapshot.by_user_event.setdefault((user_id, name), []).append(
                        Target(live, plans[event_id])
                    )
        live_ids = set(ids)
        for session_id in [s for s in self._coverage if s not in live_ids]:
            # Sessions of this project that stopped; others' entries stay.
            if not any(session_id in {x.id for x in p.sessions} for p in self._snapshots.values()):
                self._coverage.pop(session_id, None)
        for session_id in [s for s in self._values if s not in live_ids]:
            if not any(session_id in {x.id for x in p.sessions} for p in self._snapshots.values()):
                self._values.pop(session_id, None)
        return snapshot

    async def _coverage_of(self, session_id: int, rules: tuple[FieldRule, ...]) -> Coverage:
        cached = self._coverage.get(session_id)
        if cached and cached[0] == rules:
            return cached[1]
        rows = await CoverageValue.filter(session_id=session_id).values_list(
            "field_id", "platform", "value"
        )
        coverage = Coverage.restore(rules, rows)
        self._coverage[session_id] = (rules, coverage)
        return coverage

    async def _values_of(self, session_id: int) -> ValueTracker:
        cached = self._values.get(session_id)
        if cached is not None:
            return cached
        rows = await CellValue.filter(session_id=session_id).values_list(
            "event_id", "field_id", "platform", "kind", "value", "digest"
        )
        tracker = self._values[session_id] = ValueTracker.restore(rows)
        return tracker
