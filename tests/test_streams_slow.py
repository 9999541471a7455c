"""Slow and vanished viewers: skipped forward to one refresh, dropped with one INFO line."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from tests.support.realtime import make_plan
from trackmaster.bus import MemoryBus
from trackmaster.models import SessionStatus, TestSession
from web import confirmations, streams
from web.sse_wire import Wire

assert confirmations  # imported for the template global the rendered fragments use


@pytest.fixture
async def session(db) -> TestSession:
    plan = await make_plan()
    expires_at = datetime.now(UTC) + timedelta(hours=1)
    return await TestSession.create(
        project=plan.project, status=SessionStatus.ON, expires_at=expires_at
    )


async def _allowed() -> bool:
    return True


def _viewer(feeds: streams.LiveFeeds, feed: streams.SessionFeed):
    """One page's stream, as session_stream makes it (its user always allowed here)."""
    lease = streams._Lease(feeds, feed, lambda: None)
    return streams._stream(lease, None, anyio.Event(), _allowed, 60.0, Wire(deflated=False))


async def test_a_slow_viewer_is_skipped_forward_to_one_full_refresh(session) -> None:
    feeds = streams.LiveFeeds(MemoryBus(), None, frames_per_s=50)
    feed = await feeds.acquire(session.id)
    viewer = _viewer(feeds, feed)
    try:
        first = await viewer.__anext__()
        assert b'hx-target="#matrix"' in first  # a new page: one full refresh
        # The viewer takes nothing while more frames than it may lag behind pile up.
        for n in range(streams.SKIP_AFTER_FRAMES + 1):
            feed._append(n + 1, n + 1, streams.encode_data(f"<p>delta {n}</p>"), final=False)
        caught_up = await asyncio.wait_for(viewer.__anext__(), timeout=5)
        assert b'hx-target="#matrix"' in caught_up, "a slow viewer gets one refresh"
        assert b"delta" not in caught_up
        # Once caught up, small updates come one by one again.
        feed._append(99, 99, streams.encode_data("<p>after</p>"), final=False)
        assert b"<p>after</p>" in await asyncio.wait_for(viewer.__anext__(), timeout=5)
    finally:
        await viewer.aclose()
        feeds.shut_down()


async def test_few_waiting_frames_are_sent_as_they_are(session) -> None:
    feeds = streams.LiveFeeds(MemoryBus(), None, frames_per_s=50)
    feed = await feeds.acquire(session.id)
    viewer = _viewer(feeds, feed)
    try:
        await viewer.__anext__()
        for n in range(3):
            feed._append(n + 1, n + 1, streams.encode_data(f"<p>delta {n}</p>"), final=False)
        got = [await asyncio.wait_for(viewer.__anext__(), timeout=5) for _ in range(3)]
        assert all(b"delta" in frame and b"#matrix" not in frame for frame in got)
    finally:
        await viewer.aclose()
        feeds.shut_down()


async def test_a_viewer_that_takes_nothing_is_dropped_with_one_info_line(
    monkeypatch, caplog
) -> None:
    monkeypatch.setattr(streams, "SEND_TIMEOUT_S", 0.2)

    async def frames():
        yield b"data: hello\r\n\r\n"
        await asyncio.sleep(30)

    response = streams._LiveResponse(frames(), send_timeout=streams.SEND_TIMEOUT_S, ping=0)
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)
        if message.get("body"):
            await asyncio.sleep(30)  # the viewer's connection takes nothing more

    async def receive() -> dict:
        await asyncio.sleep(30)
        return {"type": "http.disconnect"}

    caplog.set_level(logging.INFO, logger="web.streams")
    scope = {"type": "http", "method": "GET", "path": "/sessions/1/stream", "headers": []}
    await asyncio.wait_for(response(scope, receive, send), timeout=5)
    dropped = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == 1 and dropped[0].levelno == logging.INFO
    assert dropped[0].exc_info is None


async def test_a_viewer_skipped_forward_by_the_stop_still_gets_its_gap_rows(
    session, monkeypatch
) -> None:
    """The stop's refresh is final; the rows the viewer missed below it come before `done`.

    The feed's refresh and gap are the real ones but for two facts set here: the
    refresh is the stop's (final), and there are rows below its window.
    """
    import dataclasses

    feeds = streams.LiveFeeds(MemoryBus(), None, frames_per_s=50)
    feed = await feeds.acquire(session.id)
    real_refresh = feed.refresh_frame
    stopped = False

    async def refresh_frame() -> streams.Frame:
        frame = await real_refresh()
        return dataclasses.replace(frame, final=stopped, log_id=frame.log_id + 7)

    async def gap_data(after: int, refresh) -> streams.Chunk:
        return streams.Chunk(streams.encode_data(f"<p>rows after {after}</p>"))

    monkeypatch.setattr(feed, "refresh_frame", refresh_frame)
    monkeypatch.setattr(feed, "gap_data", gap_data)
    viewer = _viewer(feeds, feed)
    try:
        await viewer.__anext__()
        stopped = True
        for n in range(streams.SKIP_AFTER_FRAMES + 1):
            feed._append(n + 1, n + 1, streams.encode_data(f"<p>delta {n}</p>"), final=False)
        rest = b""
        while streams.DONE not in rest:
            rest += await asyncio.wait_for(viewer.__anext__(), timeout=5)
        refresh_at = rest.index(b'hx-target="#matrix"')
        gap_at = rest.index(b"rows after 7")
        assert refresh_at < gap_at < rest.index(streams.DONE)
        # The page's new id rides on the gap, not on the refresh before it.
        refresh_ends = rest.index(b"\r\n\r\n", refresh_at)
        assert b"id: " not in rest[refresh_at:refresh_ends]
        assert rest[refresh_ends:gap_at].count(b"id: ") == 1
    finally:
        await viewer.aclose()
        feeds.shut_down()
