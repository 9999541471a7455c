"""How late this process's event loop runs: a starved loop is load, not a dependency failing.

Under overload (600 senders on a process that gets a fraction of a core) the
event loop ran seconds behind: a database answer that had arrived in
milliseconds was read only when the loop came round to it, and the call's
DB_TIMEOUT_S deadline expired meanwhile and was counted as a database outage
(bench/README.md). So the loop measures itself: a callback due every
`INTERVAL_S` notes how late it ran, and the sum of that lateness is the time
the loop could not run anything on time. A deadline (trackmaster/db_mysql.py)
compares it with its own wall time: what the loop lost is not time the
database failed to answer in.

A chain of call_at callbacks, not a task: nothing to cancel when a loop ends, so
any code may start it (`of_running_loop()`); each loop has its own (tests run several).
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

INTERVAL_S = 0.05
# Lateness buckets of /healthz's histogram, in milliseconds (the last one is open-ended).
BUCKETS_MS = (10, 50, 100, 250, 500, 1000, 2500)
# Weight of the newest tick in the moving average of lateness.
RECENT_WEIGHT = 0.2


class LoopLag:
    """One event loop's lateness; `of_running_loop()` gives the running loop's."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Weak: this object lives in a dict keyed weakly by its loop, which it must not keep.
        self._loop = weakref.ref(loop)
        self.stalled_s = 0.0  # lateness summed over every tick since the first
        self.recent_s = 0.0  # moving average of lateness per tick
        self.worst_s = 0.0
        self.ticks = 0
        self.histogram = [0] * (len(BUCKETS_MS) + 1)
        self._due = loop.time() + INTERVAL_S
        loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        loop = self._loop()
        if loop is None:
            return
        now = loop.time()
        late_s = max(0.0, now - self._due)
        self.stalled_s += late_s
        self.recent_s += RECENT_WEIGHT * (late_s - self.recent_s)
        self.worst_s = max(self.worst_s, late_s)
        self.ticks += 1
        late_ms = late_s * 1000
        self.histogram[sum(1 for edge in BUCKETS_MS if late_ms >= edge)] += 1
        self._due = now + INTERVAL_S
        loop.call_at(self._due, self._tick)

    def stalled_now(self) -> float:
        """Seconds the loop has been late so far, the lateness of the tick now overdue included."""
        loop = self._loop()
        if loop is None:
            return self.stalled_s
        return self.stalled_s + max(0.0, loop.time() - self._due)

    def state(self) -> dict[str, Any]:
        labels = [f"<{edge}ms" for edge in BUCKETS_MS] + [f">={BUCKETS_MS[-1]}ms"]
        return {
            "lag_ms": round(self.recent_s * 1000, 1),
            "worst_ms": round(self.worst_s * 1000, 1),
            "stalled_s": round(self.stalled_s, 2),
            "ticks": self.ticks,
            "histogram": dict(zip(labels, self.histogram, strict=True)),
        }


# One per loop (tests and the live_server fixture run several); gone with its loop.
_BY_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopLag] = (
    weakref.WeakKeyDictionary()
)


def of_running_loop() -> LoopLag:
    """The running loop's measure, started by the first call on that loop."""
    loop = asyncio.get_running_loop()
    found = _BY_LOOP.get(loop)
    if found is None:
        found = _BY_LOOP[loop] = LoopLag(loop)
    return found
