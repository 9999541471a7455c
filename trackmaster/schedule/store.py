"""Reading and changing a project's schedule: on/off, interval, recent scheduled runs.

Shared by the JSON API and the project page, so both give the same answers and
the same errors. Every change is audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from trackmaster.auth import audit
from trackmaster.errors import BadRequest, field_error
from trackmaster.models import (
    MAX_SYNC_INTERVAL_S,
    MIN_SYNC_INTERVAL_S,
    Project,
    Schedule,
    SyncRun,
)

MIN_HOURS, MAX_HOURS = MIN_SYNC_INTERVAL_S // 3600, MAX_SYNC_INTERVAL_S // 3600


async def set_enabled(project: Project, enabled: bool, *, actor: str = "") -> Schedule:
    """Turn the schedule on or off (made on first use with the default interval)."""
    if enabled and not project.jet_id:
        raise BadRequest(
            f"project {project.name!r} has no Jet id: its plan comes from files, so there is "
            "nothing to sync on a schedule"
        )
    schedule, _ = await Schedule.get_or_create(project=project)
    if schedule.enabled != enabled:
        schedule.enabled = enabled
        await schedule.save(update_fields=["enabled", "updated_at"])
        await audit.record(
            actor or None, "schedule.on" if enabled else "schedule.off", f"project:{project.id}"
        )
    return schedule


def parse_hours(raw: Any) -> int:
    """An interval in whole hours within the allowed range, or a field error naming it."""
    try:
        hours = int(str(raw).strip())
    except ValueError:
        raise field_error("hours", f"must be a whole number of hours, got {raw!r}") from None
    if not MIN_HOURS <= hours <= MAX_HOURS:
        raise field_error("hours", f"must be between {MIN_HOURS} and {MAX_HOURS}, got {hours}")
    return hours


async def set_interval(project: Project, hours: int, *, actor: str = "") -> Schedule:
    schedule, _ = await Schedule.get_or_create(project=project)
    if schedule.interval_s != hours * 3600:
        schedule.interval_s = hours * 3600
        await schedule.save(update_fields=["interval_s", "updated_at"])
        await audit.record(actor or None, "schedule.interval", f"project:{project.id}", hours=hours)
    return schedule


async def recent_runs(project_id: int, limit: int = 10) -> list[SyncRun]:
    return await SyncRun.filter(project_id=project_id, trigger="schedule").limit(limit)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def schedule_json(project_id: int, schedule: Schedule | None) -> dict[str, Any]:
    """A schedule as the API shows it; a project that never had one is off by default."""
    if schedule is None:
        schedule = Schedule(project_id=project_id)
    return {
        "projectID": project_id,
        "enabled": schedule.enabled,
        "intervalS": schedule.interval_s,
        "intervalHours": schedule.interval_s / 3600,
        "lastRunAt": _iso(schedule.last_run_at),
        "lastOutcome": schedule.last_outcome,
        "lastError": schedule.last_error,
        "nextDueAt": _iso(schedule.next_due_at),
    }
