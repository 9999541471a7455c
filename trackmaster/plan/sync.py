"""Plan sync: fetch the whole plan first, then apply it to the project in ONE transaction.

Fetching before writing means a Jet that fails halfway leaves nothing half
written: the project keeps its previous plan and the run is recorded as
failed with Jet's error. Applying is idempotent: a second sync of an
unchanged plan changes nothing and records "no change".

Every sync (Jet or file) is a `SyncRun` row with its diff or its error, and
an audit entry naming who started it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from tortoise.transactions import in_transaction

from trackmaster.auth import audit
from trackmaster.errors import InvalidParams, TooManyRequests
from trackmaster.models import Project, SyncRun
from trackmaster.plan import progress as live_progress
from trackmaster.plan.apply import Progress, apply_snapshot
from trackmaster.plan.changes import PlanChanges, tell
from trackmaster.plan.diff import ACTIONS, Diff, summarize
from trackmaster.plan.jet import JetClient, JetError
from trackmaster.plan.reading import read_plan_off_loop
from trackmaster.plan.snapshot import PlanSnapshot, snapshot_problems

log = logging.getLogger(__name__)

# One sync per project at a time in this process (the scheduled sync adds a Redis lock).
_running: dict[int, int] = {}

Fetch = Callable[[Progress], Awaitable[PlanSnapshot]]


async def fetch_jet_snapshot(
    jet: JetClient, project_jet_id: str, *, full: bool, progress: Progress | None = None
) -> PlanSnapshot:
    """Read the project's plan from Jet: enum types, the stories (all, or the N newest)."""
    report = progress or (lambda stage, done, total: None)
    enum_types = await jet.enum_types(project_jet_id)
    if full:
        summaries = await jet.all_story_summaries(project_jet_id)
    else:
        summaries = await jet.stories(project_jet_id, 1, jet.story_page_size)
    ids = list(dict.fromkeys(summary.id for summary in summaries))
    fetched = 0

    def one_more() -> None:
        nonlocal fetched
        fetched += 1
        report("fetching stories", fetched, len(ids))

    report("fetching stories", 0, len(ids))
    stories = await jet.story_details(ids, one_more)
    return PlanSnapshot(enum_types=enum_types, stories=stories, complete=full)


async def _audit(actor: str, action: str, target: str, details: dict[str, Any]) -> None:
    try:
        await audit.record(actor, action, target, **details)
    except Exception:  # the audit must never turn a done sync into a failed one
        log.exception("could not write the audit entry for %s %s", action, target)


async def run_sync(
    project: Project,
    fetch: Fetch,
    *,
    source: str,
    trigger: str,
    started_by: str = "",
    on_progress: Progress | None = None,
    changes: PlanChanges | None = None,
) -> SyncRun:
    """Record a run, fetch the snapshot, apply it in one transaction; never half-written.

    A failure (Jet, a bad plan, the database) is recorded on the run, which is
    returned with status "failed"; it is not raised. A run that changed the plan tells
    `changes` (the process's live caches) after its commit. A second sync of the same
    project while one runs in this process raises TooManyRequests (retry later).
    """
    if project.id in _running:
        raise TooManyRequests(
            f"project {project.name!r} is already syncing (run #{_running[project.id]}); "
            "wait for it to finish",
            retry_after_s=5,
        )
    # The request's user (set by the web layer), or "system" for the CLI and schedules.
    actor = started_by or audit.current_actor()
    run = await SyncRun.create(
        project=project, source=source, trigger=trigger, status="running", started_by=actor
    )
    _running[project.id] = run.id

    def progress(stage: str, done: int, total: int) -> None:
        live_progress.report(run.id, stage, done, total)
        if on_progress is not None:
            on_progress(stage, done, total)  # may raise to abort: the transaction rolls back

    try:
        snapshot = await fetch(progress)
        problems = snapshot_problems(snapshot)
        if problems:
            raise InvalidParams(
                f"the plan cannot be applied: {'; '.join(problems[:5])}", details=problems
            )
        async with in_transaction():
            diff: Diff = await apply_snapshot(project, snapshot, progress)
            run.status, run.diff = "ok", diff.as_dict()
            run.finished_at = datetime.now(UTC)
            await run.save(update_fields=["status", "diff", "finished_at"])
    except BaseException as exc:
        run.status = "failed"
        run.error = _describe(exc)
        run.finished_at = datetime.now(UTC)
        # Recording the failure must survive the cancellation that may have caused it.
        with contextlib.suppress(Exception):
            await asyncio.shield(run.save(update_fields=["status", "error", "finished_at"]))
        if not isinstance(exc, Exception):
            raise
        if not isinstance(exc, JetError | InvalidParams):
            log.exception("plan sync of project %s failed", project.id)
    finally:
        _running.pop(project.id, None)
        live_progress.forget(run.id)
    if run.status == "ok" and any(run.diff.get(action) for action in ACTIONS):
        tell(changes, project.id)
    await _audit(
        actor,
        f"plan.{source}",
        f"project:{project.id}",
        {"run": run.id, "status": run.status, "summary": summarize(run.diff), "error": run.error},
    )
    return run


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.CancelledError):
        return "the sync was cancelled (shutdown or timeout)"
    message = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
    return message if getattr(exc, "msg", None) else f"{type(exc).__name__}: {message}"


def running_run_id(project_id: int) -> int | None:
    return _running.get(project_id)


async def sync_project_from_jet(
    project: Project,
    jet: JetClient,
    *,
    trigger: str = "manual",
    started_by: str = "",
    full: bool | None = None,
    changes: PlanChanges | None = None,
) -> SyncRun:
    """Sync one project's plan from Jet (see the module doc); returns the recorded run."""
    if not project.jet_id:
        raise InvalidParams(
            f"project {project.name!r} was not made from Jet (it has no Jet id); "
            "import its plan from a file instead"
        )
    whole = jet.full_sync if full is None else full

    async def fetch(progress: Progress) -> PlanSnapshot:
        return await fetch_jet_snapshot(jet, project.jet_id or "", full=whole, progress=progress)

    return await run_sync(
        project, fetch, source="jet", trigger=trigger, started_by=started_by, changes=changes
    )


async def sync_projects_from_jet(jet: JetClient, *, started_by: str = "") -> dict[str, Any]:
    """Create the projects Jet has and TrackMaster lacks, rename changed ones; returns the diff.

    Projects that left Jet are kept: their test history stays readable.
    """
    found = await jet.projects()
    diff = Diff()
    async with in_transaction():
        existing = {p.jet_id: p for p in await Project.filter(jet_id__in=[p.id for p in found])}
        for jet_project in found:
            project = existing.get(jet_project.id)
            name = jet_project.local_name[:100]
            if project is None:
                await Project.create(jet_id=jet_project.id, name=name)
                diff.add("created", "project", name)
            elif project.name != name:
                diff.add("updated", "project", name, changes=["name"])
                project.name = name
                await project.save(update_fields=["name", "updated_at"])
    body = diff.as_dict()
    await _audit(
        started_by or audit.current_actor(), "plan.projects", "jet", {"summary": summarize(body)}
    )
    return body


async def import_snapshot(
    project: Project,
    snapshot: PlanSnapshot,
    *,
    trigger: str = "upload",
    started_by: str = "",
    changes: PlanChanges | None = None,
) -> SyncRun:
    """Apply a plan read from a file (already parsed and checked) as a recorded run."""

    async def fetch(progress: Progress) -> PlanSnapshot:
        return snapshot

    return await run_sync(
        project, fetch, source="file", trigger=trigger, started_by=started_by, changes=changes
    )


async def import_plan_file(
    project: Project,
    content: bytes,
    filename: str,
    *,
    fmt: str | None = None,
    trigger: str = "upload",
    started_by: str = "",
    changes: PlanChanges | None = None,
) -> SyncRun:
    """Read a plan file (raises PlanFileError naming each problem) and apply it as a run."""
    snapshot = await read_plan_off_loop(content, filename, fmt)
    return await import_snapshot(
        project, snapshot, trigger=trigger, started_by=started_by, changes=changes
    )
