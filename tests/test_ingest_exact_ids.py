"""Identity is exact on both databases: message ids and first-seen values.

MariaDB's collations pad with spaces (even `utf8mb4_bin`) and `*_ci` folds case, so its
unique indexes took "m-0 " or "M-0" for a stored "m-0" while the de-duplication, exact,
did not: the batch failed with 1062 on every retry and its honest events were never
stored (migrations/0009_exact_identity_text.py).
"""

from __future__ import annotations

import dataclasses

from tests.support.realtime import make_plan, play_log
from tests.test_sessions_ingest_groups import batch, live
from trackmaster.bus import MemoryBus
from trackmaster.models import CoverageValue, EventLog, Platform
from trackmaster.sessions.ingest import Ingestor
from trackmaster.sessions.lifecycle import Lifecycle
from trackmaster.sessions.live import LiveIndex
from trackmaster.sources import CaughtEvent


async def _stored_ids(session_id: int) -> list[str]:
    rows = (
        await EventLog.filter(session_id=session_id)
        .order_by("id")
        .values_list("message_id", flat=True)
    )
    return list(rows)


async def test_message_ids_that_differ_by_a_trailing_space_are_two_events(db) -> None:
    plan, session, ingestor, _ = await live("padspace", True)
    events = batch("m", 3)
    assert (await ingestor.ingest(plan.project.id, events[:1])).stored == 1
    padded = dataclasses.replace(events[0], message_id="m-0 ")
    report = await ingestor.ingest(plan.project.id, [padded, *events[1:]])
    assert (report.stored, report.duplicates) == (3, 0)
    # A true resend is still one event.
    again = await ingestor.ingest(plan.project.id, [events[0], padded])
    assert (again.stored, again.duplicates) == (0, 2)
    assert await _stored_ids(session.id) == ["m-0", "m-0 ", "m-1", "m-2"]


async def test_message_ids_that_differ_by_case_in_one_batch_are_two_events(db) -> None:
    plan, session, ingestor, _ = await live("case", True)
    events = batch("k", 2)
    upper = dataclasses.replace(events[0], message_id="K-0")
    report = await ingestor.ingest(plan.project.id, [events[0], upper, events[1]])
    assert (report.stored, report.duplicates) == (3, 0)
    assert sorted(await _stored_ids(session.id)) == ["K-0", "k-0", "k-1"]


async def test_planned_values_that_differ_by_case_or_a_space_are_each_seen(db) -> None:
    # Coverage tracks the plan's allowed values; a plan that allows "Home" and "home"
    # (an app sends both, on purpose) must see each as its own first sighting.
    bus, index = MemoryBus(), LiveIndex(ttl_s=60)
    plan = await make_plan("coverage-case")
    field = plan.fields["event_info.current_page_name"]
    field.values = field.raw_values = ["home", "Home", "home "]
    await field.save()
    session = await Lifecycle(index, bus, limit_s=3600).start(
        plan.project.id, ["alice-42"], [plan.play.id]
    )
    events = [
        CaughtEvent("play_click", "alice-42", Platform.IOS, play_log(page=page), "collect",
                    f"c-{n}", None)
        for n, page in enumerate(("home", "Home", "home "))
    ]  # fmt: skip
    assert (await Ingestor(index, bus).ingest(plan.project.id, events)).stored == 3
    seen = await CoverageValue.filter(session_id=session.id, field_id=field.id).values_list(
        "value", flat=True
    )
    assert sorted(seen) == ["Home", "home", "home "]
