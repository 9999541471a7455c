"""Reading plan files off the event loop, under a size and time budget.

Parsing is pure CPU: a 5 MB JSON plan (read twice, the second time by
pure-Python YAML for line numbers) froze every request of the process for
23 s, and a 1.3 KB YAML alias bomb for 6 s (issue 15). So a plan file is read
in a worker thread, one at a time per process (PLAN_PARSE_CONCURRENCY is 1:
imports are rare, and two would only share the same cores), with a deadline
(PLAN_PARSE_TIMEOUT_S) and a node budget counted after alias expansion
(PLAN_MAX_NODES), both enforced inside the parser (trackmaster/plan/files.py):
a thread cannot be stopped from outside.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from trackmaster.plan.files import ReadBudget, read_plan
from trackmaster.plan.snapshot import PlanSnapshot


@dataclass
class ReadingLimits:
    timeout_s: float = 20.0
    max_nodes: int = 2_000_000


limits = ReadingLimits()
_one_at_a_time: asyncio.Semaphore | None = None


def configure(timeout_s: float, max_nodes: int) -> None:
    """Take the limits from the settings (the web app does, at start)."""
    global limits
    limits = ReadingLimits(timeout_s, max_nodes)


async def read_plan_off_loop(
    content: bytes | str, filename: str, fmt: str | None = None
) -> PlanSnapshot:
    """`read_plan` in a thread, one at a time, within PLAN_PARSE_TIMEOUT_S and PLAN_MAX_NODES."""
    global _one_at_a_time
    if _one_at_a_time is None:
        _one_at_a_time = asyncio.Semaphore(1)
    async with _one_at_a_time:
        # The deadline starts when this file's turn comes, not while it waits for it.
        budget = ReadBudget(limits.max_nodes, time.monotonic() + limits.timeout_s)
        return await asyncio.to_thread(read_plan, content, filename, fmt, budget)
