"""When is a schedule due? One pure rule, used by the producer's scan and under the lock.

The producer's answer is only a hint (it reads without the lock, and its message
may wait in Kafka for minutes): the consumer asks again, under the project's lock,
with a fresh row. That second answer is the one that counts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from trackmaster.models import Schedule
from trackmaster.models.ops import UNFINISHED_OUTCOMES


def utcnow() -> datetime:
    return datetime.now(UTC)


def is_due(schedule: Schedule, now: datetime) -> bool:
    """True when `schedule` is on and its interval has passed since the last run started.

    A run that never finished (its consumer was killed, or stopped on SIGTERM) is
    due at once: whoever holds the lock next finishes the job.
    """
    if not schedule.enabled:
        return False
    if schedule.last_run_at is None or schedule.last_outcome in UNFINISHED_OUTCOMES:
        return True
    return now >= schedule.last_run_at + timedelta(seconds=schedule.interval_s)


async def due_schedules(now: datetime, *, limit: int = 10_000) -> list[Schedule]:
    """The enabled schedules that look due at `now` (read without any lock)."""
    enabled = await Schedule.filter(enabled=True).order_by("last_run_at", "id").limit(limit)
    return [schedule for schedule in enabled if is_due(schedule, now)]
