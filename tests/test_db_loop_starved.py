"""A deadline that expires while this process's own event loop is starved is load, not an outage.

Found by bench_ingest.py --overload 600: answers of a healthy MariaDB that arrived in
milliseconds were read seconds later by a server whose loop got a fraction of a core;
their DB_TIMEOUT_S deadlines expired, were counted as a database outage, and the process
then refused all ingest with 503 (bench/README.md). Here the loop is blocked on purpose
(a synchronous sleep, as a CPU-bound stretch would) while real MariaDB answers.
"""

from __future__ import annotations

import asyncio
import time

import aiomysql
import pytest
from pymysql.constants import COMMAND
from tortoise import connections

from tests.conftest import MARIADB
from trackmaster import db_outage, loop_lag
from trackmaster.db import Database
from trackmaster.db_mysql import LoopStarved, _answer_waiting
from trackmaster.db_outage import SILENT_STARVED_OUTAGE, DatabaseUnavailable

DEADLINE_S = 0.5


@pytest.fixture
def outage(monkeypatch) -> db_outage.Outage:
    fresh = db_outage.Outage()
    monkeypatch.setattr(db_outage, "OUTAGE", fresh)
    monkeypatch.setattr("trackmaster.db_mysql.OUTAGE", fresh)
    return fresh


async def _client(migrated_settings, db):
    if not migrated_settings.uses_mysql:
        pytest.skip("SQLite calls have no deadline")
    await db.close()
    opened = await Database.open(migrated_settings.replace(db_timeout_s=DEADLINE_S))
    client = connections.get("default")
    await client.execute_query("SELECT 1")  # a pooled connection exists before the clock
    return opened, client


async def _outcome(call) -> str:
    try:
        await call
    except LoopStarved:
        return "starved"
    except DatabaseUnavailable:
        return "unavailable"
    return "ok"


async def _keep_busy(stop: asyncio.Event, blocked_s: float, free_s: float, turns: int) -> None:
    """Block the loop `blocked_s` of every `blocked_s + free_s`, `turns` times or until `stop`."""
    for _ in range(turns):
        if stop.is_set():
            return
        time.sleep(blocked_s)  # noqa: ASYNC251  (blocking the loop is the point)
        await asyncio.sleep(free_s)


async def test_an_answer_read_late_by_a_blocked_loop_is_no_outage(
    migrated_settings, db, outage
) -> None:
    opened, client = await _client(migrated_settings, db)
    try:
        lag = loop_lag.of_running_loop()
        stalled_before = lag.stalled_now()
        loop = asyncio.get_running_loop()
        # The answer comes in at ~0.05 s; the loop reads it only after 3 deadlines.
        loop.call_later(0.02, time.sleep, 3 * DEADLINE_S)
        got = await _outcome(client.execute_query("SELECT SLEEP(0.05)"))
    finally:
        await opened.close()
    assert lag.stalled_now() - stalled_before >= 2 * DEADLINE_S  # the block was measured
    assert got == "ok"  # the lost time was given back: the answer was read, not refused
    assert not outage.down and outage.failures == 0 and outage.outages == 0


async def test_a_loop_starved_past_the_give_back_is_busy_not_an_outage(
    migrated_settings, db, outage
) -> None:
    opened, client = await _client(migrated_settings, db)
    stop = asyncio.Event()
    # The loop runs 1 ms of every 100 ms, for at most 10 s.
    hogging = asyncio.create_task(_keep_busy(stop, blocked_s=0.1, free_s=0.001, turns=100))
    try:
        started = time.monotonic()
        got = await _outcome(client.execute_query("SELECT SLEEP(30)"))
        waited_s = time.monotonic() - started
    finally:
        stop.set()
        await hogging
        await opened.close()
    assert got == "starved"
    # It still ends: the deadline plus what it gave back, never the 30 s query.
    assert waited_s < 10
    assert not outage.down and outage.outages == 0


async def test_a_database_that_does_not_answer_a_free_loop_is_an_outage(
    migrated_settings, db, outage
) -> None:
    opened, client = await _client(migrated_settings, db)
    try:
        started = time.monotonic()
        got = await _outcome(client.execute_query("SELECT SLEEP(30)"))
        waited_s = time.monotonic() - started
    finally:
        await opened.close()
    assert got == "unavailable"
    assert waited_s < 10
    assert outage.outages == 1


async def test_a_silent_database_under_load_is_an_outage_sooner_or_later(
    migrated_settings, db, outage
) -> None:
    """Found in review: a database that never answered, on a loop kept busy (as the load an
    outage brings keeps it: senders retrying), was LoopStarved every time and never an
    outage, so the fast 503 never engaged."""
    opened, client = await _client(migrated_settings, db)
    stop = asyncio.Event()
    # The loop runs 30 ms of every 100 ms, for at most 20 s.
    busy = asyncio.create_task(_keep_busy(stop, blocked_s=0.07, free_s=0.03, turns=200))
    try:
        got = [await _outcome(client.execute_query("SELECT SLEEP(30)")) for _ in range(4)]
    finally:
        stop.set()
        await busy
        await opened.close()
    assert outage.outages >= 1, (got, outage.state())
    assert got[-1] == "unavailable"  # the outage is said to clients too (503, fast path)


@pytest.mark.mariadb
async def test_an_answer_on_the_connection_is_seen_read_or_not() -> None:
    """What a deadline looks at when it expires: an answer already read into the connection's
    reader, or still in its socket (the loop stalled since it came), or nothing at all."""
    connection = await aiomysql.connect(**MARIADB)
    try:
        assert _answer_waiting(connection) is False  # idle: nothing from the server
        await connection._execute_command(COMMAND.COM_QUERY, "SELECT 1")
        time.sleep(0.3)  # noqa: ASYNC251  (the loop stalled: the answer is in the socket only)
        assert len(connection._reader._buffer) == 0
        assert _answer_waiting(connection) is True
        await asyncio.sleep(0.3)  # the loop ran: now it is in the reader, unread by the call
        assert len(connection._reader._buffer) > 0
        assert _answer_waiting(connection) is True
    finally:
        connection.close()
    assert _answer_waiting(connection) is None  # closed: nothing to look at


def test_silent_starved_calls_in_a_row_are_an_outage_an_answer_seen_starts_again(outage) -> None:
    for _ in range(SILENT_STARVED_OUTAGE - 1):
        assert not outage.starved(silent=True)
    assert not outage.starved(silent=None)  # no connection seen: counts neither way
    assert not outage.starved(silent=False)  # an answer was there: the database is alive
    for _ in range(SILENT_STARVED_OUTAGE - 1):
        assert not outage.starved(silent=True)
    outage.succeeded()  # a call succeeded between
    for _ in range(SILENT_STARVED_OUTAGE - 1):
        assert not outage.starved(silent=True)
    assert outage.starved(silent=True)
