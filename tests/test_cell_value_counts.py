"""Distinct values' counts are added exactly once, whether their rows exist or not (both databases).

On MariaDB the counts of stored values are added by UPDATEs (one per distinct
increment) and only the values no row held are inserted
(trackmaster/sessions/cell_store.py `_add_values_mysql`); on SQLite by one
upsert. Driven here through `cell_store.add_batch` in the ingest transaction's
order (the session's row locked first), with batches of new values, stored
values, both mixed, more values than one statement takes, and a value whose
row went away behind the writer's back: every count must be the sum of what
was added.
"""

from __future__ import annotations

from tortoise.transactions import in_transaction

from tests.support.realtime import make_plan
from trackmaster.bus import MemoryBus
from trackmaster.models import CellValue, Platform, Verdict
from trackmaster.sessions import cell_store
from trackmaster.sessions.cells import BatchTally, ValueTally, value_digest
from trackmaster.sessions.lifecycle import Lifecycle
from trackmaster.sessions.live import LiveIndex
from trackmaster.sessions.publish import bump_revisions


async def _session():
    plan = await make_plan()
    lifecycle = Lifecycle(LiveIndex(ttl_s=60), MemoryBus(), limit_s=3600)
    session = await lifecycle.start(plan.project.id, ["alice-42"], [plan.play.id])
    return plan, session


async def _add(session_id: int, event_id: int, field_id: int, counts: dict[str, int]) -> None:
    """One batch's tally of `counts` ({value: times seen}) on iOS and Android, stored."""
    tally = BatchTally()
    for platform in (Platform.IOS, Platform.ANDROID):
        for n, (value, count) in enumerate(counts.items()):
            key = (session_id, event_id, field_id, platform.value, value_digest("string", value))
            tally.values[key] = ValueTally(
                "string", value, Verdict.SUCCESS, "", f"{value!r} ok", n + 1, count
            )
    async with in_transaction() as conn:
        await bump_revisions(conn, [session_id])
        await cell_store.add_batch(conn, tally)


async def _stored(session_id: int, field_id: int) -> dict[tuple[str, str], int]:
    rows = await CellValue.filter(session_id=session_id, field_id=field_id).values_list(
        "platform", "value", "count"
    )
    return {(str(platform), value): count for platform, value, count in rows}


def _both(counts: dict[str, int]) -> dict[tuple[str, str], int]:
    return {(p, v): c for p in ("iOS", "Android") for v, c in counts.items()}


async def test_new_stored_and_mixed_values_count_exactly(db) -> None:
    plan, session = await _session()
    field_id = plan.f("event_info.current_page_name")
    expected: dict[str, int] = {}

    def added(counts: dict[str, int]) -> dict[str, int]:
        for value, count in counts.items():
            expected[value] = expected.get(value, 0) + count
        return counts

    await _add(session.id, plan.play.id, field_id, added({"home": 3, "player": 1}))
    # Stored values with different increments (one UPDATE each), then new ones beside them.
    await _add(session.id, plan.play.id, field_id, added({"home": 2, "player": 5}))
    await _add(session.id, plan.play.id, field_id, added({"home": 1, "search": 1, "x": 4}))
    # More distinct values than one statement names (ROWS_PER_UPSERT), half of them stored.
    many = {f"id-{n}": 1 + n % 3 for n in range(cell_store.ROWS_PER_UPSERT + 50)}
    await _add(session.id, plan.play.id, field_id, added(dict(list(many.items())[::2])))
    await _add(session.id, plan.play.id, field_id, added(many))
    assert await _stored(session.id, field_id) == _both(expected)


async def test_a_value_whose_row_went_away_is_inserted_again_once(db) -> None:
    plan, session = await _session()
    field_id = plan.f("event_info.current_page_name")
    # Enough values of one increment that MariaDB adds it by UPDATE (ROWS_PER_UPDATE).
    values = {f"v-{n}": 2 for n in range(cell_store.ROWS_PER_UPDATE)}
    await _add(session.id, plan.play.id, field_id, {**values, "player": 1})
    # Gone (as a reset in another process would leave them), while the writer counts them
    # again: one in the UPDATE's list, one alone (the upsert's).
    for gone in ("v-3", "player"):
        await CellValue.filter(session_id=session.id, field_id=field_id, value=gone).delete()
    await _add(session.id, plan.play.id, field_id, {**values, "player": 7})
    assert await _stored(session.id, field_id) == _both(
        {**{v: 4 for v in values}, "v-3": 2, "player": 7}
    )
    rows = await CellValue.filter(session_id=session.id, field_id=field_id, value="v-3")
    assert [row.example_log_id for row in rows] == [4, 4]  # the new row's own example
