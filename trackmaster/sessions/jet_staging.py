"""The Jet puller's staging table: what a read returned, made durable before Jet is cleared.

`stage` is the only write between reading a filter and clearing it, so it
is kept to one multi-row INSERT of the raw items (no parsing, no checks):
the window in which Jet can delete a log we never read is this one write.
It is idempotent by (session, Jet log id): a read that returns logs already
staged (a clear that failed, a stop's last read beside the loop's) adds nothing.

`judge` then stores the staged logs through the one ingest path, and
deletes the staged rows inside the very transaction that stores them
(`unstage`), so a row is either still staged or stored, never both, never
neither. Two judges of the same rows (this process's loop and a stop's last
read in another process) cannot both store them: the second one's delete
finds fewer rows than it read, raises `StagedGone`, and its transaction is
rolled back; it then reads what is still staged.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

import orjson
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import OperationalError
from tortoise.transactions import in_transaction

from trackmaster.db_outage import DatabaseUnavailable
from trackmaster.errors import InvalidParams
from trackmaster.models import JetStagedLog, SessionStatus, TestSession
from trackmaster.sessions import _sql
from trackmaster.sessions.ingest import IngestReport
from trackmaster.sources import CaughtEvent
from trackmaster.sources._common import MAX_MESSAGE_ID_CHARS
from trackmaster.sources.jet import parse_jet_log
from trackmaster.sources.mend import mend

TABLE = "jet_staged_log"
COLUMNS = ("session_id", "jet_id", "item", "staged_at")
# Staged rows judged per transaction, and transactions per call: a backlog
# (after an outage) is worked off in bounded steps, oldest first.
log = logging.getLogger(__name__)

BATCH_ROWS = 1000
MAX_BATCHES = 20

# ingest(events, received_at, also_in_transaction) -> its report
Ingest = Callable[
    [list[CaughtEvent], datetime, Callable[[BaseDBAsyncClient], Awaitable[None]]],
    Awaitable[IngestReport],
]


class StagedGone(Exception):
    """Staged rows this judge read were stored by another one meanwhile; roll back."""


# Failures that say nothing about the logs themselves: a race, or the database away.
_NOT_THE_LOGS = (StagedGone, DatabaseUnavailable, OperationalError, ConnectionError)


@dataclass(frozen=True)
class StagedLog:
    id: int
    item: Any  # Jet's item as it answered it; not checked yet
    staged_at: datetime


@dataclass
class JudgeReport:
    stored: int = 0
    judged: int = 0  # staged rows done with (stored, duplicates, unmatched, unreadable)
    unreadable: list[str] | None = None  # "log ID: why", for the notifier


def jet_id(item: Any) -> str | None:
    """The Jet log id to stage under, or None (then the row is kept as it is, never merged)."""
    log_id = item.get("id") if isinstance(item, dict) else None
    if isinstance(log_id, bool) or not isinstance(log_id, str | int):
        return None
    text = str(log_id).strip()
    return text if 0 < len(text) <= MAX_MESSAGE_ID_CHARS else None


def log_key(item: Any) -> str:
    """What tells one log of a filter from another: its Jet id, else its whole text.

    The puller keeps these for the logs it staged since a filter's last clear,
    so that a re-read (the filter is not cleared every round) stages each log
    once, also one without a usable id, which the database cannot de-duplicate.
    """
    log_id = jet_id(item)
    if log_id is not None:
        return "id:" + log_id
    digest = hashlib.blake2b(item_text(item).encode(), digest_size=16).hexdigest()
    return "raw:" + digest


def _item_value(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # what item_text wrote with json (ints over 64 bits)
        return json.loads(text)


def item_text(item: Any) -> str:
    """An item as the JSON text it is staged as (lone surrogates mended: UTF-8 has none)."""
    try:
        return orjson.dumps(item).decode()
    except TypeError:  # integers beyond 64 bits, or a lone surrogate
        item = mend(item)
    try:
        return orjson.dumps(item).decode()
    except TypeError:  # integers beyond 64 bits: orjson refuses them, json does not
        return json.dumps(item, ensure_ascii=False)


async def stage(session_id: int, items: Sequence[Any], now: datetime | None = None) -> None:
    """Make a read's items durable; items already staged (same Jet id) are skipped.

    No explicit transaction: each multi-row INSERT (up to _sql.ROWS_PER_INSERT
    rows, a whole read at the usual rates) is atomic and durable on its own,
    and BEGIN and COMMIT would be two more round trips inside the window. If a
    later chunk fails, the earlier ones stay staged, which is harmless: the
    caller does not clear Jet, and staging them again adds nothing.
    """
    now = now or datetime.now(UTC)
    rows = [(session_id, jet_id(item), item_text(item), now) for item in items]
    # The unique (session, jet_id) index makes a re-read a no-op; any other
    # error fails the staging, and then Jet is not cleared.
    await _sql.insert_rows(
        connections.get("default"), TABLE, COLUMNS, rows, skip_duplicate_keys=True
    )


async def staged(session_id: int, limit: int = BATCH_ROWS) -> list[StagedLog]:
    """The oldest `limit` staged logs of a session, in the order they were read."""
    rows = (
        await JetStagedLog.filter(session_id=session_id)
        .order_by("id")
        .limit(limit)
        .values_list("id", "item", "staged_at")
    )
    return [StagedLog(row_id, _item_value(item), at) for row_id, item, at in rows]


async def staged_sessions_not_live() -> list[tuple[int, int]]:
    """(session id, project id) of sessions that are no longer live but still have staged logs."""
    session_ids = await JetStagedLog.all().distinct().values_list("session_id", flat=True)
    if not session_ids:
        return []
    return await TestSession.filter(id__in=list(session_ids)).exclude(
        status=SessionStatus.ON
    ).values_list("id", "project_id")  # fmt: skip


async def unstage(conn: BaseDBAsyncClient, ids: Sequence[int]) -> None:
    """Delete staged rows inside the caller's transaction; StagedGone if any was gone."""
    if not ids:
        return
    deleted = 0
    for start in range(0, len(ids), _sql.ROWS_PER_INSERT):
        chunk = ids[start : start + _sql.ROWS_PER_INSERT]
        count, _ = await conn.execute_query(
            f"DELETE FROM {_sql.quote(conn, TABLE)} WHERE id IN {_sql.in_list(conn, chunk)}",
            list(chunk),
        )
        deleted += count
    if deleted != len(ids):
        gone = len(ids) - deleted
        raise StagedGone(f"{gone} of {len(ids)} staged Jet logs were stored meanwhile")


async def judge(session_id: int, ingest: Ingest) -> JudgeReport:
    """Judge and store a session's staged logs, oldest first, through `ingest`.

    Each group read at the same time is one `ingest` call (one transaction,
    received_at = when it was staged) that also deletes the group's staged
    rows. An ingest failure propagates: its rows stay staged for the next try.
    """
    report = JudgeReport(unreadable=[])
    for _ in range(MAX_BATCHES):
        batch = await staged(session_id)
        if not batch:
            break
        raced = False
        for staged_at, group in groupby(batch, key=lambda s: s.staged_at):
            rows = list(group)
            try:
                report.stored += await _judge_group(rows, staged_at, ingest, report)
            except StagedGone:
                raced = True  # another judge stored some of them: read what is left again
                break
            report.judged += len(rows)
        if not raced and len(batch) < BATCH_ROWS:
            break
    return report


async def _judge_group(
    rows: list[StagedLog], staged_at: datetime, ingest: Ingest, report: JudgeReport
) -> int:
    """Store one group; one that fails for its content is stored log by log.

    The oldest group is judged first on every poll, so a log that can never be stored
    would otherwise hold back every later log of its session for good. Alone, the others
    are stored and it stays staged (tried again each poll, with a warning). A group whose
    every log fails alone too failed for another reason: that error is raised.
    """
    if len(rows) > 1:
        try:
            return await _store_group(rows, staged_at, ingest, report)
        except _NOT_THE_LOGS:
            raise
        except Exception:
            log.exception("jet: a group of %d staged logs failed; storing them one by one",
                          len(rows))  # fmt: skip
    stored = 0
    failed: list[Exception] = []
    for row in rows:
        try:
            stored += await _store_group([row], staged_at, ingest, report)
        except _NOT_THE_LOGS:
            raise
        except Exception as exc:
            failed.append(exc)
            log.warning(
                "jet: staged log %s cannot be stored (%s: %s); it stays staged",
                row.id, type(exc).__name__, exc,
            )  # fmt: skip
    if len(rows) > 1 and len(failed) == len(rows):
        raise failed[-1]  # every one alone too: not the logs, the store (all stay staged)
    return stored


async def _store_group(
    rows: list[StagedLog], staged_at: datetime, ingest: Ingest, report: JudgeReport
) -> int:
    events: list[CaughtEvent] = []
    unreadable: list[str] = []
    for row in rows:
        try:
            events.append(parse_jet_log(row.item))
        except InvalidParams as exc:
            log_id = row.item.get("id", row.id) if isinstance(row.item, dict) else row.id
            unreadable.append(f"log {log_id}: {exc.msg}")
    ids = [row.id for row in rows]

    async def also(conn: BaseDBAsyncClient) -> None:
        await unstage(conn, ids)

    if events:
        stored = (await ingest(events, staged_at, also)).stored
    else:  # nothing readable: only the staged rows go
        async with in_transaction() as conn:
            await also(conn)
        stored = 0
    assert report.unreadable is not None
    report.unreadable.extend(unreadable)
    return stored
