"""The live feed applies what ingest says it changed, and reads only that.

A frame of caught events reads the cells of the events the batch names, the new log
rows and their events' parity; the session row, the plan and the overrides stay the
feed's own. What it shows must equal a page rendered from scratch after every kind of
change (caught events on each platform, an override, a reset, a clear, a plan change).
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.support.realtime import make_plan, play_log
from trackmaster.bus import MemoryBus
from trackmaster.models import Field, Platform
from trackmaster.sessions import actions
from trackmaster.sessions.ingest import Ingestor
from trackmaster.sessions.lifecycle import Lifecycle
from trackmaster.sessions.live import LiveIndex
from trackmaster.sources import CaughtEvent
from web import confirmations, streams
from web.session_view import load_snapshot

assert confirmations  # imported for the template global the rendered fragments use

PLATFORM = {"iOS": Platform.IOS, "Android": Platform.ANDROID, "Windows": Platform.OTHER}


@pytest.fixture
async def live(db):
    plan = await make_plan()
    bus = MemoryBus()
    index = LiveIndex(ttl_s=60)
    lifecycle = Lifecycle(index, bus, limit_s=3600)
    session = await lifecycle.start(plan.project.id, ["alice-42"], [plan.play.id, plan.share.id])
    feed = streams.SessionFeed(session.id, bus, frames_per_s=1000.0)
    await feed.ready.wait()
    yield plan, bus, session, Ingestor(index, bus), feed
    feed.close()


def caught(name: str, n: int, os: str = "iOS", **log) -> CaughtEvent:
    payload = play_log(os=os, **log)
    payload["event_info"]["event"] = name
    return CaughtEvent(name, "alice-42", PLATFORM[os], payload, "collect", f"m-{n}", None)


async def next_frame(feed: streams.SessionFeed, seq: int) -> streams.Frame:
    async with asyncio.timeout(10):
        while feed.seq == seq:
            await feed.wait_after(seq, feed.epoch)
    return feed.frames[-1]


async def assert_shows_what_a_new_page_would(feed: streams.SessionFeed) -> None:
    fresh = await load_snapshot(feed.session)
    shown = feed._snapshot
    assert shown.plan == fresh.plan
    assert shown.cells == fresh.cells
    assert shown.counts == fresh.counts
    assert [(r.dom_id, r.key()) for r in shown.coverage] == [
        (r.dom_id, r.key()) for r in fresh.coverage
    ]
    assert shown.unplanned == fresh.unplanned


class Queries(logging.Handler):
    """The SQL statements Tortoise sends while it is attached."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.sql: list[tuple[str, list]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.args, tuple) and len(record.args) == 2:
            query, values = record.args
            self.sql.append((str(query), list(values or ())))
        else:
            self.sql.append((record.getMessage(), []))


async def test_caught_events_are_applied_from_the_changed_cells(live) -> None:
    plan, bus, _, ingestor, feed = live
    project = plan.project.id
    steps = [
        [caught("play_click", 1, page="home")],
        [caught("play_click", 2, os="Android", page="nowhere"), caught("share_click", 3)],
        [caught("share_click", n, os="Windows", share={"channel": "weibo"}) for n in (4, 5)],
    ]
    for batch in steps:
        seq = feed.seq
        await ingestor.ingest(project, batch)
        frame = await next_frame(feed, seq)
        assert frame.log_id == feed.log_id > 0
        await assert_shows_what_a_new_page_would(feed)
    # A tester's override and reset, and more events after each: still the same.
    field = plan.f("event_info.current_page_name")
    body = [{"id": field, "results": {"iOS": "SUCCESS"}, "reason": "checked by hand"}]
    for act in (
        lambda: actions.override_fields(bus, feed.session, body, "alice"),
        lambda: ingestor.ingest(project, [caught("play_click", 6, page="nowhere")]),
        lambda: actions.reset_event(bus, feed.session, plan.play.id, "again", "alice"),
        lambda: ingestor.ingest(project, [caught("play_click", 7, page="player")]),
        lambda: actions.clear_logs(bus, feed.session, "alice"),
        lambda: ingestor.ingest(project, [caught("play_click", 8, os="Android")]),
    ):
        seq = feed.seq
        await act()
        await next_frame(feed, seq)
        await assert_shows_what_a_new_page_would(feed)


async def test_a_frame_of_caught_events_reads_only_the_events_it_names(live) -> None:
    plan, _, _, ingestor, feed = live
    seq = feed.seq
    await ingestor.ingest(plan.project.id, [caught("share_click", 1)])  # both events counted
    await next_frame(feed, seq)
    queries = Queries()
    db_log = logging.getLogger("tortoise.db_client")
    level = db_log.level
    seq = feed.seq
    await ingestor.ingest(plan.project.id, [caught("play_click", 2, page="player")])
    # Published: the feed has not run yet (nothing awaited since); what follows is its frame.
    db_log.setLevel(logging.DEBUG)
    db_log.addHandler(queries)
    try:
        frame = await next_frame(feed, seq)
    finally:
        db_log.removeHandler(queries)
        db_log.setLevel(level)
    html = frame.chunk.data.decode()
    assert f'id="cell-{plan.play.id}-{plan.f("page_info.id")}-iOS" hx-swap-oob="true"' in html
    assert f'id="cell-{plan.share.id}-' not in html, "the other event's cells did not change"
    reads = [(q, v) for q, v in queries.sql if q.lstrip().upper().startswith("SELECT")]
    # What the feed keeps is not read again for a frame of caught events.
    for table in ("test_session", "verdict_override", "session_event", "field"):
        assert not any(f'FROM "{table}"' in q or f"FROM `{table}`" in q for q, _ in reads), table
    cell_reads = [(q, v) for q, v in reads if "result_cell" in q]
    assert cell_reads, "the changed cells were read"
    for _, values in cell_reads:  # [session, event ids...]: only the event caught
        assert values[1:] == [plan.play.id], values
    assert len(reads) <= 8, [q for q, _ in reads]
    await assert_shows_what_a_new_page_would(feed)


async def test_a_plan_change_seen_in_the_changed_cells_reads_the_session_whole(live) -> None:
    plan, _, _, ingestor, feed = live
    await ingestor.ingest(plan.project.id, [caught("play_click", 1)])
    await next_frame(feed, 0)
    new_field = await Field.create(event=plan.play, key="content_info.id", values=[])
    ingestor.index.invalidate(plan.project.id)  # what a sync in this process does
    seq = feed.seq
    await ingestor.ingest(plan.project.id, [caught("play_click", 2)])
    frame = await next_frame(feed, seq)
    assert 'hx-target="#matrix"' in frame.chunk.data.decode(), "the matrix gained a row"
    assert any(f.id == new_field.id for e in feed._snapshot.plan.events for f in e.fields)
    await assert_shows_what_a_new_page_would(feed)
