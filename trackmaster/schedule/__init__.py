"""Scheduled plan sync: when a schedule is due, and how one due project is synced safely.

Transport-free: the Kafka producer and consumer (workers/) and the in-process
scheduler all call `run_scheduled_sync`; see docs/scheduled-sync.md.
"""

from trackmaster.schedule.due import due_schedules, is_due, utcnow
from trackmaster.schedule.jet_sync import jet_sync
from trackmaster.schedule.message import MalformedMessage, ScheduleMessage
from trackmaster.schedule.runner import JobResult, SyncFn, lock_name, run_scheduled_sync

__all__ = [
    "JobResult",
    "MalformedMessage",
    "ScheduleMessage",
    "SyncFn",
    "due_schedules",
    "is_due",
    "jet_sync",
    "lock_name",
    "run_scheduled_sync",
    "utcnow",
]
