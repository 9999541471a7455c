"""The web's background loops: a crash is told, the database being away is not a crash."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.support.schedule import webhook
from trackmaster.db_outage import DatabaseUnavailable
from trackmaster.runtime import Runtime
from workers import background


@pytest.mark.parametrize(
    ("failure", "notified"),
    [(DatabaseUnavailable("the database cannot be reached"), 0), (ValueError("a bug"), 1)],
)
async def test_a_loop_restarts_and_only_a_real_crash_is_notified(
    failure: Exception, notified: int, db, settings, caplog, monkeypatch
) -> None:
    monkeypatch.setattr(background, "RESTART_PAUSE_S", 0.01)
    runs: list[int] = []

    async def loop(runtime, pool) -> None:
        runs.append(1)
        if len(runs) == 1:
            raise failure

    caplog.set_level(logging.INFO, logger="workers.background")
    async with webhook() as hook:
        runtime = await Runtime.open(settings.replace(notify_webhook_url=hook.url))
        try:
            async with asyncio.timeout(10):
                await background._guarded("expiry", loop, runtime, pool=None)  # type: ignore[arg-type]
        finally:
            await runtime.close()
    assert len(runs) == 2  # restarted after the failure, then returned
    assert len(hook.received) == notified, hook.received
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == notified
    if not notified:
        assert "background loop expiry stopped: the database cannot be reached" in caplog.text
