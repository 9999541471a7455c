"""Results cells: every caught event counts, a FAIL stays until a person acts (both databases).

The aggregation table is driven through its real writers (the ingest path's
upserts, the override and reset actions) on SQLite and MariaDB, and compared
with a replay of the history written straight from the rule in words: since
the last reset, the worst of the newest override's verdict and the verdict of
every event caught after that override.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest
from tortoise.transactions import in_transaction

from tests.support.realtime import make_plan, play_log
from trackmaster.bus import MemoryBus
from trackmaster.checks import FieldCheck
from trackmaster.models import CellValue, Platform, ResultCell, Verdict
from trackmaster.sessions import actions, cell_store
from trackmaster.sessions.cells import (
    EVENT_FIELD,
    VALUES_PER_CELL,
    BatchTally,
    CellState,
    ValueTracker,
    worst,
)
from trackmaster.sessions.ingest import Ingestor
from trackmaster.sessions.lifecycle import Lifecycle
from trackmaster.sessions.live import LiveIndex
from trackmaster.sessions.publish import bump_revisions
from trackmaster.sources import CaughtEvent
from web.api.results_json import session_results

S, F, U = Verdict.SUCCESS, Verdict.FAIL, Verdict.UNCERTAIN
# One step of a history: an event judged S/F/U, an override to S or F, or a reset.
STEPS = ("S", "F", "U", "override S", "override F", "reset")


def expected(history: list[str]) -> tuple[Verdict, dict[str, int], int]:
    """The rule in words, replayed: (verdict, outstanding counts, events since the reset)."""
    if "reset" in history:
        history = history[len(history) - history[::-1].index("reset") :]
    since_reset = history
    overrides = [i for i, step in enumerate(since_reset) if step.startswith("override")]
    after = since_reset[overrides[-1] + 1 :] if overrides else since_reset
    judged = [VERDICT_OF[s] for s in after if len(s) == 1]
    verdicts = list(judged)
    if overrides:
        verdicts.append(VERDICT_OF[since_reset[overrides[-1]][-1]])
    counts = {v.value: sum(1 for j in judged if j is v) for v in (S, F, U)}
    events = sum(1 for s in since_reset if len(s) == 1)
    return worst(verdicts), counts, events


# --- pure: how a row reads ---------------------------------------------------------------


def row(o=(0, 0, 0), n=None, override=None) -> dict:
    n = n or o
    return {
        "o_success": o[0], "o_fail": o[1], "o_uncertain": o[2],
        "n_success": n[0], "n_fail": n[1], "n_uncertain": n[2],
        "success_reason": "ok", "fail_reason": "bad", "fail_code": "unexpected_value",
        "uncertain_reason": "look", "uncertain_code": "needs_review",
        "override_verdict": override, "override_id": 1 if override else None,
    }  # fmt: skip


def test_the_worst_outstanding_verdict_shows_with_its_count() -> None:
    state = CellState.from_row(row((200, 100, 0)))
    assert (state.verdict, state.label, state.code) == (F, "FAIL 100 of 300", "unexpected_value")
    assert CellState.from_row(row((3, 0, 1))).label == "UNCERTAIN 1 of 4"
    assert CellState.from_row(row((3, 0, 0))).label == "SUCCESS 3 of 3"
    assert CellState.from_row(row()).verdict is Verdict.UNTESTED


def test_an_override_decides_until_something_worse_comes_after_it() -> None:
    assert CellState.from_row(row((0, 0, 0), (5, 5, 0), "SUCCESS")).verdict is S
    assert CellState.from_row(row((4, 0, 0), (5, 5, 0), "FAIL")).verdict is F
    after = CellState.from_row(row((4, 1, 0), (5, 6, 0), "SUCCESS"))
    assert (after.verdict, after.label, after.from_override) == (F, "FAIL 1 of 5", False)


def test_a_tracker_keeps_at_most_its_cap_of_distinct_values_per_cell() -> None:
    tracker = ValueTracker()
    cell = (1, 2, "iOS")
    digests = [tracker.admit(cell, "string", f"v{n}") for n in range(VALUES_PER_CELL + 5)]
    assert all(digests[:VALUES_PER_CELL]) and digests[VALUES_PER_CELL:] == [None] * 5
    # A kept value stays kept; "1" and 1 are two values; the other cell has room.
    assert tracker.admit(cell, "string", "v0") == digests[0]
    assert tracker.admit((1, 3, "iOS"), "string", "v0") is not None
    assert tracker.admit((1, 3, "iOS"), "number", "v0") != tracker.admit(
        (1, 3, "iOS"), "string", "v0"
    )


# --- the table, on both databases ---------------------------------------------------------


@pytest.fixture
async def setup(db):
    plan = await make_plan()
    bus = MemoryBus()
    index = LiveIndex(ttl_s=60)
    lifecycle = Lifecycle(index, bus, limit_s=3600)
    return plan, bus, index, lifecycle, Ingestor(index, bus)


def caught(page: str, message_id: str, os: str = "iOS") -> CaughtEvent:
    platform = Platform.IOS if os == "iOS" else Platform.ANDROID
    return CaughtEvent(
        "play_click", "alice-42", platform, play_log(page=page, os=os), "collect", message_id, None
    )


async def store(
    session_id: int, event_id: int, field_id: int, verdict: Verdict, log_id: int
) -> None:
    """One judged event as the ingest transaction counts it (session row locked first)."""
    tally = BatchTally()
    check = FieldCheck(
        field_id, True, f"value-{verdict.value}", verdict, f"reason {verdict}", "c", "string"
    )
    tally.add_log(session_id, event_id, Platform.IOS, log_id, [check], None)
    async with in_transaction() as conn:
        await bump_revisions(conn, [session_id])
        await cell_store.add_batch(conn, tally)


async def read(session, event_id: int, field_id: int, platform: str = "iOS") -> dict:
    for event in await session_results(session):
        if event["id"] == event_id:
            for body in event["fields"]:
                if body["id"] == field_id:
                    return body["results"][platform]
    raise AssertionError("no such cell")


VERDICT_OF = {"S": S, "F": F, "U": U}


async def apply(bus, session, event_id: int, field_id: int, step: str, log_id: int) -> None:
    if step == "reset":
        await actions.reset_event(bus, session, event_id, "again", "tester")
    elif step.startswith("override"):
        verdict = "SUCCESS" if step.endswith("S") else "FAIL"
        body = [{"id": field_id, "results": {"iOS": verdict}, "reason": "by hand"}]
        await actions.override_fields(bus, session, body, "alice")
    else:
        await store(session.id, event_id, field_id, VERDICT_OF[step], log_id)


async def test_every_history_of_three_steps_reads_as_the_rule_says(setup) -> None:
    plan, bus, _, lifecycle, _ = setup
    session = await lifecycle.start(plan.project.id, ["alice-42"], [plan.play.id])
    keys = ("event_info.current_page_name", "content_info.type", "page_info.id")
    field_ids = [plan.f(key) for key in keys]
    histories = list(itertools.product(STEPS, repeat=3))
    # Histories without a reset run three at a time, one per field of the event;
    # a reset touches every field of the event, so those run one at a time.
    plain = [h for h in histories if "reset" not in h]
    rounds = [plain[i : i + 3] for i in range(0, len(plain), 3)]
    rounds += [[h] for h in histories if "reset" in h]
    assert sum(len(r) for r in rounds) == 216
    log_id = 0
    for histories_of_round in rounds:
        await actions.reset_event(bus, session, plan.play.id, "next round", "tester")
        for step_no in range(3):
            for field_id, history in zip(field_ids, histories_of_round, strict=False):
                log_id += 1
                await apply(bus, session, plan.play.id, field_id, history[step_no], log_id)
        for field_id, history in zip(field_ids, histories_of_round, strict=False):
            verdict, counts, events = expected(list(history))
            cell = await read(session, plan.play.id, field_id)
            assert cell["verdict"] == verdict.value, (history, cell)
            assert cell["counts"] == counts, (history, cell)
            assert sum(cell["total"].values()) == events, (history, cell)


@pytest.mark.parametrize("history", [
    ["F", "reset", "S"], ["override F", "reset"], ["F", "reset"], ["reset", "F", "S"],
    ["S", "override S", "reset", "U"], ["F", "S", "reset", "S", "S"],
])  # fmt: skip
async def test_a_reset_clears_the_cell_and_what_follows_counts_again(setup, history) -> None:
    plan, bus, _, lifecycle, _ = setup
    session = await lifecycle.start(plan.project.id, ["alice-42"], [plan.play.id])
    field_id = plan.f("page_info.id")
    for n, step in enumerate(history, start=1):
        await apply(bus, session, plan.play.id, field_id, step, n)
    verdict, counts, events = expected(history)
    cell = await read(session, plan.play.id, field_id)
    assert (cell["verdict"], cell["counts"], sum(cell["total"].values())) == (
        verdict.value,
        counts,
        events,
    )
    if history[-1] == "reset":
        assert cell["from"] == "reset" and cell["by"] == "tester"
        assert not await CellValue.filter(session_id=session.id, event_id=plan.play.id).exists()


async def test_three_hundred_events_a_third_failing_read_fail_100_of_300(setup) -> None:
    plan, _, _, lifecycle, ingestor = setup
    session = await lifecycle.start(plan.project.id, ["alice-42"], [plan.play.id])
    pages = ["home", "player", "nowhere"]
    events = [caught(pages[n % 3], f"m{n}", "Android") for n in range(300)]
    for start in range(0, 300, 100):  # three batches: counts add up across transactions
        await ingestor.ingest(plan.project.id, events[start : start + 100])
    cell = await read(session, plan.play.id, plan.f("event_info.current_page_name"), "Android")
    assert (cell["verdict"], cell["label"]) == ("FAIL", "FAIL 100 of 300")
    assert cell["counts"] == {"SUCCESS": 200, "FAIL": 100, "UNCERTAIN": 0}
    assert "nowhere" in cell["reason"] and cell["code"] == "unexpected_value"
    # A good event after them does not turn the cell green.
    await ingestor.ingest(
        plan.project.id,
        [
            CaughtEvent(
                "play_click",
                "alice-42",
                Platform.ANDROID,
                play_log(os="Android"),
                "collect",
                "late",
                None,
            )
        ],
    )
    cell = await read(session, plan.play.id, plan.f("event_info.current_page_name"), "Android")
    assert cell["label"] == "FAIL 100 of 301"
    # The distinct values: most frequent first, each with an example caught event.
    values, more = await cell_store.cell_values(
        session.id, plan.play.id, plan.f("event_info.current_page_name"), "Android", 10
    )
    assert [(v["value"], v["count"], v["verdict"]) for v in values] == [
        ("home", 101, "SUCCESS"),
        ("player", 100, "SUCCESS"),
        ("nowhere", 100, "FAIL"),
    ] and more == 0
    assert all(v["example_log_id"] > 0 for v in values)
    # The event row counts events by their worst field verdict, and every event caught.
    event_row = await ResultCell.get(
        session_id=session.id, event_id=plan.play.id, field_id=EVENT_FIELD, platform="Android"
    )
    # (page_info.id has no fixed value: UNCERTAIN is the worst of every good event.)
    assert (event_row.caught, event_row.n_fail, event_row.n_uncertain) == (301, 100, 201)
    # Other platforms were never caught.
    assert (await read(session, plan.play.id, plan.f("event_info.current_page_name"), "iOS"))[
        "verdict"
    ] == "UNTESTED"


async def test_an_override_covers_what_was_caught_and_a_later_failure_shows_again(setup) -> None:
    plan, bus, _, lifecycle, ingestor = setup
    session = await lifecycle.start(plan.project.id, ["alice-42"], [plan.play.id])
    page_field = plan.f("event_info.current_page_name")

    def ev(page: str, n: int) -> CaughtEvent:
        return CaughtEvent(
            "play_click", "alice-42", Platform.IOS, play_log(page=page), "collect", f"o{n}", None
        )

    await ingestor.ingest(plan.project.id, [ev("nowhere", 1), ev("home", 2)])
    assert (await read(session, plan.play.id, page_field))["label"] == "FAIL 1 of 2"
    await actions.override_fields(
        bus,
        session,
        [{"id": page_field, "results": {"iOS": "SUCCESS"}, "reason": "new page, fine"}],
        "alice",
    )
    cell = await read(session, plan.play.id, page_field)
    assert (cell["verdict"], cell["from"], cell["by"]) == ("SUCCESS", "override", "alice")
    assert cell["override"]["reason"] == "new page, fine"
    await ingestor.ingest(plan.project.id, [ev("home", 3)])
    assert (await read(session, plan.play.id, page_field))["verdict"] == "SUCCESS"
    await ingestor.ingest(plan.project.id, [ev("nowhere", 4), ev("home", 5)])
    cell = await read(session, plan.play.id, page_field)
    assert (cell["verdict"], cell["label"]) == ("FAIL", "FAIL 1 of 3")
    assert sum(cell["total"].values()) == 5  # every event since the reset stays counted


async def test_an_override_for_every_platform_covers_each_column(setup) -> None:
    plan, bus, _, lifecycle, _ = setup
    session = await lifecycle.start(plan.project.id, ["alice-42"], [plan.play.id])
    field_id = plan.f("page_info.id")
    await store(session.id, plan.play.id, field_id, F, 1)
    await actions.override_fields(
        bus,
        session,
        [
            {
                "id": field_id,
                "results": {"iOS": "SUCCESS", "Android": "SUCCESS", "Other": "SUCCESS"},
                "reason": "ok",
            }
        ],
        "alice",
    )
    for platform in ("iOS", "Android", "Other"):
        assert (await read(session, plan.play.id, field_id, platform))["verdict"] == "SUCCESS"


async def test_concurrent_batches_lose_no_count(setup) -> None:
    plan, _, _, lifecycle, ingestor = setup
    first = await lifecycle.start(plan.project.id, ["alice-42"], [plan.play.id])
    second = await lifecycle.start(plan.project.id, ["alice-42"], [plan.play.id])
    pages = ["home", "nowhere"]

    async def batch(n: int) -> None:
        events = [caught(pages[(n + k) % 2], f"c{n}-{k}") for k in range(20)]
        await ingestor.ingest(plan.project.id, events)

    # 16 batches at once: each is stored for both sessions in one transaction.
    await asyncio.gather(*(batch(n) for n in range(16)))
    for session in (first, second):
        cell = await read(session, plan.play.id, plan.f("event_info.current_page_name"))
        assert cell["counts"] == {"SUCCESS": 160, "FAIL": 160, "UNCERTAIN": 0}
        assert cell["label"] == "FAIL 160 of 320"
    values = await CellValue.filter(
        session_id=first.id, field_id=plan.f("event_info.current_page_name")
    ).values_list("value", "count")
    assert sorted(values) == [("home", 160), ("nowhere", 160)]


async def test_an_override_racing_ingest_covers_exactly_the_events_before_it(setup) -> None:
    plan, bus, _, lifecycle, ingestor = setup
    session = await lifecycle.start(plan.project.id, ["alice-42"], [plan.play.id])
    field_id = plan.f("event_info.current_page_name")

    async def failing(n: int) -> None:
        await ingestor.ingest(
            plan.project.id,
            [
                CaughtEvent(
                    "play_click",
                    "alice-42",
                    Platform.IOS,
                    play_log(page="nowhere"),
                    "collect",
                    f"r{n}",
                    None,
                )
            ],
        )

    async def override() -> None:
        await actions.override_fields(
            bus, session, [{"id": field_id, "results": {"iOS": "SUCCESS"}, "reason": "r"}], "alice"
        )

    await asyncio.gather(
        *(failing(n) for n in range(10)), override(), *(failing(n) for n in range(10, 20))
    )
    cell = await read(session, plan.play.id, field_id)
    state = await ResultCell.get(
        session_id=session.id, event_id=plan.play.id, field_id=field_id, platform="iOS"
    )
    # Every failing event is either covered by the override or outstanding, never lost.
    assert state.n_fail == 20 and state.o_fail <= 20
    from trackmaster.models import EventLog, VerdictOverride

    over = await VerdictOverride.get(session_id=session.id, kind="override")
    after = await EventLog.filter(session_id=session.id, id__gt=over.after_log_id).count()
    assert state.o_fail == after
    assert cell["verdict"] == ("FAIL" if after else "SUCCESS")
