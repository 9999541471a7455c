"""Ingestor._prepare checks a batch as it checks its events one after another.

What `_prepare` looks up once per batch (the sessions an account's event goes to at the
batch's one instant, where a source keeps its properties, each platform's text) must
give each event what its own lookup gives. A batch of events of several accounts,
names, platforms and shapes, some matched by two sessions, one session expired, some
unmatched and some resent, is prepared whole and one event at a time on two equal
snapshots: the same rows, first sightings, unmatched rows and duplicates.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from trackmaster.checks import Coverage, FieldRule
from trackmaster.checks.unplanned import PlannedKeys
from trackmaster.models import Platform
from trackmaster.sessions.cells import ValueTracker
from trackmaster.sessions.ingest import Ingestor, _Prepared
from trackmaster.sessions.live import LiveSession, ProjectSnapshot, Target
from trackmaster.sessions.plans import EventPlan
from trackmaster.sources import CaughtEvent

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def snapshot() -> ProjectSnapshot:
    rules = (FieldRule(1, "page.name", ("home", "player")), FieldRule(2, "page.id", ()))
    other = (FieldRule(3, "tier", ("free", "vip")),)
    play = EventPlan(7, rules, PlannedKeys(tuple(r.key for r in rules)))
    buy = EventPlan(8, other, PlannedKeys(("tier",)))
    hour = timedelta(hours=1)
    sessions = [
        LiveSession(1, 1, NOW + hour, frozenset({"u1", "u2"}), {"play": 7, "buy": 8},
                    rules + other, Coverage(rules + other), ValueTracker()),
        LiveSession(2, 1, NOW + hour, frozenset({"u1"}), {"play": 7}, rules, Coverage(rules),
                    ValueTracker()),
        LiveSession(3, 1, NOW - hour, frozenset({"u2"}), {"play": 7}, rules, Coverage(rules),
                    ValueTracker()),  # expired: catches nothing any more
    ]  # fmt: skip
    by_user_event: dict[tuple[str, str], list[Target]] = {}
    for session in sessions:
        for user in sorted(session.user_ids):
            for name, event_id in session.event_ids.items():
                plan = play if event_id == 7 else buy
                by_user_event.setdefault((user, name), []).append(Target(session, plan))
    return ProjectSnapshot(1, time.monotonic(), sessions, by_user_event)


def events() -> list[CaughtEvent]:
    made = []
    for n in range(24):
        user = ("u1", "u2", "u3")[n % 3]
        name = ("play", "buy", "play", "nothing")[n % 4]
        platform = (Platform.IOS, Platform.ANDROID, Platform.OTHER)[n // 3 % 3]
        page = {"name": ("home", "player", "search")[n % 3], "id": f"p-{n % 5}"}
        if n % 2:  # the SDK shape
            payload = {"event": name, "properties": {"page": page, "tier": "vip"}}
            source = "segment"
        else:  # a raw app log
            payload = {"page": page, "tier": ("free", "gold")[n % 2], "extra": n}
            source = "collect"
        message_id = f"m-{n % 20}"  # the last four are resent
        made.append(CaughtEvent(name, user, platform, payload, source, message_id, NOW))
    return made


def answer(prepared: _Prepared) -> tuple:
    return (
        prepared.rows,
        [(t.session.id, t.plan.event_id) for t in prepared.row_targets],
        prepared.row_coverage,
        prepared.row_platforms,
        prepared.row_checks,
        [[(u.key, u.suggestion) for u in found] for found in prepared.row_unplanned],
        prepared.unmatched,
        prepared.duplicates,
    )


def test_a_batch_is_prepared_as_its_events_one_after_another() -> None:
    ingestor = Ingestor.__new__(Ingestor)  # _prepare reads nothing of it
    batch = ingestor._prepare(snapshot(), 1, events(), NOW)
    one_by_one, alone = snapshot(), _Prepared()
    seen: set[tuple[int, str | None]] = set()
    for event in events():
        part = ingestor._prepare(one_by_one, 1, [event], NOW)
        for i, row in enumerate(part.rows):
            if (row[0], row[6]) in seen:  # a batch keeps the first of each message id
                alone.duplicates += 1
                continue
            seen.add((row[0], row[6]))
            alone.rows.append(row)
            alone.row_targets.append(part.row_targets[i])
            alone.row_coverage.append(part.row_coverage[i])
            alone.row_platforms.append(part.row_platforms[i])
            alone.row_checks.append(part.row_checks[i])
            alone.row_unplanned.append(part.row_unplanned[i])
        alone.unmatched += part.unmatched
    assert answer(batch) == answer(alone)
    # The case is what it says: two sessions, unmatched events, resends, first sightings.
    assert {row[0] for row in batch.rows} == {1, 2}
    assert batch.unmatched and batch.duplicates
    assert sum(map(len, batch.row_coverage)) >= 4
    assert {row[4] for row in batch.rows} == {"iOS", "Android", "Other"}


def test_a_group_writes_each_batchs_kept_rows_and_names_their_ids_per_batch() -> None:
    """_Write.plan over a group: rows of a batch written whole or in part (a message id an
    earlier batch carries), each log's id given back to its batch and session, and the
    first sightings at their logs' places."""
    from trackmaster.sessions.ingest import IngestReport, _Batch, _first_of_each_message, _Write

    ingestor = Ingestor.__new__(Ingestor)
    shared = snapshot()
    first = ingestor._prepare(shared, 1, events()[:12], NOW)
    second = ingestor._prepare(shared, 1, events()[6:], NOW)  # 6 events the first holds
    group = [_Batch(1, p, NOW, IngestReport()) for p in (first, second)]
    kept = _first_of_each_message(group)
    assert len(kept[0]) == len(first.rows) and 0 < len(kept[1]) < len(second.rows)
    write = _Write.plan(group, kept)
    expected = [first.rows[i] for i in kept[0]] + [second.rows[i] for i in kept[1]]
    assert write.rows == expected
    write.number([100 + 2 * n for n in range(len(expected))])
    per_batch: list[dict[int, list[int]]] = [{}, {}]
    for place, row in enumerate(expected):
        batch = 0 if place < len(kept[0]) else 1
        per_batch[batch].setdefault(row[0], []).append(100 + 2 * place)
    assert write.log_ids() == per_batch
    assert set(per_batch[0]) == {1, 2}  # two sessions in one batch
    claims = [
        (c, 100 + 2 * place)
        for place, coverage in enumerate(
            [first.row_coverage[i] for i in kept[0]] + [second.row_coverage[i] for i in kept[1]]
        )
        for c in coverage
    ]
    assert claims and [((row[1], row[3]), row[4]) for row in write.coverage] == claims
