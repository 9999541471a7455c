"""The poll ticker keeps a fixed schedule: work time does not add to the period."""

from __future__ import annotations

import pytest

from workers.ticker import Ticker


class VirtualTime:
    """A clock that only moves when the code under test sleeps or 'works'."""

    def __init__(self) -> None:
        self.now_s = 100.0

    def clock(self) -> float:
        return self.now_s

    async def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now_s += seconds

    def work(self, seconds: float) -> None:
        self.now_s += seconds


async def tick_times(work_s: list[float], interval_s: float = 1.0) -> list[float]:
    time = VirtualTime()
    ticker = Ticker(interval_s, clock=time.clock, sleep=time.sleep)
    fired = []
    for seconds in work_s:
        fired.append(round(await ticker.wait() - 100.0, 6))
        time.work(seconds)
    return fired


async def test_ticks_stay_on_the_grid_whatever_the_work_takes() -> None:
    # 0.3 s of work per 1 s interval: a sleep-after-work loop would tick at 0, 1.3, 2.6, 3.9.
    assert await tick_times([0.3] * 5) == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert await tick_times([0.0, 0.9, 0.1, 0.5]) == [0.0, 1.0, 2.0, 3.0]


async def test_a_late_tick_fires_at_once_and_missed_ticks_are_not_queued() -> None:
    time = VirtualTime()
    ticker = Ticker(1.0, clock=time.clock, sleep=time.sleep)
    assert await ticker.wait() == 100.0
    time.work(3.5)  # past the ticks at 101, 102 and 103
    assert await ticker.wait() == 103.5  # one tick, at once
    assert ticker.skipped == 2  # 102 and 103 were dropped, not run back to back
    assert await ticker.wait() == 104.0  # then the grid again
    assert await ticker.wait() == 105.0


async def test_work_exactly_one_interval_long_keeps_the_grid() -> None:
    assert await tick_times([1.0, 1.0, 1.0]) == [0.0, 1.0, 2.0]


def test_a_zero_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        Ticker(0)
