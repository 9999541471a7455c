"""Calls queueing for pooled connections of a healthy MariaDB are load, not an outage.

Found by bench_ingest.py --overload 600: requests waiting for one of the DB_POOL_SIZE
connections ran out of DB_TIMEOUT_S, were counted as a database outage, and the process
then refused all ingest with 503 (bench/README.md). Real MariaDB, a pool of 2.
"""

from __future__ import annotations

import asyncio

import pytest
from tortoise import connections

from trackmaster import db_outage
from trackmaster.db import Database
from trackmaster.db_mysql import DatabaseBusy
from trackmaster.db_outage import DatabaseUnavailable

QUERY_S = 0.8
DEADLINE_S = 2.0


async def test_a_queue_for_connections_is_busy_not_a_database_outage(
    migrated_settings, db, monkeypatch
) -> None:
    if not migrated_settings.uses_mysql:
        pytest.skip("SQLite has no connection pool")
    outage = db_outage.Outage()
    monkeypatch.setattr(db_outage, "OUTAGE", outage)
    monkeypatch.setattr("trackmaster.db_mysql.OUTAGE", outage)
    await db.close()
    tuned = migrated_settings.replace(db_pool_size=2, db_timeout_s=DEADLINE_S)
    opened = await Database.open(tuned)
    try:
        client = connections.get("default")

        async def query() -> str:
            try:
                await client.execute_query(f"SELECT SLEEP({QUERY_S})")
            except DatabaseBusy:
                return "busy"
            except DatabaseUnavailable as exc:
                return f"unavailable: {exc}"
            return "ok"

        # Rounds of two start at 0, 0.8 and 1.6 s and finish; the fourth round would
        # start at 2.4 s, past the 2 s its calls may wait for a connection.
        got = await asyncio.gather(*(query() for _ in range(8)))
    finally:
        await opened.close()
    assert got.count("ok") >= 4, got  # each call that got a connection had 2 s to be answered
    assert "busy" in got, got
    assert set(got) <= {"ok", "busy"}, got
    assert not outage.down and outage.failures == 0 and outage.outages == 0
