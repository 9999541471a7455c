"""How far each running sync is, in this process, for the progress shown beside the sync button.

Progress is best-effort and local: another process (the scheduled-sync
consumer) reports none, and the page then shows only "running".
"""

from __future__ import annotations

import time
from typing import Any

_LIVE: dict[int, dict[str, Any]] = {}


def report(run_id: int, stage: str, done: int, total: int) -> None:
    _LIVE[run_id] = {"stage": stage, "done": done, "total": total, "at": time.monotonic()}


def of(run_id: int) -> dict[str, Any] | None:
    return _LIVE.get(run_id)


def forget(run_id: int) -> None:
    _LIVE.pop(run_id, None)
