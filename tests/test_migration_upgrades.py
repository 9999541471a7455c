"""Every migration applies to a database that already holds data, on both backends.

The suite otherwise migrates only empty databases, and SQLite refuses an
`ADD COLUMN ... NOT NULL` without a database default on a table with rows:
0005 (`user.session_epoch`) and 0008 (`result_cell.n_caught`) failed on every
SQLite install that had users or results. Here the history is applied one
migration at a time, and before each step every table holds a row, filled
from its columns' types, so a step that cannot run on a populated table fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tortoise.context import TortoiseContext
from tortoise.migrations.executor import MigrationExecutor, MigrationTarget

from tests.conftest import base_settings, empty_mariadb
from trackmaster.db import tortoise_config
from trackmaster.settings import Settings

pytestmark = [
    pytest.mark.slow,
    # Each step's executor creates its recorder table IF NOT EXISTS; MariaDB notes it.
    pytest.mark.filterwarnings("ignore:Table 'tortoise_migrations' already exists"),
]

MIGRATIONS = sorted(
    path.stem for path in (Path(__file__).resolve().parents[1] / "migrations").glob("[0-9]*.py")
)
RECORDER_TABLE = "tortoise_migrations"


@pytest.fixture(params=["sqlite", "mariadb"])
async def empty_settings(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Settings]:
    if request.param == "sqlite":
        yield base_settings(tmp_path)
        return
    async with empty_mariadb(
        tmp_path, f"tm_upgrade_{uuid.uuid4().hex[:8]}_{os.getpid()}"
    ) as settings:
        yield settings


def _value_for(column_type: str) -> Any:
    kind = column_type.lower()
    if "json" in kind or kind == "longtext":  # MariaDB's JSON is LONGTEXT CHECK (json_valid)
        return "{}"
    if any(word in kind for word in ("int", "bool")):
        return 1
    if any(word in kind for word in ("real", "float", "double", "decimal", "numeric")):
        return 0
    if "datetime" in kind or "timestamp" in kind:
        return "2026-01-01 00:00:00"
    if kind.startswith("date"):
        return "2026-01-01"
    if kind.startswith("char(36)") or "uuid" in kind:
        return str(uuid.uuid4())
    return "x"


async def _columns(connection: Any, mysql: bool, table: str) -> list[tuple[str, str, bool]]:
    """(name, type, filled by the database) of each column."""
    if mysql:
        rows = await connection.execute_query_dict(
            "SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type, EXTRA AS extra "
            "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
            "AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            [table],
        )
        return [(r["name"], r["type"], "auto_increment" in r["extra"]) for r in rows]
    rows = await connection.execute_query_dict(f'PRAGMA table_info("{table}")')
    return [(r["name"], r["type"], bool(r["pk"]) and "INT" in r["type"].upper()) for r in rows]


async def _tables(connection: Any, mysql: bool) -> list[str]:
    if mysql:
        rows = await connection.execute_query_dict(
            "SELECT TABLE_NAME AS name FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE()"
        )
    else:
        rows = await connection.execute_query_dict(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    return [r["name"] for r in rows if r["name"] != RECORDER_TABLE]


async def _fill_empty_tables(connection: Any, mysql: bool) -> list[str]:
    """Put one row in every table that has none; returns the tables filled."""
    quote, mark = ("`", "%s") if mysql else ('"', "?")
    off, on = (
        ("SET FOREIGN_KEY_CHECKS=0", "SET FOREIGN_KEY_CHECKS=1")
        if mysql
        else ("PRAGMA foreign_keys=OFF", "PRAGMA foreign_keys=ON")
    )
    filled = []
    await connection.execute_script(off)
    try:
        for table in await _tables(connection, mysql):
            count = await connection.execute_query_dict(
                f"SELECT COUNT(*) AS n FROM {quote}{table}{quote}"
            )
            if count[0]["n"]:
                continue
            columns = [c for c in await _columns(connection, mysql, table) if not c[2]]
            names = ", ".join(f"{quote}{name}{quote}" for name, _, _ in columns)
            marks = ", ".join(mark for _ in columns)
            await connection.execute_query(
                f"INSERT INTO {quote}{table}{quote} ({names}) VALUES ({marks})",
                [_value_for(column_type) for _, column_type, _ in columns],
            )
            filled.append(table)
    finally:
        await connection.execute_script(on)
    return filled


async def test_each_migration_applies_to_tables_that_hold_rows(empty_settings: Settings) -> None:
    config = tortoise_config(empty_settings)
    mysql = empty_settings.uses_mysql
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        connection = ctx.db("default")
        executor = MigrationExecutor(connection, config["apps"])
        filled_before: dict[str, list[str]] = {}
        for name in MIGRATIONS:
            if name != MIGRATIONS[0]:
                filled_before[name] = await _fill_empty_tables(connection, mysql)
            await executor.migrate([MigrationTarget(app_label="models", name=name)])
        assert await executor.plan() == []
        # Each step had rows under it: the first filling put one in every initial table.
        assert len(filled_before[MIGRATIONS[1]]) >= 10, filled_before


async def test_the_caught_count_is_backfilled_from_a_cell_counts(empty_settings: Settings) -> None:
    """0008: an event row's n_caught is what its verdict counts add up to."""
    config = tortoise_config(empty_settings)
    mysql = empty_settings.uses_mysql
    before = MIGRATIONS[MIGRATIONS.index(next(m for m in MIGRATIONS if m.startswith("0008"))) - 1]
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        connection = ctx.db("default")
        executor = MigrationExecutor(connection, config["apps"])
        await executor.migrate([MigrationTarget(app_label="models", name=before)])
        await _fill_empty_tables(connection, mysql)
        quote = "`" if mysql else '"'
        await connection.execute_script(
            f"UPDATE {quote}result_cell{quote} SET n_success = 3, n_fail = 2, n_uncertain = 1, "
            "field_id = 0"
        )
        await executor.migrate()
        rows = await connection.execute_query_dict(
            f"SELECT n_caught FROM {quote}result_cell{quote}"
        )
    assert [row["n_caught"] for row in rows] == [6]
