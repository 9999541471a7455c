"""Hand-written SQL for the hot path, for SQLite and MariaDB alike.

The ORM builds and converts a model object per row; the ingest path writes
thousands of rows a second, so it sends multi-row INSERTs with RETURNING (both
SQLite >= 3.35 and MariaDB >= 10.5 have it) and gets the new ids back in the
same round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

# SQLite allows 32766 bound values per statement; 13 columns x 500 rows stays far below.
ROWS_PER_INSERT = 500


def is_mysql(conn: BaseDBAsyncClient) -> bool:
    return conn.capabilities.dialect == "mysql"


def marks(conn: BaseDBAsyncClient, count: int) -> str:
    mark = "%s" if is_mysql(conn) else "?"
    return ", ".join([mark] * count)


def quote(conn: BaseDBAsyncClient, name: str) -> str:
    return f"`{name}`" if is_mysql(conn) else f'"{name}"'


async def insert_rows(
    conn: BaseDBAsyncClient,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    returning_id: bool = False,
    ignore_duplicates: bool = False,
    skip_duplicate_keys: bool = False,
) -> list[int]:
    """Insert `rows` in chunks; the new ids in insertion order when `returning_id`.

    `skip_duplicate_keys` skips rows that a unique index already holds and
    nothing else (unlike MariaDB's INSERT IGNORE, which also turns other
    errors into warnings and truncates values)."""
    ids: list[int] = []
    if not rows:
        return ids
    verb = "INSERT"
    if ignore_duplicates:
        verb = "INSERT IGNORE" if is_mysql(conn) else "INSERT OR IGNORE"
    head = (
        f"{verb} INTO {quote(conn, table)} ({', '.join(quote(conn, c) for c in columns)}) VALUES "
    )
    one = f"({marks(conn, len(columns))})"
    tail = ""
    if skip_duplicate_keys and is_mysql(conn):
        tail = f" ON DUPLICATE KEY UPDATE {quote(conn, 'id')} = {quote(conn, 'id')}"
    elif skip_duplicate_keys:
        tail = " ON CONFLICT DO NOTHING"
    for start in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[start : start + ROWS_PER_INSERT]
        sql = head + ", ".join([one] * len(chunk)) + tail
        if returning_id:
            sql += " RETURNING id"
        values = [value for row in chunk for value in row]
        _, result = await conn.execute_query(sql, values)
        if returning_id:
            ids.extend(int(row[0] if not isinstance(row, dict) else row["id"]) for row in result)
    return ids


def in_list(conn: BaseDBAsyncClient, values: Sequence[Any]) -> str:
    return f"({marks(conn, len(values))})"
