"""Hand-written SQL for the hot path, for SQLite and MariaDB alike.

The ORM builds and converts a model object per row; the ingest path writes
thousands of rows a second, so it sends multi-row INSERTs with RETURNING (both
SQLite >= 3.35 and MariaDB >= 10.5 have it) and gets the new ids back in the
same round trip.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Generator, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError, OperationalError

T = TypeVar("T")
# A statement and its values; `Steps` yields them one by one and is sent each one's rows,
# so that one piece of SQL logic runs statement by statement (`run`) or, on SQLite, all
# in one call on the connection's own thread (`run_in_one_hop`).
Statement = tuple[str, Sequence[Any]]
Steps = Generator[Statement, Any, T]


class LastId(tuple[str, Sequence[Any]]):
    """A statement whose answer is the connection's last insert id, not rows: MariaDB's
    `UPDATE ... SET c = LAST_INSERT_ID(expr)` hands back `expr` in its OK packet, so a
    value it wrote comes back without a second round trip (MariaDB has no UPDATE ...
    RETURNING)."""

    __slots__ = ()

    def __new__(cls, sql: str, values: Sequence[Any]) -> LastId:
        return super().__new__(cls, (sql, values))


class RowCount(tuple[str, Sequence[Any]]):
    """A statement whose answer is how many rows it changed (an UPDATE's), not rows."""

    __slots__ = ()

    def __new__(cls, sql: str, values: Sequence[Any]) -> RowCount:
        return super().__new__(cls, (sql, values))


# aiomysql's server status bit: in this SQL mode a backslash is an ordinary character.
_NO_BACKSLASH_ESCAPES = 512

# SQLite allows 32766 bound values per statement; 13 columns x 500 rows stays far below.
ROWS_PER_INSERT = 500


def column(rows: Sequence[Any], index: int, name: str) -> list[Any]:
    """One column of a raw result, by its place and name in the SELECT: aiomysql gives
    rows as dicts, aiosqlite as sequences (all rows of one result alike, so one test)."""
    if rows and isinstance(rows[0], dict):
        return [row[name] for row in rows]
    return [row[index] for row in rows]


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
    **options: bool,
) -> list[int]:
    """Insert `rows` in chunks; the new ids in insertion order when `returning_id`
    (the options are `insert_steps`'s)."""
    return await run(conn, insert_steps(conn, table, columns, rows, **options))


def insert_steps(
    conn: BaseDBAsyncClient,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    returning_id: bool = False,
    ignore_duplicates: bool = False,
    skip_duplicate_keys: bool = False,
) -> Steps[list[int]]:
    """The statements of `insert_rows`, as `Steps`.

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
        result = yield sql, [value for row in chunk for value in row]
        if returning_id:
            ids.extend(map(int, column(result, 0, "id")))
    return ids


async def run(conn: BaseDBAsyncClient, steps: Steps[T]) -> T:
    """Run the statements of `steps` one after another on `conn`; returns what it returns."""
    try:
        statement = next(steps)
        while True:
            if isinstance(statement, LastId):
                answer: Any = await _last_id(conn, *statement)
            elif isinstance(statement, RowCount):
                answer, _ = await execute(conn, *statement)
            else:
                _, answer = await execute(conn, *statement)
            statement = steps.send(answer)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def _last_id(conn: BaseDBAsyncClient, sql: str, values: Sequence[Any]) -> int:
    raw = getattr(conn, "_connection", None) if is_mysql(conn) else None
    if raw is not None and hasattr(raw, "escape") and values:
        # Written as `execute` writes them; None: aiomysql interpolates nothing more.
        return int(await conn.execute_insert(sql % mysql_literals(raw, values), None) or 0)  # type: ignore[arg-type]
    return int(await conn.execute_insert(sql, list(values)) or 0)


async def run_in_one_hop(conn: BaseDBAsyncClient, steps: Steps[T]) -> T:
    """`run`, but on SQLite in ONE call on the connection's thread (MariaDB: `run`).

    Tortoise's SQLite client sends each statement to aiosqlite's thread and waits for
    the event loop to read its answer: a transaction of ten statements waited ten
    times for a loop busy checking other batches, holding the process's only
    connection meanwhile. Here the thread runs them all, and the Python between them
    (building the next statement), while the loop goes on. `conn` must be a
    transaction's: the caller holds the connection's lock. The code of `steps` runs
    on that thread: it may touch only objects that nothing else uses meanwhile.
    """
    if is_mysql(conn):
        return await run(conn, steps)
    threaded = conn._connection  # aiosqlite's Connection

    def all_at_once() -> T:
        database = threaded._conn  # the sqlite3 connection, used only on this thread
        try:
            statement = next(steps)
            while True:
                sql, values = statement
                cursor = database.execute(sql, list(values))
                if isinstance(statement, LastId):
                    answer: Any = cursor.lastrowid or 0
                elif isinstance(statement, RowCount):
                    answer = cursor.rowcount
                else:
                    answer = cursor.fetchall()
                statement = steps.send(answer)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    try:
        return await threaded._execute(all_at_once)  # type: ignore[no-any-return]
    except sqlite3.OperationalError as exc:  # as Tortoise's client translates them
        raise OperationalError(exc) from exc
    except sqlite3.IntegrityError as exc:
        raise IntegrityError(exc) from exc


def in_list(conn: BaseDBAsyncClient, values: Sequence[Any]) -> str:
    return f"({marks(conn, len(values))})"


async def execute(conn: BaseDBAsyncClient, sql: str, values: Sequence[Any]) -> Any:
    """`conn.execute_query(sql, values)`, with MariaDB's literals written here.

    aiomysql writes every bound value into the statement in Python, four calls deep
    per value; a batch's statements bind thousands (payloads, reasons, digests), and
    that was the largest single cost of storing a batch on MariaDB. Here the common
    types are written in one pass; anything else goes through aiomysql's own escape.
    The statement that reaches the server is what aiomysql would send, but for
    double quotes, which a single-quoted literal needs no backslash for.
    tests/test_sql_literals.py round-trips every kind of text through MariaDB.
    """
    raw = getattr(conn, "_connection", None) if is_mysql(conn) else None
    if raw is None or not hasattr(raw, "escape") or not values:
        return await conn.execute_query(sql, list(values))
    return await conn.execute_query(sql % mysql_literals(raw, values))


def mysql_literals(raw: Any, values: Sequence[Any]) -> tuple[str, ...]:
    """Each value as a MariaDB literal, for the connection `raw` (an aiomysql Connection)."""
    plain_backslash = bool(raw.server_status & _NO_BACKSLASH_ESCAPES)
    out: list[str] = []
    append = out.append
    # The texts are escaped all at once (_quoted), then put in their places.
    places: list[int] = []
    texts: list[str] = []
    memo: dict[int, str] = {}  # the same datetime object recurs in every row of a batch
    for value in values:
        kind = type(value)
        if kind is not str and isinstance(value, str):
            value, kind = str.__str__(value), str  # a str enum (Platform): its own text
        if kind is str:
            places.append(len(out))
            texts.append(value)
            append("")
        elif kind is int:
            append(str(value))
        elif value is None:
            append("NULL")
        elif kind is bool:
            append("1" if value else "0")
        else:
            literal = memo.get(id(value))
            if literal is None:
                literal = memo[id(value)] = _other_literal(raw, value)
            append(literal)
    for place, literal in zip(places, _quoted(texts, plain_backslash), strict=True):
        out[place] = literal
    return tuple(out)


# Joins the texts of one statement so that they are escaped in a few passes over one
# string instead of one call per value; a text that holds it is escaped alone.
_SEPARATOR = "\x1f"


def _quoted(texts: list[str], plain_backslash: bool) -> list[str]:
    """Each text as a quoted literal, as `"'" + _escape(text) + "'"` (or with '' doubled)."""
    if not texts:
        return []
    joined = _SEPARATOR.join(texts)
    if joined.count(_SEPARATOR) != len(texts) - 1:
        return [_quote_one(text, plain_backslash) for text in texts]
    # The separator is none of the escaped characters.
    joined = joined.replace("'", "''") if plain_backslash else _escape(joined)
    return ("'" + joined.replace(_SEPARATOR, "'" + _SEPARATOR + "'") + "'").split(_SEPARATOR)


def _quote_one(text: str, plain_backslash: bool) -> str:
    return "'" + (text.replace("'", "''") if plain_backslash else _escape(text)) + "'"


def _other_literal(raw: Any, value: Any) -> str:
    """aiomysql's literal for the few other types these statements bind, and only those.

    Its fallback for an unknown type is str(value) escaped with backslashes, even
    under NO_BACKSLASH_ESCAPES (a way out of the literal), and it writes an aware
    datetime's wall time without its offset: refuse both rather than store wrong.
    """
    if isinstance(value, dt.datetime):
        if value.utcoffset() not in (None, dt.timedelta(0)):
            raise ValueError(f"a datetime bound to SQL must be UTC, got {value.isoformat()}")
        return str(raw.escape(value))  # its wall time: UTC, as checked
    if isinstance(value, (float, Decimal, dt.date)):
        return str(raw.escape(value))
    raise TypeError(f"no SQL literal for {type(value).__name__}: convert it before binding")


# The characters MariaDB reads after a backslash in a quoted literal (the backslash first).
_ESCAPES = (("\\", "\\\\"), ("'", "\\'"), ("\x00", "\\0"), ("\n", "\\n"), ("\r", "\\r"),
            ("\x1a", "\\Z"))  # fmt: skip


def _escape(text: str) -> str:
    for char, escaped in _ESCAPES:
        if char in text:
            text = text.replace(char, escaped)
    return text
