"""The sync a schedule runs by default: the project's plan from Jet (JET_URL)."""

from __future__ import annotations

from trackmaster.models import Project, SyncRun
from trackmaster.plan.changes import PlanChanges
from trackmaster.schedule.runner import SyncFn
from trackmaster.settings import Settings

SCHEDULER_ACTOR = "scheduler"


def jet_sync(settings: Settings, changes: PlanChanges | None = None) -> SyncFn:
    """A `sync(project_id)` that builds a Jet client from settings and records a SyncRun;
    a changed plan is told to `changes` (the process's live caches)."""

    async def sync(project_id: int) -> SyncRun:
        # Imported here: the plan package is large and only this path needs it.
        from trackmaster.plan.jet import JetClient
        from trackmaster.plan.sync import sync_project_from_jet

        project = await Project.get(id=project_id)
        async with JetClient.from_settings(settings) as jet:
            return await sync_project_from_jet(
                project,
                jet,
                trigger="schedule",
                started_by=SCHEDULER_ACTOR,
                changes=changes,
            )

    return sync
