"""A ticker on a fixed schedule: ticks fall at start + k * interval, whatever the work takes.

Sleeping `interval` after each round makes the period interval plus the work,
so a slow round delays every later one (at POLL_INTERVAL_S=2 the pull latency
was worse than the original's ticker). Here a tick that is late (the work ran
past it) fires at once, and ticks missed while the work ran are dropped, not
queued up: after a long round there is one immediate tick, then the grid again.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable


class Ticker:
    def __init__(
        self,
        interval_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.interval_s = interval_s
        self._clock = clock
        self._sleep = sleep
        self._next_s = clock()  # the first tick is now
        self.skipped = 0  # ticks dropped because the work ran past them

    async def wait(self) -> float:
        """Return at the next tick (at once if it is already due); returns the time it fired."""
        now = self._clock()
        due = self._next_s
        if now < due:
            await self._sleep(due - now)
            self._next_s = due + self.interval_s
            return self._clock()
        # Late: fire now, and put the next tick on the first grid point after now.
        missed = math.floor((now - due) / self.interval_s)
        self.skipped += missed
        self._next_s = due + (missed + 1) * self.interval_s
        return now
