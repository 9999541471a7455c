"""Writing and reading results cells: upserts in the caller's transaction, reads per session.

Every write here runs inside a transaction that already bumped the session's
revision (trackmaster/sessions/publish.py), which locks the session row: the
ingest of a batch, an override and a reset of one session are serialized, so
"everything caught up to the override" is exactly the logs committed before
it. Counts are added with `INSERT ... ON CONFLICT DO UPDATE` (SQLite) or
`ON DUPLICATE KEY UPDATE` (MariaDB), never read-modify-written, so two
processes storing batches of different sessions cannot lose an increment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from trackmaster.models import CellValue, Verdict
from trackmaster.sessions import _sql
from trackmaster.sessions.cells import EVENT_FIELD, BatchTally, CellState, EventCounts

CELL_KEY = ("session_id", "event_id", "field_id", "platform")
CELL_COLUMNS = (
    *CELL_KEY, "caught", "n_caught", "n_success", "n_fail", "n_uncertain", "o_success", "o_fail",
    "o_uncertain", "other_values", "success_reason", "fail_reason", "fail_code",
    "uncertain_reason", "uncertain_code", "last_log_id", "override_id", "override_verdict",
)  # fmt: skip
_ADDED = (
    "caught", "n_caught", "n_success", "n_fail", "n_uncertain", "o_success", "o_fail",
    "o_uncertain", "other_values",
)  # fmt: skip
# A reason (and code) is replaced only when the batch has one of that verdict.
_NEWEST = (
    ("success_reason", "n_success"), ("fail_reason", "n_fail"), ("fail_code", "n_fail"),
    ("uncertain_reason", "n_uncertain"), ("uncertain_code", "n_uncertain"),
)  # fmt: skip
VALUE_COLUMNS = (
    *CELL_KEY, "digest", "kind", "value", "verdict", "code", "reason", "count", "example_log_id",
)  # fmt: skip
VALUE_KEY = (*CELL_KEY, "digest")
_COUNT_ADDED = [("count", "OLD(count) + NEW(count)")]
_COUNT = VALUE_COLUMNS.index("count")
UNPLANNED_KEY = ("session_id", "event_id", "platform", "digest")
UNPLANNED_COLUMNS = (
    *UNPLANNED_KEY, "key", "path", "suggestion", "count", "example_log_id", "last_log_id",
)  # fmt: skip
_NEW = re.compile(r"NEW\((\w+)\)")
_OLD = re.compile(r"OLD\((\w+)\)")
# MariaDB: an increment of a distinct value's count shared by fewer rows than this is
# added by the group's one upsert instead of an UPDATE of its own (`_add_values_mysql`).
ROWS_PER_UPDATE = 16
# An upsert of many rows binds columns x rows values; stay well under SQLite's 32766.
ROWS_PER_UPSERT = 400


def _upsert_sql(conn: BaseDBAsyncClient, table: str, columns: Sequence[str], rows: int,
                keys: Sequence[str], updates: Sequence[tuple[str, str]]) -> str:  # fmt: skip
    """A multi-row upsert; `updates` are (column, expression) with NEW(c) and OLD(c) markers."""
    q = _sql.quote
    head = f"INSERT INTO {q(conn, table)} ({', '.join(q(conn, c) for c in columns)}) VALUES "
    values = ", ".join([f"({_sql.marks(conn, len(columns))})"] * rows)
    new: Callable[[str], str]
    old: Callable[[str], str]
    if _sql.is_mysql(conn):
        new, old = (lambda c: f"VALUES({q(conn, c)})"), (lambda c: q(conn, c))
    else:
        table_q = q(conn, table)
        new, old = (lambda c: f"excluded.{q(conn, c)}"), (lambda c: f"{table_q}.{q(conn, c)}")
    sets = []
    for column, expression in updates:
        expression = _NEW.sub(lambda m: new(m.group(1)), expression)
        expression = _OLD.sub(lambda m: old(m.group(1)), expression)
        sets.append(f"{q(conn, column)} = {expression}")
    if _sql.is_mysql(conn):
        return f"{head}{values} ON DUPLICATE KEY UPDATE {', '.join(sets)}"
    conflict = ", ".join(q(conn, k) for k in keys)
    return f"{head}{values} ON CONFLICT ({conflict}) DO UPDATE SET {', '.join(sets)}"


async def _upsert(conn: BaseDBAsyncClient, table: str, columns: Sequence[str],
                  rows: Sequence[Sequence[Any]], keys: Sequence[str],
                  updates: Sequence[tuple[str, str]]) -> None:  # fmt: skip
    await _sql.run(conn, _upsert_steps(conn, table, columns, rows, keys, updates))


def _upsert_steps(conn: BaseDBAsyncClient, table: str, columns: Sequence[str],
                  rows: Sequence[Sequence[Any]], keys: Sequence[str],
                  updates: Sequence[tuple[str, str]]) -> _sql.Steps[None]:  # fmt: skip
    # Sorted by key: two transactions that touch the same rows lock them in one order.
    ordered = sorted(rows, key=lambda r: tuple(r[: len(keys)]))
    for start in range(0, len(ordered), ROWS_PER_UPSERT):
        chunk = ordered[start : start + ROWS_PER_UPSERT]
        sql = _upsert_sql(conn, table, columns, len(chunk), keys, updates)
        yield sql, [v for row in chunk for v in row]


def _add_values_mysql(conn: BaseDBAsyncClient, rows: list[tuple[Any, ...]]) -> _sql.Steps[None]:
    """Add the counts of a batch's distinct values, on MariaDB: UPDATE the stored ones, then
    insert those that no row held.

    MariaDB's `INSERT ... ON DUPLICATE KEY UPDATE` first inserts each row into the table
    (its id is new), finds the duplicate in the unique index, undoes that insert and
    then updates the row it found: for a group's few hundred values, nearly all stored
    already, that was the largest share of the database's work per transaction (12 ms
    of mysqld's CPU against 5 for UPDATEs of the same rows, bench/README.md). So the
    counts are added by one UPDATE per distinct increment (a value seen 3 times in the
    batch: count + 3) that ROWS_PER_UPDATE rows or more share. The rows of rarer
    increments, and those an UPDATE did not find (it changed fewer rows than it named:
    looked up), go to one upsert (ON DUPLICATE KEY UPDATE still, though the session's
    row lock, taken first by every writer of its cells, already keeps others out).
    Every added count is added exactly once: a row is either updated or upserted.
    """
    q = _sql.quote
    key = ", ".join(q(conn, c) for c in VALUE_KEY)
    one = f"({_sql.marks(conn, len(VALUE_KEY))})"
    width = len(VALUE_KEY)
    by_count: dict[int, list[tuple[Any, ...]]] = {}
    for row in rows:
        by_count.setdefault(row[_COUNT], []).append(row)
    unmatched: list[tuple[Any, ...]] = []
    # An increment shared by few rows costs a round trip more than it saves: those rows
    # go to the one upsert with the missing ones.
    upserted: list[tuple[Any, ...]] = []
    for count, group in sorted(by_count.items()):
        if len(group) < ROWS_PER_UPDATE:
            upserted.extend(group)
            continue
        # In key order: two transactions lock the rows they share in one order.
        group.sort(key=lambda r: r[:width])
        # Below MariaDB's in_predicate_conversion_threshold (1000), so that the list is
        # looked up in the unique index, not turned into a temporary table.
        for start in range(0, len(group), ROWS_PER_UPSERT):
            chunk = group[start : start + ROWS_PER_UPSERT]
            changed = yield _sql.RowCount(
                f"UPDATE {q(conn, 'cell_value')} SET {q(conn, 'count')} = {q(conn, 'count')} + "
                f"{int(count)} WHERE ({key}) IN ({', '.join([one] * len(chunk))})",
                [v for row in chunk for v in row[:width]],
            )
            if changed != len(chunk):
                unmatched.extend(chunk)
    stored: set[tuple[Any, ...]] = set()
    for start in range(0, len(unmatched), ROWS_PER_UPSERT):
        chunk = unmatched[start : start + ROWS_PER_UPSERT]
        found = yield (
            f"SELECT {key} FROM {q(conn, 'cell_value')} "
            f"WHERE ({key}) IN ({', '.join([one] * len(chunk))})",
            [v for row in chunk for v in row[:width]],
        )
        columns = [_sql.column(found, i, c) for i, c in enumerate(VALUE_KEY)]
        stored.update(_value_key(found_key) for found_key in zip(*columns, strict=True))
    missing = [row for row in unmatched if _value_key(row[:width]) not in stored]
    yield from _upsert_steps(
        conn, "cell_value", VALUE_COLUMNS, upserted + missing, VALUE_KEY, _COUNT_ADDED
    )


def _value_key(key: Sequence[Any]) -> tuple[Any, ...]:
    """A distinct value's key as the unique index compares it: the platform and digest
    are ASCII (an enum's word, a hex digest) in a case-insensitive collation."""
    session_id, event_id, field_id, platform, digest = key
    return (int(session_id), int(event_id), int(field_id), str(platform).lower(), digest.lower())


def _greatest(conn: BaseDBAsyncClient, a: str, b: str) -> str:
    return f"GREATEST({a}, {b})" if _sql.is_mysql(conn) else f"MAX({a}, {b})"


def _if(conn: BaseDBAsyncClient, cond: str, then: str, other: str) -> str:
    return f"CASE WHEN {cond} THEN {then} ELSE {other} END"


async def add_batch(conn: BaseDBAsyncClient, tally: BatchTally) -> None:
    """Add a batch's counts to its cells and distinct values (in the batch's transaction)."""
    await _sql.run(conn, add_batch_steps(conn, tally))


def add_batch_steps(conn: BaseDBAsyncClient, tally: BatchTally) -> _sql.Steps[None]:
    """The statements of `add_batch`, as `_sql.Steps`."""
    if tally.cells:
        rows = [
            (*key, t.caught, t.caught, t.success, t.fail, t.uncertain, t.success, t.fail,
             t.uncertain, t.other_values, t.success_reason, t.fail_reason, t.fail_code,
             t.uncertain_reason, t.uncertain_code, t.last_log_id, None, None)
            for key, t in tally.cells.items()
        ]  # fmt: skip
        updates = [(c, f"OLD({c}) + NEW({c})") for c in _ADDED]
        updates += [(c, _if(conn, f"NEW({n}) > 0", f"NEW({c})", f"OLD({c})")) for c, n in _NEWEST]
        updates.append(("last_log_id", _greatest(conn, "OLD(last_log_id)", "NEW(last_log_id)")))
        yield from _upsert_steps(conn, "result_cell", CELL_COLUMNS, rows, CELL_KEY, updates)
    if tally.values:
        rows = [
            (*key, v.kind, v.value, v.verdict.value, v.code, v.reason, v.count, v.example_log_id)
            for key, v in tally.values.items()
        ]
        if _sql.is_mysql(conn):
            yield from _add_values_mysql(conn, rows)
        else:
            yield from _upsert_steps(
                conn, "cell_value", VALUE_COLUMNS, rows, VALUE_KEY, _COUNT_ADDED
            )
    if tally.unplanned:
        rows = [
            (*key, u.key, u.path, u.suggestion, u.count, u.example_log_id, u.last_log_id)
            for key, u in tally.unplanned.items()
        ]
        yield from _upsert_steps(
            conn, "unplanned_property", UNPLANNED_COLUMNS, rows, UNPLANNED_KEY,
            [("count", "OLD(count) + NEW(count)"), ("suggestion", "NEW(suggestion)"),
             ("last_log_id", _greatest(conn, "OLD(last_log_id)", "NEW(last_log_id)"))],
        )  # fmt: skip


async def apply_override(
    conn: BaseDBAsyncClient,
    session_id: int,
    cells: Iterable[tuple[int, int, str]],
    override_id: int | None,
    verdict: Verdict,
) -> None:
    """An override covers everything caught so far: outstanding counts start again from 0."""
    rows = [
        (session_id, event_id, field_id, platform, 0, 0, 0, 0, 0, 0, 0, 0, 0, "", "", "", "", "",
         0, override_id, verdict.value)
        for event_id, field_id, platform in cells
    ]  # fmt: skip
    updates = [(c, "0") for c in ("o_success", "o_fail", "o_uncertain")]
    updates += [("override_id", "NEW(override_id)"), ("override_verdict", "NEW(override_verdict)")]
    await _upsert(conn, "result_cell", CELL_COLUMNS, rows, CELL_KEY, updates)


async def apply_reset(conn: BaseDBAsyncClient, session_id: int, event_id: int) -> None:
    """A reset clears every cell of the event: counts, reasons, override, distinct values,
    and the event's unplanned properties (the tester's "expected" marks stay)."""
    q = _sql.quote
    mark = _sql.marks(conn, 1)
    zero = ", ".join(
        f"{q(conn, c)} = 0" for c in _ADDED if c != "caught"
    )  # `caught` counts every event ever, resets included
    blank = ", ".join(f"{q(conn, c)} = ''" for c, _ in _NEWEST)
    await conn.execute_query(
        f"UPDATE {q(conn, 'result_cell')} SET {zero}, {blank}, {q(conn, 'override_id')} = NULL, "
        f"{q(conn, 'override_verdict')} = NULL WHERE {q(conn, 'session_id')} = {mark} "
        f"AND {q(conn, 'event_id')} = {mark}",
        [session_id, event_id],
    )
    for table in ("cell_value", "unplanned_property"):
        await conn.execute_query(
            f"DELETE FROM {q(conn, table)} WHERE {q(conn, 'session_id')} = {mark} "
            f"AND {q(conn, 'event_id')} = {mark}",
            [session_id, event_id],
        )


_STATE_COLUMNS = (
    "event_id", "field_id", "platform", "caught", "n_caught", "n_success", "n_fail", "n_uncertain",
    "o_success", "o_fail", "o_uncertain", "other_values", "success_reason", "fail_reason",
    "fail_code", "uncertain_reason", "uncertain_code", "last_log_id", "override_id",
    "override_verdict",
)  # fmt: skip


async def load_cells(
    session_id: int, event_ids: Sequence[int] | None = None
) -> tuple[dict[tuple[int, int, str], CellState], dict[tuple[int, str], EventCounts]]:
    """Every stored cell of a session (of some of its events), and the events' counts
    per platform: {(event, platform): EventCounts}."""
    # Raw SQL: a live frame reads every cell it changed, and the ORM's per-value
    # conversions cost more than the query (21 of 34 ms for 630 rows).
    conn = connections.get("default")
    q = _sql.quote
    where, values = f"{q(conn, 'session_id')} = {_sql.marks(conn, 1)}", [session_id]
    if event_ids is not None:
        wanted = sorted(set(event_ids))
        if not wanted:
            return {}, {}
        where += f" AND {q(conn, 'event_id')} IN {_sql.in_list(conn, wanted)}"
        values += wanted
    columns = ", ".join(q(conn, c) for c in _STATE_COLUMNS)
    _, rows = await _sql.execute(
        conn, f"SELECT {columns} FROM {q(conn, 'result_cell')} WHERE {where}", values
    )
    cells: dict[tuple[int, int, str], CellState] = {}
    events: dict[tuple[int, str], EventCounts] = {}
    for raw in rows:
        row = raw if isinstance(raw, dict) else dict(zip(_STATE_COLUMNS, raw, strict=True))
        platform = str(row["platform"])
        if row["field_id"] == EVENT_FIELD:
            events[(row["event_id"], platform)] = EventCounts(
                int(row["caught"]), int(row["n_caught"]), int(row["n_success"]),
                int(row["n_fail"]), int(row["n_uncertain"]),
            )  # fmt: skip
        else:
            cells[(row["event_id"], row["field_id"], platform)] = CellState.from_row(row)
    return cells, events


async def cell_values(
    session_id: int, event_id: int, field_id: int, platform: str, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """The most frequent distinct values of a cell (at most `limit`), and how many more exist."""
    query = CellValue.filter(
        session_id=session_id, event_id=event_id, field_id=field_id, platform=platform
    )
    total = await query.count()
    rows = (
        await query.order_by("-count", "id")
        .limit(limit)
        .values("kind", "value", "verdict", "code", "reason", "count", "example_log_id")
    )
    for row in rows:
        row["verdict"] = str(row["verdict"])
    return rows, max(0, total - len(rows))
