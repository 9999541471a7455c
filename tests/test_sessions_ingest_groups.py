"""Group commit in the ingest path, on the real databases: concurrent batches share one
transaction, each caller is answered only once its rows are durable, the counts are those
of storing the batches one by one, and a batch that fails takes none of the others down."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from tests.support.realtime import make_plan, play_log
from trackmaster.bus import MemoryBus
from trackmaster.models import CellValue, CoverageValue, EventLog, Platform, UnplannedProperty
from trackmaster.sessions import _sql, cell_store
from trackmaster.sessions.actions import reset_event
from trackmaster.sessions.cells import VALUES_PER_CELL
from trackmaster.sessions.ingest import Ingestor
from trackmaster.sessions.lifecycle import Lifecycle
from trackmaster.sessions.live import LiveIndex
from trackmaster.sources import CaughtEvent

ROUNDS = 10  # bounded: each round is 6 concurrent batches; grouping shows in the first ones
OSES = ("iOS", "Android", "web")


def batch(tag: str, n: int, name: str = "play_click") -> list[CaughtEvent]:
    events = []
    for i in range(n):
        os = OSES[i % 3]
        payload = play_log(page=("home", "search", "player")[i % 3], os=os, extra_key=i)
        platform = {"iOS": Platform.IOS, "Android": Platform.ANDROID}.get(os, Platform.OTHER)
        events.append(
            CaughtEvent(name, "alice-42", platform, payload, "collect", f"{tag}-{i}", None)
        )
    return events


class HeldBus(MemoryBus):
    """Holds the next `logs` message's publishing (after a commit) until `release`."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = False
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def publish(self, channel: str, message: dict) -> None:
        if self.hold and message["type"] == "logs":
            self.hold = False
            self.holding.set()
            await self.release.wait()
        await super().publish(channel, message)


async def until(condition, timeout_s: float = 10.0) -> None:
    for _ in range(int(timeout_s / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out waiting")


async def live(name: str, group_commit: bool, bus: MemoryBus | None = None):
    bus = bus or MemoryBus()
    index = LiveIndex(ttl_s=60)
    plan = await make_plan(name)
    session = await Lifecycle(index, bus, limit_s=3600).start(
        plan.project.id, ["alice-42"], [plan.play.id, plan.share.id]
    )
    return plan, session, Ingestor(index, bus, group_commit=group_commit), bus


def counts(cells: dict) -> dict:
    return {
        (field, platform): (state.verdict, dict(state.total), dict(state.outstanding))
        for (_, field, platform), state in cells.items()
    }


async def test_concurrent_batches_share_transactions_and_count_as_one_by_one(db) -> None:
    grouped_plan, grouped, ingestor, bus = await live("grouped", True)
    alone_plan, alone, one_by_one, _ = await live("alone", False)
    sent = 0
    async with bus.subscribe(f"session:{grouped.id}") as messages:
        for round_ in range(ROUNDS):
            batches = [batch(f"r{round_}b{b}", 7) for b in range(6)]
            reports = await asyncio.gather(
                *(ingestor.ingest(grouped_plan.project.id, events) for events in batches)
            )
            # Answered means durable: every log a report names is there once it returned.
            for report in reports:
                ids = report.log_ids[grouped.id]
                assert await EventLog.filter(id__in=ids).count() == len(ids) == report.stored
            for events in batches:
                await one_by_one.ingest(alone_plan.project.id, events)
            sent += 42
            if ingestor.groups.batches > ingestor.groups.groups and round_ >= 1:
                break  # batches grouped: the comparison below has something to prove
        published = []
        while True:
            try:
                published.append(await asyncio.wait_for(messages.get(), 0.5))
            except TimeoutError:
                break
    assert ingestor.groups.batches > ingestor.groups.groups, "no two batches ever grouped"
    assert await EventLog.filter(session_id=grouped.id).count() == sent
    grouped_cells, grouped_events = await cell_store.load_cells(grouped.id)
    alone_cells, alone_events = await cell_store.load_cells(alone.id)
    # Field ids differ between the two plans; the keys of the plan say which is which.
    by_key = {grouped_plan.f(k): alone_plan.f(k) for k in grouped_plan.fields}
    assert {(by_key[f], p): v for (f, p), v in counts(grouped_cells).items()} == counts(alone_cells)

    def event_rows(rows: dict) -> list[tuple[int, ...]]:
        return sorted(
            (v.caught, v.since_reset, v.success, v.fail, v.uncertain) for v in rows.values()
        )

    assert event_rows(grouped_events) == event_rows(alone_events)
    assert await UnplannedProperty.filter(session_id=grouped.id).count() == (
        await UnplannedProperty.filter(session_id=alone.id).count()
    )
    for session in (grouped, alone):  # every event sends one unplanned key, extra_key
        unplanned = await UnplannedProperty.filter(session_id=session.id).values_list(
            "key", "count"
        )
        assert {k for k, _ in unplanned} == {"extra_key"}
        assert sum(c for _, c in unplanned) == sent
    assert await CoverageValue.filter(session_id=grouped.id).count() == (
        await CoverageValue.filter(session_id=alone.id).count()
    )
    # One message per group and session, naming every new log exactly once.
    logged = [i for m in published if m["type"] == "logs" for i in m["log_ids"]]
    assert sorted(logged) == sorted(
        await EventLog.filter(session_id=grouped.id).values_list("id", flat=True)
    )
    revisions = [m["revision"] for m in published if m["type"] == "logs"]
    assert revisions == sorted(revisions) and len(set(revisions)) == len(revisions)


async def test_a_failing_batch_does_not_take_the_others_of_its_group_down(db, monkeypatch) -> None:
    plan, session, ingestor, _ = await live("poison", True)
    real_steps = cell_store.add_batch_steps

    def add_batch_steps(conn, tally):
        # The share_click batch fails inside the transaction, after its logs were inserted.
        if any(key[1] == plan.share.id for key in tally.cells):
            raise RuntimeError("the poisoned batch's transaction fails")
        return (yield from real_steps(conn, tally))

    monkeypatch.setattr(cell_store, "add_batch_steps", add_batch_steps)
    for round_ in range(ROUNDS):
        good = [batch(f"g{round_}-{b}", 5) for b in range(4)]
        bad = batch(f"p{round_}", 5, name="share_click")
        results = await asyncio.gather(
            *(ingestor.ingest(plan.project.id, events) for events in [*good[:2], bad, *good[2:]]),
            return_exceptions=True,
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        assert len(failures) == 1 and "poisoned" in str(failures[0])
        assert all(r.stored == 5 for r in results if not isinstance(r, BaseException))
        if ingestor.groups.split:
            break
    assert ingestor.groups.split, "the poisoned batch never shared a transaction"
    stored = await EventLog.filter(session_id=session.id).values_list("name", flat=True)
    assert set(stored) == {"play_click"}  # nothing of the failed batch was kept
    assert len(stored) == 20 * (round_ + 1)
    _, events = await cell_store.load_cells(session.id)
    assert sum(v.caught for (event, _), v in events.items() if event == plan.play.id) == len(stored)


@pytest.mark.parametrize("grouped", [True, False])
async def test_the_same_message_id_in_two_concurrent_batches_is_stored_once(db, grouped) -> None:
    plan, session, ingestor, _ = await live("dupes", grouped)
    same = batch("same", 4)
    reports = await asyncio.gather(*(ingestor.ingest(plan.project.id, same) for _ in range(3)))
    assert sum(r.stored for r in reports) == 4
    assert sum(r.duplicates for r in reports) == 8
    assert await EventLog.filter(session_id=session.id).count() == 4


@pytest.mark.parametrize("message_ids", [True, False])
async def test_a_writer_cancelled_while_it_publishes_does_not_store_its_batch_twice(
    db, message_ids
) -> None:
    # From the review: the writer cancelled after the commit (during the publish) answered
    # GroupFailed and ingest() stored the batch again: logs without a message id twice,
    # logs with one reported as duplicates although they had just been stored.
    bus = HeldBus()
    plan, session, ingestor, _ = await live("cancelled", True, bus)
    events = batch("c", 5)
    if not message_ids:
        events = [dataclasses.replace(e, message_id=None) for e in events]
    bus.hold = True
    caller = asyncio.create_task(ingestor.ingest(plan.project.id, events))
    await asyncio.wait_for(bus.holding.wait(), 10)
    assert ingestor.groups._writer is not None
    ingestor.groups._writer.cancel()
    report = await asyncio.wait_for(caller, 10)
    assert (report.stored, report.duplicates) == (5, 0)
    assert await EventLog.filter(session_id=session.id).count() == 5
    _, rows = await cell_store.load_cells(session.id)
    assert sum(v.caught for v in rows.values()) == 5
    bus.release.set()


async def test_a_caller_cancelled_during_its_groups_transaction_has_it_stored_once(
    db, monkeypatch
) -> None:
    plan, session, ingestor, _ = await live("gone", True)
    inside, go_on = asyncio.Event(), asyncio.Event()
    real_run = _sql.run_in_one_hop

    async def run_in_one_hop(conn, steps):
        # The group's statements wait inside its transaction (BEGIN sent) until let go.
        inside.set()
        await go_on.wait()
        return await real_run(conn, steps)

    monkeypatch.setattr(_sql, "run_in_one_hop", run_in_one_hop)
    events = [dataclasses.replace(e, message_id=None) for e in batch("g", 4)]
    caller = asyncio.create_task(ingestor.ingest(plan.project.id, events))
    await asyncio.wait_for(inside.wait(), 10)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    go_on.set()
    await until(lambda: ingestor.groups.groups == 1 and ingestor.groups._writer is None)
    assert await EventLog.filter(session_id=session.id).count() == 4  # once, never again
    _, rows = await cell_store.load_cells(session.id)
    assert sum(v.caught for v in rows.values()) == 4


def page_ids(tag: str, ids: list[str]) -> list[CaughtEvent]:
    payloads = [play_log(page="home", page_info={"id": i}) for i in ids]
    return [
        CaughtEvent("play_click", "alice-42", Platform.IOS, p, "collect", f"{tag}-{n}", None)
        for n, p in enumerate(payloads)
    ]


async def reset_between_two_batches(name: str, max_group: int):
    """A full cell; then batch A prepared before a reset of the event, batch B after it,
    both waiting behind one transaction, then stored (together when max_group allows)."""
    bus = HeldBus()
    plan, session, ingestor, _ = await live(name, True, bus)
    ingestor.groups.max_group = max_group
    index = ingestor.index
    project = plan.project.id
    await ingestor.ingest(project, page_ids("fill", [f"p{n}" for n in range(VALUES_PER_CELL)]))
    bus.hold = True
    blocker = asyncio.create_task(ingestor.ingest(project, page_ids("x", ["p1"])))
    await asyncio.wait_for(bus.holding.wait(), 10)  # committed, its writer still publishing
    before = asyncio.create_task(ingestor.ingest(project, page_ids("a", ["p0", "p0"])))
    await until(lambda: len(ingestor.groups._waiting) == 1)
    await reset_event(bus, session, plan.play.id, "start again", "alice", index=index)
    after = asyncio.create_task(
        ingestor.ingest(project, page_ids("b", [f"q{n}" for n in range(9)]))
    )
    await until(lambda: len(ingestor.groups._waiting) == 2)
    bus.release.set()
    await asyncio.gather(blocker, before, after)
    cells, rows = await cell_store.load_cells(session.id)
    by_key = {plan.f(k): k for k in plan.fields}
    kept = await CellValue.filter(session_id=session.id).values_list(
        "field_id", "platform", "value", "count"
    )
    return (
        ingestor.groups,
        {(by_key[f], p): v for (f, p), v in counts(cells).items()},
        sorted((by_key[f], str(p), v, c) for f, p, v, c in kept),
        sorted((v.caught, v.since_reset, v.success, v.fail, v.uncertain) for v in rows.values()),
    )


async def test_a_reset_between_two_grouped_batches_counts_as_one_by_one(db) -> None:
    # From the review: a group was tallied with its FIRST batch's target, so a batch
    # prepared after a reset used the kept values of before it (a full cell: its new
    # values were not kept) and the plan of before it.
    grouped, *together = await reset_between_two_batches("together", 16)
    alone, *one_by_one = await reset_between_two_batches("alone", 1)
    assert grouped.batches - grouped.groups == 1  # A and B shared a transaction
    assert alone.batches == alone.groups
    assert together == one_by_one
    kept_values = {v for key, _, v, _ in together[1] if key == "page_info.id"}
    assert kept_values == {"p0", *(f"q{n}" for n in range(9))}
