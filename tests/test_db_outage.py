"""The database outage is said once: a failure right after it came back is the same outage."""

from __future__ import annotations

import logging

import pytest

from trackmaster import db_outage
from trackmaster.db_outage import Outage


def said(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "database unavailable" in r.getMessage()]


def test_a_stale_connection_failing_after_recovery_is_not_a_second_outage(caplog) -> None:
    caplog.set_level(logging.INFO)
    outage = Outage()
    outage.failed("lost connection")
    outage.failed("lost connection")  # during: counted, not said again
    outage.succeeded()
    assert not outage.down
    outage.failed("InterfaceError: (0, 'Not connected')")  # a pooled connection of before
    assert outage.down  # 503 again while calls fail
    assert outage.outages == 1 and len(said(caplog)) == 1, said(caplog)


def test_a_failure_long_after_recovery_is_a_new_outage(caplog, monkeypatch) -> None:
    caplog.set_level(logging.INFO)
    outage = Outage()
    outage.failed("lost connection")
    outage.succeeded()
    assert outage.back_at is not None
    outage.back_at -= db_outage.SAME_OUTAGE_WITHIN_S + 1  # as if it came back long ago
    outage.failed("lost connection")
    assert outage.outages == 2 and len(said(caplog)) == 2, said(caplog)
