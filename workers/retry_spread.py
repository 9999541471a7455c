"""Retry-After under overload: refused clients come back spread over the time the pool needs.

A fixed Retry-After sends every refused client back at once: at 600 concurrent
senders each second began with a wave of retries that the pool could not take,
refused again at the same moment, and the process spent a third of its CPU
refusing (bench/README.md). So the delay grows with the demand the pool cannot
serve, and each client gets its own draw: the clients refused recently (the
rate of refusals times the delay they were given) are spread over the seconds
the pool needs to serve them all at its measured rate, plus the wait until its
queue is back within budget.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

# Refusals are counted with this memory (an exponentially decaying count), in seconds.
REFUSAL_MEMORY_S = 2.0
# However deep the overload, no client is told to wait longer than this.
MOST_RETRY_AFTER_S = 60
# Weight of the newest delay in the moving average of the delays given.
DELAY_WEIGHT = 0.05


class RetrySpread:
    def __init__(
        self, rng: random.Random | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rng = rng or random.Random()
        self._clock = clock
        self._recent = 0.0  # decaying count of refusals
        self._at = clock()
        self.mean_s = 1.0  # moving average of the Retry-After given

    def waiting(self) -> float:
        """About how many refused clients will come back within one of the delays given."""
        return self._recent / REFUSAL_MEMORY_S * self.mean_s

    def retry_after_s(self, base_s: int, capacity_per_s: float) -> int:
        """The Retry-After of one refusal: at least `base_s`, spread by the demand not served.

        `capacity_per_s` is how many jobs a second the pool finishes now.
        """
        now = self._clock()
        self._recent = self._recent * math.exp(-(now - self._at) / REFUSAL_MEMORY_S) + 1
        self._at = now
        spread_s = min(MOST_RETRY_AFTER_S, self.waiting() / max(capacity_per_s, 0.1))
        delay_s = min(MOST_RETRY_AFTER_S, max(1, base_s) + self._rng.randint(0, int(spread_s)))
        self.mean_s += DELAY_WEIGHT * (delay_s - self.mean_s)
        return delay_s
