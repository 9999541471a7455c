"""One object per process that ties the realtime parts together: index, ingest, lifecycle.

Made once by `Runtime.open` (trackmaster/runtime.py) as `runtime.realtime`; the web
app, the Jet pull loop and the expiry loop share it, so that a start or stop in this
process refreshes the live index the ingest path matches on.
"""

from __future__ import annotations

from typing import Any

from tortoise.functions import Count

from trackmaster.bus import Bus
from trackmaster.models import EventLog, SessionAccount, SessionEvent, TestSession, UnmatchedEvent
from trackmaster.notify import Notifier
from trackmaster.plan.changes import PlanChanges
from trackmaster.sessions.ingest import Ingestor
from trackmaster.sessions.lifecycle import JetFactory, Lifecycle
from trackmaster.sessions.live import LiveIndex
from trackmaster.settings import Settings


def default_jet_factory(settings: Settings) -> JetFactory | None:
    if not settings.jet_url:
        return None
    from trackmaster.plan.jet import JetClient

    return lambda: JetClient.from_settings(settings)


class Realtime:
    def __init__(
        self,
        settings: Settings,
        bus: Bus,
        notifier: Notifier,
        plan_changes: PlanChanges,
        jet: JetFactory | None = None,
    ) -> None:
        self.bus = bus
        self.index = LiveIndex()
        # A synced or imported plan reaches live sessions at once in this process.
        plan_changes.listen(self.index.invalidate)
        self.ingestor = Ingestor(self.index, bus, settings.unmatched_keep)
        self.jet = jet if jet is not None else default_jet_factory(settings)
        self.lifecycle = Lifecycle(
            self.index,
            bus,
            limit_s=settings.realtime_limit,
            jet=self.jet,
            notify=notifier.notify,
        )


async def list_sessions(
    project_id: int | None, status: str | None, offset: int, limit: int
) -> tuple[list[tuple[TestSession, dict[str, int]]], int]:
    """Sessions newest first, each with its numbers of accounts, events and logs."""
    query = TestSession.all()
    if project_id is not None:
        query = query.filter(project_id=project_id)
    if status is not None:
        query = query.filter(status=status)
    total = await query.count()
    sessions = await query.order_by("-id").offset(offset).limit(limit)
    counts = await session_counts([s.id for s in sessions])
    return [(s, counts[s.id]) for s in sessions], total


async def session_counts(ids: list[int]) -> dict[int, dict[str, int]]:
    """{session id: {"accounts", "events", "logs"}} in three grouped queries."""
    counts: dict[int, dict[str, int]] = {i: {"accounts": 0, "events": 0, "logs": 0} for i in ids}
    if not ids:
        return counts
    for name, model in (("accounts", SessionAccount), ("events", SessionEvent), ("logs", EventLog)):
        rows = (
            await model.filter(session_id__in=ids)
            .group_by("session_id")
            .annotate(n=Count("id"))
            .values_list("session_id", "n")
        )
        for session_id, n in rows:
            counts[session_id][name] = n
    return counts


async def list_unmatched(
    project_id: int, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    query = UnmatchedEvent.filter(project_id=project_id)
    total = await query.count()
    rows = (
        await query.order_by("-id")
        .offset(offset)
        .limit(limit)
        .values("id", "name", "user_id", "platform", "source", "reason", "received_at", "payload")
    )
    return [
        {
            "id": row["id"],
            "name": row["name"],
            "userId": row["user_id"],
            "platform": str(row["platform"]),
            "source": row["source"],
            "reason": row["reason"],
            "receivedAt": row["received_at"].isoformat(),
            "payload": row["payload"],
        }
        for row in rows
    ], total
