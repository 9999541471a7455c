"""Read the plan for pages and the API: projects, stories with search and paging, a story whole."""

from __future__ import annotations

from typing import Any

from tortoise.functions import Count

from trackmaster.errors import NotFound
from trackmaster.found import get_project as get_project  # its callers import it from here
from trackmaster.models import Event, Field, Project, Story, SyncRun
from trackmaster.plan.diff import summarize


async def list_projects(
    offset: int, limit: int | None, name: str = ""
) -> tuple[list[Project], int]:
    """A page of projects by name (`limit` None: all of them, as the original listed them)."""
    query = Project.all()
    if name:
        query = query.filter(name__icontains=name)
    total = await query.count()
    ordered = query.order_by("name", "id").offset(offset)
    return await (ordered if limit is None else ordered.limit(limit)), total


async def story_counts(project_ids: list[int]) -> dict[int, int]:
    rows = (
        await Story.filter(project_id__in=project_ids, removed_at=None)
        .group_by("project_id")
        .annotate(n=Count("id"))
        .values("project_id", "n")
    )
    return {row["project_id"]: row["n"] for row in rows}


async def list_stories(
    project: Project, offset: int, limit: int, search: str = ""
) -> tuple[list[Story], int]:
    """Stories still in the plan, newest first; `search` matches a story, event or field name."""
    query = Story.filter(project=project, removed_at=None)
    if search:
        matching = await Event.filter(
            story__project_id=project.id, removed_at=None, name__icontains=search
        ).values_list("story_id", flat=True)
        with_field = await Field.filter(
            event__story__project_id=project.id, removed_at=None, key__icontains=search
        ).values_list("event__story_id", flat=True)
        ids = set(matching) | set(with_field)
        by_name = await query.filter(name__icontains=search).values_list("id", flat=True)
        query = Story.filter(id__in=list(ids | set(by_name)), removed_at=None)
    total = await query.count()
    stories = await query.order_by("-updated_at", "-id").offset(offset).limit(limit)
    return stories, total


async def event_counts(story_ids: list[int]) -> dict[int, int]:
    rows = (
        await Event.filter(story_id__in=story_ids, removed_at=None)
        .group_by("story_id")
        .annotate(n=Count("id"))
        .values("story_id", "n")
    )
    return {row["story_id"]: row["n"] for row in rows}


async def get_story(story_id: int, *, with_removed: bool = False) -> tuple[Story, list[Event]]:
    """A story with its events and their fields (removed ones only when asked)."""
    story = await Story.get_or_none(id=story_id).prefetch_related("project")
    if story is None:
        raise NotFound(f"no story with id {story_id}")
    events = Event.filter(story=story)
    if not with_removed:
        events = events.filter(removed_at=None)
    loaded = await events.order_by("id")
    fields = Field.filter(event_id__in=[event.id for event in loaded])
    if not with_removed:
        fields = fields.filter(removed_at=None)
    by_event: dict[int, list[Field]] = {}
    for field in await fields.order_by("id"):
        by_event.setdefault(field.event_id, []).append(field)
    for event in loaded:
        event.plan_fields = by_event.get(event.id, [])
    return story, loaded


async def sync_history(project: Project, limit: int = 20) -> list[SyncRun]:
    return await SyncRun.filter(project=project).order_by("-id").limit(limit)


def run_json(run: SyncRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "projectID": run.project_id,
        "source": run.source,
        "trigger": run.trigger,
        "status": run.status,
        "startedAt": run.started_at.isoformat() if run.started_at else None,
        "finishedAt": run.finished_at.isoformat() if run.finished_at else None,
        "startedBy": run.started_by,
        "summary": summarize(run.diff or {}),
        "diff": run.diff,
        "error": run.error,
    }
