"""Store caught events: match them to live sessions, check them, write them in one transaction.

One call handles one batch (a request's events, or one Jet poll). The batch
is checked in memory, then written in a single transaction: the event logs
(one compact row each, with every field's value and verdict as JSON), the
counts of every results cell they touch and their distinct values (upserts,
trackmaster/sessions/cell_store.py), coverage rows only for values seen
for the first time, the unmatched bin and counter, and the revision of each
touched session. Only after the commit are live pages told (bus). A caller
that gets a report back knows its events are durable; an exception means
nothing of the batch was stored.

Batches that become ready while another transaction runs are written together
in the next one (group commit, trackmaster/sessions/group_commit.py), as one
bigger batch would be; a group that fails is stored again batch by batch.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.transactions import in_transaction

from trackmaster.bus import Bus
from trackmaster.checks import FieldCheck
from trackmaster.checks.lookup import LookupStyle
from trackmaster.checks.unplanned import Root, Unplanned, root_for
from trackmaster.models import Platform
from trackmaster.sessions import _sql, cell_store
from trackmaster.sessions.cells import BatchTally, log_columns
from trackmaster.sessions.group_commit import GroupCommit, GroupFailed
from trackmaster.sessions.live import LiveIndex, ProjectSnapshot, Target
from trackmaster.sessions.publish import bump_steps, publish_safely
from trackmaster.sources import CaughtEvent

log = logging.getLogger(__name__)

LOG_COLUMNS = (
    "session_id", "event_id", "name", "user_id", "platform", "source", "message_id",
    "sent_at", "received_at", "payload", "field_values", "verdicts", "cleared",
)  # fmt: skip
# Where a prepared log row (in LOG_COLUMNS order) holds what is read back from it.
_SESSION, _EVENT, _MESSAGE_ID = (
    LOG_COLUMNS.index(c) for c in ("session_id", "event_id", "message_id")
)
UNMATCHED_COLUMNS = (
    "project_id", "name", "user_id", "platform", "source", "reason", "received_at", "payload",
)  # fmt: skip
ATTEMPTS = 3
# MariaDB: 1213 deadlock, 1205 lock wait timeout. Both roll the transaction back.
_RETRY_CODES = ("1213", "1205", "Deadlock", "database is locked")


def _retryable(exc: Exception) -> bool:
    return isinstance(exc, IntegrityError) or any(code in str(exc) for code in _RETRY_CODES)


COVERAGE_COLUMNS = ("session_id", "field_id", "platform", "value", "first_log_id", "first_seen_at")


@dataclass
class IngestReport:
    received: int = 0
    stored: int = 0  # event logs written (an event caught by two sessions counts twice)
    duplicates: int = 0  # already stored for that session (same message id)
    unmatched: int = 0
    log_ids: dict[int, list[int]] = field(default_factory=dict)  # per session

    def as_json(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "unmatched": self.unmatched,
        }


@dataclass
class _Prepared:
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    row_targets: list[Target] = field(default_factory=list)
    # Per row: the (field_id, value) pairs this row saw first (coverage).
    row_coverage: list[list[tuple[int, str]]] = field(default_factory=list)
    row_platforms: list[Platform] = field(default_factory=list)
    row_checks: list[list[FieldCheck]] = field(default_factory=list)
    row_unplanned: list[list[Unplanned]] = field(default_factory=list)
    unmatched: list[tuple[Any, ...]] = field(default_factory=list)
    # The project's live sessions: their pages show the unmatched events (their panel).
    live_session_ids: list[int] = field(default_factory=list)
    duplicates: int = 0


@dataclass
class _Batch:
    """One prepared batch on its way to a transaction (alone, or grouped with others)."""

    project_id: int
    prepared: _Prepared
    received_at: datetime
    report: IngestReport
    # Set the moment its transaction committed: from then on it is never stored again.
    committed: bool = False
    # What live pages are told after the commit: (session id, message), the same list
    # in every batch of a group (one message per session for the whole group).
    messages: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


# Platform.value is a descriptor call; the stored text of each platform, looked up.
_PLATFORM_TEXT: dict[Platform, str] = {p: p.value for p in Platform}


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _payload_text(event: CaughtEvent) -> str:
    try:
        return _json(event.payload)
    except TypeError:  # e.g. integers beyond 64 bits: orjson refuses, json does not
        import json

        return json.dumps(event.payload, ensure_ascii=False)


# Message ids looked up per statement at most: SQLite binds 32766 values, and a group
# can hold MAX_GROUP batches of a few thousand events each.
MESSAGES_PER_LOOKUP = 5000


def _message_key(row: tuple[Any, ...]) -> tuple[int, str] | None:
    message_id = row[_MESSAGE_ID]
    return None if message_id is None else (row[_SESSION], message_id)


def _first_of_each_message(batches: Sequence[_Batch]) -> list[list[int]]:
    """Per batch, the positions of its rows to write: a (session, message id) that an
    earlier batch of the group carries is a duplicate, as it would be stored one by one
    (within a batch, `_prepare` already kept the first)."""
    seen: set[tuple[int, str]] = set()
    kept: list[list[int]] = []
    for batch in batches:
        keep = []
        for i, row in enumerate(batch.prepared.rows):
            key = _message_key(row)
            if key is not None:
                if key in seen:
                    continue
                seen.add(key)
            keep.append(i)
        kept.append(keep)
    return kept


def _stored_messages(
    conn: BaseDBAsyncClient, keyed: Sequence[tuple[int, str]]
) -> _sql.Steps[set[tuple[int, str]]]:
    """Which of these (session, message id) pairs are stored already."""
    if not keyed:
        return set()
    session_ids = sorted({s for s, _ in keyed})
    message_ids = sorted({m for _, m in keyed})
    stored: set[tuple[int, str]] = set()
    table = _sql.quote(conn, "event_log")
    for start in range(0, len(message_ids), MESSAGES_PER_LOOKUP):
        chunk = message_ids[start : start + MESSAGES_PER_LOOKUP]
        # Raw SQL: the ORM's filter building cost more than the query on this hot path.
        rows = yield (
            f"SELECT session_id, message_id FROM {table} "
            f"WHERE session_id IN {_sql.in_list(conn, session_ids)} "
            f"AND message_id IN {_sql.in_list(conn, chunk)}",
            [*session_ids, *chunk],
        )
        sessions = map(int, _sql.column(rows, 0, "session_id"))
        stored.update(zip(sessions, _sql.column(rows, 1, "message_id"), strict=True))
    return stored.intersection(keyed)


@dataclass
class _Resent:
    """Found in the transaction: some rows' message ids are stored already."""

    revisions: dict[int, int]
    stored: set[tuple[int, str]]


class _Write:
    """What one transaction writes for a group of batches, made before it begins.

    The logs are tallied by their place in the INSERT (1, 2, ...: 0 is "no log" in a
    tally), and `number` turns places into the ids the INSERT returned: the tally is
    that of the logs with their ids, as the ids ascend with the places (checked).
    """

    def __init__(self, batches: Sequence[_Batch], kept: list[list[int]]) -> None:
        self.kept = kept  # per batch: the positions of its prepared rows written
        self.rows: list[tuple[Any, ...]] = []
        self.keyed: list[tuple[int, str]] = []  # (session, message id) of rows that have one
        self.tally = BatchTally()
        # Coverage rows with the log's place where its id goes, until `number`.
        self.coverage: list[tuple[Any, ...]] = []
        self.changed: dict[int, set[tuple[int, int, str]]] = defaultdict(set)
        # Sessions whose first sightings were claimed by rows not written (duplicates).
        self.lost_coverage: set[int] = set()
        # Per batch: where its rows written are in `rows` (a slice: start, end).
        self._spans: list[tuple[int, int]] = []
        self.ids: list[int] = []  # the logs' ids, once numbered

    @classmethod
    def plan(cls, batches: Sequence[_Batch], kept: list[list[int]]) -> _Write:
        write = cls(batches, kept)
        rows, keyed, coverage, tally = write.rows, write.keyed, write.coverage, write.tally
        # The logs of each session x event x platform, in order, tallied per run of one
        # target: batches prepared on either side of a reset or a plan change hold
        # different targets (kept values, the plan's fields), and each log is tallied
        # with its own, in order, as if the batches were stored one by one.
        runs: list[tuple[int, int, Platform, Target, list[tuple[int, list[FieldCheck]]]]] = []
        current: dict[tuple[int, int, Platform], tuple[Target, list[Any]]] = {}
        for batch, batch_kept in zip(batches, kept, strict=True):
            prepared, received_at = batch.prepared, batch.received_at
            if len(batch_kept) != len(prepared.rows):
                written = set(batch_kept)
                write.lost_coverage.update(
                    prepared.rows[i][_SESSION]
                    for i, claims in enumerate(prepared.row_coverage)
                    if claims and i not in written
                )
            first = len(rows)
            if len(batch_kept) == len(prepared.rows):  # the common case: every row written
                rows += prepared.rows
                items: Any = zip(
                    prepared.rows, prepared.row_targets, prepared.row_platforms,
                    prepared.row_checks, prepared.row_unplanned, prepared.row_coverage,
                    strict=True,
                )  # fmt: skip
            else:
                rows += [prepared.rows[i] for i in batch_kept]
                items = [
                    (prepared.rows[i], prepared.row_targets[i], prepared.row_platforms[i],
                     prepared.row_checks[i], prepared.row_unplanned[i], prepared.row_coverage[i])
                    for i in batch_kept
                ]  # fmt: skip
            write._spans.append((first, len(rows)))
            for place, (row, target, platform, checks, unplanned, claims) in enumerate(
                items, first + 1
            ):
                session_id, event_id, message_id = row[_SESSION], row[_EVENT], row[_MESSAGE_ID]
                if message_id is not None:
                    keyed.append((session_id, message_id))
                run = current.get((session_id, event_id, platform))
                if run is None or run[0] is not target:
                    run = current[(session_id, event_id, platform)] = (target, [])
                    runs.append((session_id, event_id, platform, target, run[1]))
                run[1].append((place, checks))
                if unplanned:
                    tally.add_unplanned(session_id, event_id, platform, place, unplanned)
                for field_id, value in claims:
                    coverage.append(
                        (session_id, field_id, _PLATFORM_TEXT[platform], value[:255], place,
                         received_at)
                    )  # fmt: skip
        for session_id, event_id, platform, target, logs in runs:
            tally.add_logs(session_id, event_id, platform, logs, target.session.values)
            write.changed[session_id].update(
                (event_id, field_id, platform.value) for field_id in target.plan.field_ids
            )
        return write

    @property
    def session_ids(self) -> list[int]:
        return sorted({row[_SESSION] for row in self.rows})

    def number(self, ids: Sequence[int]) -> None:
        """Put the INSERT's ids (in row order) where the tally and coverage hold places."""
        if len(ids) != len(self.rows):
            raise AssertionError(f"{len(ids)} ids returned for {len(self.rows)} rows")
        if any(b <= a for a, b in pairwise(ids)):
            raise AssertionError("the ids of one transaction's logs do not ascend")
        self.ids = list(ids)
        at = [0, *ids]  # place 0: no log
        for cell in self.tally.cells.values():
            cell.last_log_id = at[cell.last_log_id]
        for value in self.tally.values.values():
            value.example_log_id = at[value.example_log_id]
        for item in self.tally.unplanned.values():
            item.example_log_id = at[item.example_log_id]
            item.last_log_id = at[item.last_log_id]
        self.coverage = [(*row[:4], at[row[4]], row[5]) for row in self.coverage]

    def log_ids(self) -> list[dict[int, list[int]]]:
        """Per batch, the ids of its new logs per session."""
        ids, rows = self.ids, self.rows
        out: list[dict[int, list[int]]] = []
        for start, end in self._spans:
            batch_ids: dict[int, list[int]] = {}
            for row, log_id in zip(rows[start:end], ids[start:end], strict=True):
                batch_ids.setdefault(row[_SESSION], []).append(log_id)
            out.append(batch_ids)
        return out


class Ingestor:
    def __init__(
        self, index: LiveIndex, bus: Bus, unmatched_keep: int = 100, *, group_commit: bool = True
    ) -> None:
        self.index = index
        self.bus = bus
        self.unmatched_keep = unmatched_keep
        # Batches ready while a transaction runs are stored together in the next one
        # (trackmaster/sessions/group_commit.py); each still returns only after its commit.
        self.groups: GroupCommit[_Batch, IngestReport] | None = (
            GroupCommit(self._commit_many, after=self._publish) if group_commit else None
        )

    async def ingest(
        self,
        project_id: int,
        events: Sequence[CaughtEvent],
        *,
        received_at: datetime | None = None,
        also_in_transaction: Callable[[Any], Awaitable[None]] | None = None,
    ) -> IngestReport:
        """Check and store one batch. `also_in_transaction(conn)` runs inside the
        batch's transaction (the Jet puller deletes its staged copy there), so that
        it commits, or rolls back, together with the logs."""
        received_at = received_at or datetime.now(UTC)
        report = IngestReport(received=len(events))
        if not events:
            return report
        # A race with a concurrent batch carrying the same message ids makes the
        # unique index refuse ours (the next try sees theirs and skips them); a
        # deadlock victim is simply run again. Nothing of a failed try was kept.
        for attempt in range(1, ATTEMPTS + 1):
            snapshot = await self.index.snapshot(project_id)
            prepared = self._prepare(snapshot, project_id, events, received_at)
            try:
                if self.groups is not None and also_in_transaction is None:
                    batch = _Batch(project_id, prepared, received_at, report)
                    try:
                        return await self.groups.store(batch)
                    except GroupFailed:
                        # GroupCommit answers a committed batch with its report; should
                        # that ever change, a committed batch is still never stored twice.
                        if batch.committed:
                            return batch.report
                        # Nothing of its group was stored: this batch alone, as ever.
                return await self._store(
                    project_id, prepared, received_at, report, also_in_transaction
                )
            except (IntegrityError, OperationalError) as exc:
                self._forget_coverage(prepared)
                if attempt == ATTEMPTS or not _retryable(exc):
                    raise
                log.info("ingest: try %d failed (%s); trying again", attempt, exc)
            except BaseException:
                self._forget_coverage(prepared)
                raise
        raise AssertionError("unreachable")

    def _prepare(
        self,
        snapshot: ProjectSnapshot,
        project_id: int,
        events: Sequence[CaughtEvent],
        received_at: datetime,
    ) -> _Prepared:
        prepared = _Prepared()
        prepared.live_session_ids = [s.id for s in snapshot.sessions if s.expires_at > received_at]
        seen_ids: set[tuple[int, str]] = set()
        rows, row_targets = prepared.rows, prepared.row_targets
        row_platforms, row_checks = prepared.row_platforms, prepared.row_checks
        row_unplanned, row_coverage = prepared.row_unplanned, prepared.row_coverage
        # What is the same for many events of a batch, looked up once per batch: the
        # sessions an account's event goes to (one instant, `received_at`, for all of it)
        # and where a source's payload keeps its properties.
        matches: dict[tuple[str, str], list[Target]] = {}
        roots: dict[tuple[str, LookupStyle], Root] = {}
        for event in events:
            targets = matches.get((event.user_id, event.name))
            if targets is None:
                targets = matches[(event.user_id, event.name)] = snapshot.match(
                    event.user_id, event.name, received_at
                )
            # Parsers give a Platform already; calling the enum on one still costs a lookup.
            platform = (
                event.platform if type(event.platform) is Platform else Platform(event.platform)
            )
            platform_text = _PLATFORM_TEXT[platform]
            payload = None
            if not targets:
                payload = _payload_text(event)
                reason = snapshot.why_unmatched(event.user_id, event.name, received_at)
                prepared.unmatched.append(
                    (project_id, event.name, event.user_id, platform_text, event.source,
                     reason[:255], received_at, payload)
                )  # fmt: skip
                continue
            style = event.lookup_style
            root = roots.get((event.source, style))
            if root is None:
                root = roots[(event.source, style)] = root_for(event.source, style)
            for target in targets:
                session = target.session
                if event.message_id is not None:
                    key = (session.id, event.message_id)
                    if key in seen_ids:
                        prepared.duplicates += 1
                        continue
                    seen_ids.add(key)
                payload = payload or _payload_text(event)
                plan = target.plan
                checks, unplanned = plan.judge.judge(event.payload, style, root)
                values, verdicts = log_columns(checks)
                rows.append(
                    (session.id, plan.event_id, event.name, event.user_id,
                     platform_text, event.source, event.message_id, event.sent_at,
                     received_at, payload, values, verdicts, False)
                )  # fmt: skip
                row_targets.append(target)
                row_platforms.append(platform)
                row_checks.append(checks)
                row_unplanned.append(unplanned)
                row_coverage.append(session.coverage.observe(platform, checks))
        return prepared

    async def _store(
        self,
        project_id: int,
        prepared: _Prepared,
        received_at: datetime,
        report: IngestReport,
        also_in_transaction: Callable[[Any], Awaitable[None]] | None = None,
    ) -> IngestReport:
        """Store one batch in a transaction of its own, then tell live pages."""
        batch = _Batch(project_id, prepared, received_at, report)
        reports = await self._commit_many([batch], also_in_transaction)
        await self._publish([batch], reports)
        return reports[0]

    async def _commit_many(
        self,
        batches: Sequence[_Batch],
        also_in_transaction: Callable[[Any], Awaitable[None]] | None = None,
    ) -> list[IngestReport]:
        """Store batches in ONE transaction, as one bigger batch of their rows in order:
        the counts, reasons, first sightings and examples come out as if they had been
        stored one after another; each session's revision is bumped once and one
        message per session names all of its new logs (sent by `_publish`).

        Everything that needs no database is done before the transaction begins
        (`_Write.plan`: the rows, the cells' tally and the first sightings, by row
        position); inside it only the statements run and the positions become the
        ids the INSERT returned. On SQLite the transaction holds the one connection,
        so every millisecond of Python in it is a millisecond no other batch can use.

        Returns as soon as the transaction committed, with nothing left to await:
        GroupCommit answers the callers from there (a cancellation after the commit
        must not make a stored batch look unstored)."""
        # A message id carried by an earlier batch of the group is that batch's.
        write = _Write.plan(batches, _first_of_each_message(batches))
        async with in_transaction() as conn:
            if also_in_transaction is not None:
                await also_in_transaction(conn)
            # On SQLite all of it in one call on the connection's thread, unless a resend
            # makes the write planned again here.
            looked = await _sql.run_in_one_hop(conn, self._transaction(conn, batches, write))
            if isinstance(looked, _Resent):
                write = _Write.plan(batches, [
                    [i for i in kept if _message_key(batch.prepared.rows[i]) not in looked.stored]
                    for batch, kept in zip(batches, write.kept, strict=True)
                ])  # fmt: skip
                await _sql.run_in_one_hop(conn, self._write_steps(conn, batches, write))
                revisions = looked.revisions
            else:
                revisions = looked
        # Committed: mark it before anything else can happen to this task.
        for batch in batches:
            batch.committed = True
        # First sightings claimed by rows that were not stored (their message id was):
        # reloaded from the stored ones next time, so that none is lost.
        for session_id in write.lost_coverage:
            self.index.forget_coverage(session_id)
        reports = []
        log_ids = write.log_ids()
        for batch, kept, batch_log_ids in zip(batches, write.kept, log_ids, strict=True):
            report, prepared = batch.report, batch.prepared
            report.log_ids = batch_log_ids
            report.stored = len(kept)
            report.duplicates = prepared.duplicates + len(prepared.rows) - len(kept)
            report.unmatched = len(prepared.unmatched)
            reports.append(report)
        new_logs: dict[int, list[int]] = {}
        for batch_log_ids in log_ids:
            for session_id, session_log_ids in batch_log_ids.items():
                new_logs.setdefault(session_id, []).extend(session_log_ids)
        messages: list[tuple[int, dict[str, Any]]] = [
            (
                session_id,
                {
                    "type": "logs",
                    "session": session_id,
                    "revision": revisions.get(session_id),
                    "log_ids": session_log_ids,
                    "changed": sorted([list(cell) for cell in write.changed[session_id]]),
                },
            )
            for session_id, session_log_ids in new_logs.items()
        ]
        # No revision: the unmatched panel is not part of what a resume must replay
        # (a full refresh redraws it).
        told: set[int] = set()
        for batch in batches:
            if batch.prepared.unmatched:
                for session_id in batch.prepared.live_session_ids:
                    if session_id not in told:
                        told.add(session_id)
                        messages.append((session_id, {"type": "unmatched", "session": session_id}))
        for batch in batches:
            batch.messages = messages
        return reports

    async def _publish(self, batches: Sequence[_Batch], _: Sequence[IngestReport]) -> None:
        """After the commit: tell live pages (the group's messages, held by each batch)."""
        for session_id, message in batches[0].messages if batches else ():
            await publish_safely(self.bus, session_id, message)

    def _transaction(
        self, conn: BaseDBAsyncClient, batches: Sequence[_Batch], write: _Write
    ) -> _sql.Steps[dict[int, int] | _Resent]:
        """The group's statements: the revisions bumped, or a resend found (`_Resent`)."""
        # The sessions' rows first. Inserting a log takes a shared lock on its
        # session (the foreign key); taking the exclusive lock of the revision
        # bump after that deadlocks two concurrent batches on MariaDB. Taking
        # it first queues batches of one session, and makes revisions follow
        # commit order (a page that saw revision n has every log up to n).
        revisions = yield from bump_steps(conn, write.session_ids)
        # Under that lock every earlier store of these sessions has committed, so
        # this one read finds every message id already stored (no race left).
        stored = yield from _stored_messages(conn, write.keyed)
        if stored:  # a resend: planned again without the rows stored before
            return _Resent(revisions, stored)
        yield from self._write_steps(conn, batches, write)
        return revisions

    def _write_steps(
        self, conn: BaseDBAsyncClient, batches: Sequence[_Batch], write: _Write
    ) -> _sql.Steps[None]:
        ids = yield from _sql.insert_steps(
            conn, "event_log", LOG_COLUMNS, write.rows, returning_id=True
        )
        write.number(ids)
        # Every cell's counts in this same transaction: a page never sees a log
        # that its cell has not counted, nor a count without its log.
        yield from cell_store.add_batch_steps(conn, write.tally)
        # Another process may have stored the same first sighting: keep theirs.
        yield from _sql.insert_steps(
            conn, "coverage_value", COVERAGE_COLUMNS, write.coverage, ignore_duplicates=True
        )
        for batch in batches:
            if batch.prepared.unmatched:
                yield from self._bin_unmatched(conn, batch.project_id, batch.prepared.unmatched)

    def _bin_unmatched(
        self, conn: BaseDBAsyncClient, project_id: int, rows: list[tuple[Any, ...]]
    ) -> _sql.Steps[None]:
        keep = self.unmatched_keep
        yield (
            f"UPDATE {_sql.quote(conn, 'project')} SET unmatched_count = unmatched_count + "
            f"{_sql.marks(conn, 1)} WHERE id = {_sql.marks(conn, 1)}",
            [len(rows), project_id],
        )
        if keep <= 0:
            return
        yield from _sql.insert_steps(conn, "unmatched_event", UNMATCHED_COLUMNS, rows[-keep:])
        mark = _sql.marks(conn, 1)
        found = yield (
            f"SELECT id FROM {_sql.quote(conn, 'unmatched_event')} WHERE project_id = {mark} "
            f"ORDER BY id DESC LIMIT 1 OFFSET {int(keep) - 1}",
            [project_id],
        )
        if found:
            oldest_kept = found[0]["id"] if isinstance(found[0], dict) else found[0][0]
            yield (
                f"DELETE FROM {_sql.quote(conn, 'unmatched_event')} "
                f"WHERE project_id = {mark} AND id < {mark}",
                [project_id, oldest_kept],
            )

    def _forget_coverage(self, prepared: _Prepared) -> None:
        # The in-memory coverage already counts values of rows that were not stored.
        for session_id in {target.session.id for target in prepared.row_targets}:
            self.index.forget_coverage(session_id)
