"""The batch tally (`BatchTally.add_logs`, used by ingest) counts exactly as one log at a time.

`one_log_at_a_time` below is the rule written plainly for one log after another (the
tally's code before it learned batches); `add_logs` does the work once per distinct
check of a batch. Hypothesis draws batches whose checks repeat (as cached
checks of enumerated fields do), share a value across different check objects,
differ only in reason, or are missing, and cells whose tracker is full or nearly
full, and the two must leave the same cells, values and tracker behind.
"""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from trackmaster.checks import FieldCheck
from trackmaster.models import Verdict
from trackmaster.sessions.cells import (
    EVENT_FIELD,
    RANK,
    REASON_CHARS,
    VALUES_PER_CELL,
    BatchTally,
    CellTally,
    ValueTally,
    ValueTracker,
    log_columns,
    value_digest,
)

VERDICTS = [Verdict.SUCCESS, Verdict.FAIL, Verdict.UNCERTAIN, Verdict.UNTESTED]


def one_log_at_a_time(
    tally: BatchTally, session_id: int, event_id: int, platform: str, log_id: int,
    checks: list[FieldCheck], tracker: ValueTracker | None,
) -> None:  # fmt: skip
    """Each field's cell (count, newest reason of its verdict), its value, and the event row
    (counted by its worst field, the first of the worst)."""
    worst_rank, worst_check = -1, None
    for check in checks:
        cell = tally.cells.setdefault((session_id, event_id, check.field_id, platform), CellTally())
        cell.add(check.verdict, check.reason, check.code, log_id)
        if RANK[check.verdict] > worst_rank:
            worst_rank, worst_check = RANK[check.verdict], check
        digest = (
            tracker.admit((event_id, check.field_id, platform), check.kind, check.value)
            if tracker is not None
            else value_digest(check.kind, check.value)
        )
        if digest is None:
            cell.other_values += 1
            continue
        value = tally.values.setdefault(
            (session_id, event_id, check.field_id, platform, digest),
            ValueTally(check.kind, check.value, check.verdict, check.code,
                       check.reason[:REASON_CHARS], log_id),
        )  # fmt: skip
        value.count += 1
    row = tally.cells.setdefault((session_id, event_id, EVENT_FIELD, platform), CellTally())
    row.caught += 1
    if worst_check is not None:
        row.add(worst_check.verdict, worst_check.reason, worst_check.code, log_id)
    elif log_id > row.last_log_id:
        row.last_log_id = log_id


@st.composite
def pools(draw: st.DrawFn) -> list[FieldCheck]:
    """A few check objects per field; some share a value, some only their reason differs."""
    checks = []
    for field_id in draw(st.lists(st.integers(1, 4), min_size=1, max_size=4, unique=True)):
        for _ in range(draw(st.integers(1, 4))):
            found = draw(st.booleans())
            value = draw(st.sampled_from(["a", "b", "1", "x" * 600])) if found else None
            kind = draw(st.sampled_from(["string", "number"])) if found else ""
            checks.append(
                FieldCheck(
                    field_id,
                    found,
                    value,
                    draw(st.sampled_from(VERDICTS)),
                    draw(st.sampled_from(["r1", "r2", "y" * 700])),
                    draw(st.sampled_from(["", "c"])),
                    kind,
                )
            )
    return checks


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[tuple[int, list[FieldCheck]]], int]:
    pool = draw(pools())
    logs = []
    log_id = draw(st.integers(1, 50))
    for _ in range(draw(st.integers(1, 12))):
        log_id += draw(st.integers(1, 3))
        logs.append((log_id, draw(st.lists(st.sampled_from(pool), max_size=6))))
    # Values the tracker already keeps: 0, or close to the cap, or at it.
    kept = draw(st.sampled_from([0, VALUES_PER_CELL - 2, VALUES_PER_CELL]))
    return logs, kept


def tracker_with(kept: int) -> ValueTracker:
    rows = [
        (7, field_id, "iOS", "string", f"old-{n}", f"digest-{field_id}-{n}")
        for field_id in range(1, 5)
        for n in range(kept)
    ]
    return ValueTracker.restore(rows)


@settings(max_examples=400, deadline=None)
@given(batches(), st.booleans())
def test_the_batch_tally_equals_one_log_at_a_time(batch, with_tracker: bool) -> None:
    logs, kept = batch
    one, many = BatchTally(), BatchTally()
    one_tracker = tracker_with(kept) if with_tracker else None
    many_tracker = tracker_with(kept) if with_tracker else None
    for log_id, checks in logs:
        one_log_at_a_time(one, 3, 7, "iOS", log_id, checks, one_tracker)
    many.add_logs(3, 7, "iOS", logs, many_tracker)
    assert many.cells == one.cells
    assert many.values == one.values
    if with_tracker:
        assert many_tracker._kept == one_tracker._kept  # the same values admitted, in order
        assert [list(v) for v in many_tracker._kept.values()] == [
            list(v) for v in one_tracker._kept.values()
        ]


def test_a_batch_after_a_batch_keeps_the_newest_reason() -> None:
    """Two calls on one tally: the second batch's reasons replace the first's."""
    old = FieldCheck(1, True, "a", Verdict.FAIL, "old reason", "c", "string")
    new = FieldCheck(1, True, "b", Verdict.FAIL, "new reason", "c2", "string")
    tally = BatchTally()
    tally.add_logs(3, 7, "iOS", [(1, [new]), (2, [old])], None)
    tally.add_logs(3, 7, "iOS", [(3, [new]), (4, [old]), (5, [new])], None)
    cell = tally.cells[(3, 7, 1, "iOS")]
    assert (cell.fail, cell.fail_reason, cell.fail_code, cell.last_log_id) == (
        5, "new reason", "c2", 5,
    )  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 5), max_size=8), st.lists(st.text(max_size=5), min_size=6, max_size=6)
)
def test_log_columns_write_what_the_dicts_serialise_to(picks: list[int], texts: list[str]) -> None:
    """The stored columns are the JSON of {field_id: value} and {field_id: [verdict, reason,
    code]}, whether a check is written for the first time or again (its kept members)."""
    pool = [
        FieldCheck(10 + n, n % 2 == 0, texts[n] if n % 2 == 0 else None, VERDICTS[n % 3],
                   f"reason \u00e9 \"{texts[n]}\"", "c" if n % 3 else "", "string")
        for n in range(6)
    ]  # fmt: skip
    unique = list({pool[n].field_id: pool[n] for n in picks}.values())
    for _ in range(2):  # the second time from the kept members
        values, verdicts = log_columns(unique)
        assert (
            values
            == orjson.dumps(
                {c.field_id: c.value for c in unique}, option=orjson.OPT_NON_STR_KEYS
            ).decode()
        )
        assert (
            verdicts
            == orjson.dumps(
                {c.field_id: [c.verdict, c.reason, c.code] for c in unique},
                option=orjson.OPT_NON_STR_KEYS,
            ).decode()
        )
        assert orjson.loads(verdicts) == {
            str(c.field_id): [c.verdict.value, c.reason, c.code] for c in unique
        }
