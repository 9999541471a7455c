"""Ingest in the domain layer: match, check, store compactly, de-duplicate, bin the unmatched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.realtime import make_plan, play_log
from trackmaster.bus import MemoryBus
from trackmaster.models import CoverageValue, EventLog, Platform, Project, UnmatchedEvent
from trackmaster.sessions.ingest import Ingestor
from trackmaster.sessions.lifecycle import Lifecycle
from trackmaster.sessions.live import LiveIndex
from trackmaster.sources import CaughtEvent
from web.api.results_json import session_results


def caught(name="play_click", user="alice-42", payload=None, message_id=None, os="iOS"):
    payload = payload if payload is not None else play_log(os=os)
    platform = {"iOS": Platform.IOS, "Android": Platform.ANDROID}.get(os, Platform.OTHER)
    return CaughtEvent(name, user, platform, payload, "collect", message_id, None)


async def _result(session, event_id: int, field_id: int, platform: str) -> dict:
    for event in await session_results(session):
        if event["id"] == event_id:
            for body in event["fields"]:
                if body["id"] == field_id:
                    return body["results"][platform]
    raise AssertionError(f"no cell {event_id}/{field_id}/{platform}")


@pytest.fixture
def parts():
    bus = MemoryBus()
    index = LiveIndex(ttl_s=60)
    return (
        Lifecycle(index, bus, limit_s=3600),
        Ingestor(index, bus, unmatched_keep=3),
        bus,
    )


async def test_a_caught_event_is_stored_with_every_verdict_and_published(db, parts) -> None:
    lifecycle, ingestor, bus = parts
    plan = await make_plan()
    session = await lifecycle.start(plan.project.id, ["alice-42"], [plan.play.id])
    async with bus.subscribe(f"session:{session.id}") as sub:
        report = await ingestor.ingest(plan.project.id, [caught(payload=play_log(page="search"))])
        message = await sub.get()
    assert (report.stored, report.unmatched, report.duplicates) == (1, 0, 0)
    log = await EventLog.get(session_id=session.id)
    assert log.platform == Platform.IOS and log.name == "play_click"
    page = str(plan.f("event_info.current_page_name"))
    assert log.field_values[page] == "search"
    assert log.verdicts[page][0] == "FAIL" and "home" in log.verdicts[page][1]
    assert log.verdicts[str(plan.f("content_info.type"))][0] == "SUCCESS"
    assert log.verdicts[str(plan.f("page_info.id"))][0] == "UNCERTAIN"
    assert message["type"] == "logs" and message["log_ids"] == [log.id]
    assert message["revision"] == 1
    # The cell the page reads counts it at once.
    cell = await _result(session, plan.play.id, int(page), "iOS")
    assert (cell["verdict"], cell["counts"]["FAIL"], cell["logId"]) == ("FAIL", 1, log.id)
    assert isinstance(log.received_at, datetime) and log.received_at.tzinfo is not None


async def test_same_message_id_is_stored_once(db, parts) -> None:
    lifecycle, ingestor, _ = parts
    plan = await make_plan()
    await lifecycle.start(plan.project.id, ["alice-42"], [plan.play.id])
    first = await ingestor.ingest(
        plan.project.id, [caught(message_id="m1"), caught(message_id="m1")]
    )
    again = await ingestor.ingest(plan.project.id, [caught(message_id="m1")])
    assert (first.stored, first.duplicates) == (1, 1)
    assert (again.stored, again.duplicates) == (0, 1)
    assert await EventLog.all().count() == 1


async def test_coverage_rows_only_for_first_sightings(db, parts) -> None:
    lifecycle, ingestor, _ = parts
    plan = await make_plan()
    session = await lifecycle.start(plan.project.id, ["alice-42", "bob-7"], [plan.play.id])
    events = [caught(payload=play_log(page=p)) for p in ("home", "home", "player", "nowhere")]
    events.append(caught(user="bob-7", payload=play_log(page="home", os="Android"), os="Android"))
    await ingestor.ingest(plan.project.id, events)
    await ingestor.ingest(plan.project.id, [caught(payload=play_log(page="home"))])
    rows = await CoverageValue.filter(session_id=session.id).order_by("platform", "value")
    assert [(r.platform, r.value) for r in rows] == [
        (Platform.ANDROID, "home"),
        (Platform.IOS, "home"),
        (Platform.IOS, "player"),
    ]
    assert all(r.first_log_id for r in rows)


async def test_unmatched_events_are_counted_and_the_last_few_kept(db, parts) -> None:
    lifecycle, ingestor, _ = parts
    plan = await make_plan()
    await lifecycle.start(plan.project.id, ["alice-42"], [plan.play.id])
    events = [caught(user="stranger")] + [caught(name="search_submit") for _ in range(4)]
    report = await ingestor.ingest(plan.project.id, events)
    assert report.unmatched == 5 and report.stored == 0
    await ingestor.ingest(plan.project.id, [caught(user="someone-else")])
    project = await Project.get(id=plan.project.id)
    assert project.unmatched_count == 6
    kept = await UnmatchedEvent.filter(project_id=plan.project.id).order_by("id")
    assert len(kept) == 3  # unmatched_keep
    assert "someone-else" in kept[-1].reason
    assert "not watched" in kept[0].reason


async def test_no_live_session_and_expired_sessions_catch_nothing(db, parts) -> None:
    lifecycle, ingestor, _ = parts
    plan = await make_plan()
    report = await ingestor.ingest(plan.project.id, [caught()])
    assert report.unmatched == 1
    assert (await UnmatchedEvent.get()).reason == "no live session in this project"
    await lifecycle.start(plan.project.id, ["alice-42"], [plan.play.id])
    later = datetime.now(UTC) + timedelta(hours=2)
    report = await ingestor.ingest(plan.project.id, [caught()], received_at=later)
    assert report.unmatched == 1 and report.stored == 0


async def test_an_event_two_sessions_watch_is_stored_for_each(db, parts) -> None:
    lifecycle, ingestor, _ = parts
    plan = await make_plan()
    one = await lifecycle.start(plan.project.id, ["alice-42"], [plan.play.id])
    two = await lifecycle.start(plan.project.id, [plan.alice.id], [], [plan.player_story.id])
    report = await ingestor.ingest(plan.project.id, [caught(message_id="x")])
    assert report.stored == 2
    assert set(report.log_ids) == {one.id, two.id}
