"""The write of a group, planned before its transaction: duplicates found inside it (one
lookup per group, no unique-index race between batches of one group), and the tally made
by row place, then numbered with the INSERT's ids, equal to the stored logs themselves."""

from __future__ import annotations

import asyncio
import dataclasses

import orjson

from tests.test_sessions_ingest_groups import batch, live
from trackmaster.models import CellValue, CoverageValue, EventLog, ResultCell, UnplannedProperty
from trackmaster.sessions.cells import EVENT_FIELD

ROUNDS = 10  # bounded; the first rounds normally group already


async def _logs(session_id: int) -> list[dict]:
    rows = (
        await EventLog.filter(session_id=session_id)
        .order_by("id")
        .values("id", "event_id", "platform", "field_values")
    )
    for row in rows:
        row["platform"] = str(row["platform"])
        values = row["field_values"]
        values = orjson.loads(values) if isinstance(values, str | bytes) else values
        row["field_values"] = {int(k): v for k, v in values.items()}
    return rows


async def test_a_grouped_write_counts_ids_as_the_stored_logs_have_them(db) -> None:
    plan, session, ingestor, _ = await live("numbered", True)
    for round_ in range(ROUNDS):
        batches = [batch(f"r{round_}b{b}", 9) for b in range(5)]
        await asyncio.gather(*(ingestor.ingest(plan.project.id, events) for events in batches))
        if ingestor.groups.batches > ingestor.groups.groups and round_ >= 1:
            break
    assert ingestor.groups.batches > ingestor.groups.groups, "no two batches ever grouped"
    logs = await _logs(session.id)
    assert logs, "nothing stored"

    def ids_of(event_id: int, platform: str, field_id: int | None = None, value=None) -> list:
        return [
            log["id"]
            for log in logs
            if log["event_id"] == event_id
            and log["platform"] == platform
            and (field_id is None or log["field_values"].get(field_id) == value)
        ]

    cells = await ResultCell.filter(session_id=session.id).values(
        "event_id", "field_id", "platform", "last_log_id"
    )
    assert cells
    for cell in cells:  # the field cells and the event row alike: the newest log
        assert cell["last_log_id"] == max(ids_of(cell["event_id"], str(cell["platform"])))
    values = await CellValue.filter(session_id=session.id).values(
        "event_id", "field_id", "platform", "value", "count", "example_log_id"
    )
    assert values
    for value in values:  # the example is the first log with that value
        found = ids_of(value["event_id"], str(value["platform"]), value["field_id"], value["value"])
        assert (value["example_log_id"], value["count"]) == (min(found), len(found))
    unplanned = await UnplannedProperty.filter(session_id=session.id).values(
        "event_id", "platform", "example_log_id", "last_log_id", "count"
    )
    assert unplanned  # every event carries extra_key
    for item in unplanned:
        found = ids_of(item["event_id"], str(item["platform"]))
        assert (item["example_log_id"], item["last_log_id"], item["count"]) == (
            min(found), max(found), len(found)
        )  # fmt: skip
    coverage = await CoverageValue.filter(session_id=session.id).values(
        "field_id", "platform", "value", "first_log_id"
    )
    assert coverage
    for seen in coverage:
        found = [
            log["id"]
            for log in logs
            if log["platform"] == str(seen["platform"])
            and log["field_values"].get(seen["field_id"]) == seen["value"]
        ]
        assert seen["first_log_id"] == min(found)
    assert not [c for c in cells if c["field_id"] == EVENT_FIELD and c["last_log_id"] == 0]


async def test_message_ids_shared_by_batches_of_one_group_do_not_split_it(db) -> None:
    plan, session, ingestor, _ = await live("shared", True)
    for round_ in range(ROUNDS):
        # Three batches: two carry the same 4 messages, the third 2 of them and 2 new.
        same = batch(f"same{round_}", 4)
        mixed = [*same[:2], *batch(f"new{round_}", 2)]
        reports = await asyncio.gather(
            *(ingestor.ingest(plan.project.id, events) for events in (same, same, mixed))
        )
        assert sum(r.stored for r in reports) == 6
        assert sum(r.duplicates for r in reports) == 6
        assert all(r.stored + r.duplicates == r.received for r in reports)
        if ingestor.groups.batches > ingestor.groups.groups:
            break
    assert ingestor.groups.batches > ingestor.groups.groups, "no two batches ever grouped"
    # Found in the group's own transaction: no IntegrityError, no group sent back.
    assert ingestor.groups.split == 0
    assert await EventLog.filter(session_id=session.id).count() == 6 * (round_ + 1)


async def test_a_resend_of_stored_messages_stores_only_the_new_ones(db) -> None:
    plan, session, ingestor, _ = await live("resent", True)
    first = batch("m", 6)
    assert (await ingestor.ingest(plan.project.id, first[:4])).stored == 4
    # Four already stored, two new, and two without a message id (never duplicates).
    anonymous = [dataclasses.replace(e, message_id=None) for e in batch("anon", 2)]
    report = await ingestor.ingest(plan.project.id, [*first, *anonymous])
    assert (report.received, report.stored, report.duplicates) == (8, 4, 4)
    assert sorted(report.log_ids[session.id]) == report.log_ids[session.id]
    assert await EventLog.filter(session_id=session.id).count() == 8
    _, events = await _cells_caught(session.id)
    assert events == 8  # the duplicates were not counted in the cells either


async def _cells_caught(session_id: int) -> tuple[int, int]:
    rows = await ResultCell.filter(session_id=session_id, field_id=EVENT_FIELD).values_list(
        "caught", flat=True
    )
    return len(rows), sum(rows)


async def test_a_batch_of_more_message_ids_than_one_lookup_takes_is_found_whole(db) -> None:
    from trackmaster.sessions import ingest

    plan, session, ingestor, _ = await live("large", True)
    events = batch("big", ingest.MESSAGES_PER_LOOKUP + 7)
    assert (await ingestor.ingest(plan.project.id, events)).stored == len(events)
    again = await ingestor.ingest(plan.project.id, events)
    assert (again.stored, again.duplicates) == (0, len(events))
    assert await EventLog.filter(session_id=session.id).count() == len(events)


async def test_a_revision_bump_answers_each_sessions_new_revision(db) -> None:
    from tortoise.transactions import in_transaction

    from trackmaster.models import TestSession
    from trackmaster.sessions.publish import bump_revisions

    plan, first, _, _ = await live("bumped", True)
    second = await TestSession.create(project_id=plan.project.id, expires_at=first.expires_at)
    start = {s.id: s.revision for s in await TestSession.filter(id__in=[first.id, second.id])}
    async with in_transaction() as conn:
        # One session (MariaDB: one round trip), then two, then one that does not exist.
        assert await bump_revisions(conn, [first.id]) == {first.id: start[first.id] + 1}
        assert await bump_revisions(conn, [first.id, second.id]) == {
            first.id: start[first.id] + 2, second.id: start[second.id] + 1
        }  # fmt: skip
        assert await bump_revisions(conn, [second.id + 1000]) == {}
    stored = {s.id: s.revision for s in await TestSession.filter(id__in=[first.id, second.id])}
    assert stored == {first.id: start[first.id] + 2, second.id: start[second.id] + 1}
