"""SSE for live session pages: one stream per page, one renderer per session per process.

A `SessionFeed` per watched session and process holds the only bus
subscription for that session. It coalesces bursts (at most LIVE_FRAMES_PER_S
frames a second, and for a crowd at most LIVE_SENDS_PER_S sends a second to all
its viewers together; each frame with every change since the one before, so the
bytes a viewer receives, and the sends the server makes, stay bounded whatever
the event rate and the number of viewers), reads the session
once, diffs it against what it rendered last, renders only the changed cells,
counts, coverage rows and new log rows, and encodes that update once. Every
stream of that session in this process sends the same bytes: 200 browsers
cost one render, not 200.

Each update's SSE id is `REVISION-LOG`: the session revision it brings the
page to and the newest log row the page then shows. A browser that reconnects
with `Last-Event-ID` gets the updates it missed from the feed's recent
frames, or one full refresh of every live region when they are gone (too
old, another process, a feed that started after them, a restarted server).
Either way the page shows the newest logs in its window; the logs caught in
the gap below that window (newer than LOG, past the window) follow as rows of
their own, at most LIVE_GAP_ROWS, with a button that loads the rest. A
browser whose stream falls behind (a slow viewer: more than SKIP_AFTER_FRAMES
frames waiting for it, or behind the frames kept) is skipped forward to one
full refresh instead of being sent the backlog, and never holds the others
up. A viewer that cannot take a frame within SEND_TIMEOUT_S is dropped with
one INFO line; its page reconnects and resumes. Streams end with `event: done` when the
session stops, and without it when the server shuts down (the browser then
reconnects, to this server's successor or a sibling).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import anyio
from sse_starlette import EventSourceResponse
from sse_starlette.event import ServerSentEvent
from sse_starlette.sse import SendTimeoutError
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from trackmaster.bus import Bus
from trackmaster.errors import NotFound
from trackmaster.models import EventLog, SessionStatus, TestSession
from trackmaster.sessions.publish import channel
from trackmaster.sessions.view import SessionView, load_view
from web import session_fragments as fragments
from web.parity_view import EventParity, load_parity
from web.session_view import (
    LOGS_PER_PAGE,
    Snapshot,
    load_log_gap,
    load_logs,
    load_logs_by_id,
    load_snapshot,
    shown_logs,
    snapshot_of,
    updated_snapshot,
)
from web.sse_wire import Chunk, Wire, accepts_deflate
from web.stream_access import access_check, take_stream_slot
from web.unmatched_view import load_unmatched

log = logging.getLogger(__name__)

# Without a setting (tests building a feed directly): frames a second per session.
DEFAULT_FRAMES_PER_S = 4.0
# A viewer with more frames than this waiting for it gets one full refresh instead.
SKIP_AFTER_FRAMES = 8
# Frames kept for browsers that reconnect or lag; older gaps get a full refresh.
FRAMES_KEPT = 256
# A feed nobody watches lingers this long, so that a reconnecting page can still replay.
LINGER_S = 30.0
# Browsers reconnect after this many ms (htmx doubles it per failed attempt).
RETRY_MS = 1000
# A frame's bytes go to one browser within this time, or that browser is dropped.
SEND_TIMEOUT_S = 10.0
# On server exit, streams get this long to end cleanly before they are cut.
SHUTDOWN_GRACE_S = 2.0
# Without a setting: gap rows a reconnecting page is sent beyond its window.
DEFAULT_GAP_ROWS = 200
# Without a setting: the newest log rows a frame lists (a burst's older ones get a mark).
DEFAULT_LOG_ROWS = 10
# Without a setting: frames a second one feed sends to all its viewers together.
DEFAULT_SENDS_PER_S = 2000.0
# However many viewers a feed has, it sends at least a frame a second (unless the frame
# rate setting asks for fewer).
LONGEST_SHARED_INTERVAL_S = 1.0


def encode_data(html: str) -> bytes:
    """The `data:` lines of one SSE message (no id). A bare CR would end a line: normalised."""
    text = html.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(f"data: {line}\r\n" for line in text.split("\n")).encode() + b"\r\n"


DONE = b"event: done\r\ndata: stopped\r\n\r\n"


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page is: the SSE id it last got, `REVISION` or `REVISION-LOG`."""

    revision: int
    log_id: int | None = None  # the newest log row it shows; None from a page that did not say

    @classmethod
    def parse(cls, raw: str | None) -> Position | None:
        """None for no id or one that is not ours: a full refresh puts the page right."""
        if not raw:
            return None
        revision, dash, log_id = raw.strip().partition("-")
        try:
            return cls(int(revision), int(log_id) if dash else None)
        except ValueError:
            return None

    def sse_id(self) -> bytes:
        if self.log_id is None:
            return b"id: %d\r\n" % self.revision
        return b"id: %d-%d\r\n" % (self.revision, self.log_id)


@dataclass(slots=True)
class Frame:
    seq: int  # position in this feed, for the streams' cursors
    revision: int  # the SSE id: the session revision this frame brings a page to
    newest_revision: int  # the newest revision among the bus messages it carries
    chunk: Chunk  # its SSE data, plain and deflated once (web/sse_wire.py)
    final: bool = False  # the session stopped: streams send `done` after it
    log_id: int = 0  # the newest log row a page shows once it has this frame
    # A full refresh whose window of logs is full: its oldest row. The gap rows a page
    # missed are the ones between this and the newest row it had.
    window_oldest: int | None = None


class SessionFeed:
    def __init__(
        self,
        session_id: int,
        bus: Bus,
        frames_per_s: float = DEFAULT_FRAMES_PER_S,
        gap_rows: int = DEFAULT_GAP_ROWS,
        log_rows: int = DEFAULT_LOG_ROWS,
        sends_per_s: float = DEFAULT_SENDS_PER_S,
    ) -> None:
        self.session_id = session_id
        self.bus = bus
        self.frame_interval_s = 1.0 / frames_per_s
        self.sends_per_s = sends_per_s
        self.gap_rows = gap_rows
        self.log_rows = max(1, min(log_rows, LOGS_PER_PAGE))
        self.log_id = 0  # the newest log row any frame so far has shown
        self.frames: deque[Frame] = deque(maxlen=FRAMES_KEPT)
        self.seq = 0
        self.revision = 0
        self.covered_from = 0  # every revision after this one reaches this feed
        self.evicted_revision = 0  # the newest revision carried by a frame no longer kept
        self.watchers = 0
        self.closing = False
        self.epoch = 0  # bumped by disconnect(): streams of an older epoch end
        self.ready = asyncio.Event()
        self.failure: BaseException | None = None
        self._wakeup = asyncio.Event()
        self._session: TestSession | None = None
        # Set by _run before `ready`, and read only after it.
        self._snapshot: Snapshot
        self._view: SessionView
        # The parity panel as last sent by a frame (a frame of caught events sends it only
        # when it changed).
        self._parity: list[EventParity] = []
        self._refresh: Frame | None = None
        self._refresh_lock = asyncio.Lock()
        # Gap rows rendered at one feed position, per page position: a reconnect storm of
        # pages that were in step costs one read and one render.
        self._gaps: dict[tuple[int, int, int | None], Chunk | None] = {}
        self._gap_lock = asyncio.Lock()
        self._last_render = 0.0
        self.task = asyncio.create_task(self._run(), name=f"session-feed-{session_id}")
        self.linger: asyncio.TimerHandle | None = None

    # --- the one reader of the bus -------------------------------------------------------

    async def _run(self) -> None:
        try:
            async with self.bus.subscribe(channel(self.session_id)) as subscription:
                # Subscribed first, read second: nothing committed after this read is missed.
                session = await TestSession.get_or_none(id=self.session_id)
                if session is None:
                    raise NotFound(f"test session {self.session_id} does not exist")
                self._session = session
                await self._read_whole(session)
                self._parity = await load_parity(session.id, self._snapshot.plan)
                self.revision = self.covered_from = session.revision
                self.log_id = await _newest_log_id(session.id)
                self.ready.set()
                while True:
                    first = await subscription.get()
                    wait_s = self._last_render + self.interval_s() - time.monotonic()
                    if wait_s > 0:
                        await asyncio.sleep(wait_s)
                    batch = [first]
                    while not subscription.queue.empty():
                        batch.append(subscription.queue.get_nowait())
                    lost = subscription.overflowed
                    subscription.overflowed = False
                    try:
                        await self._render(batch, lost)
                    except Exception:
                        # The next message renders again from the database; pages stay usable.
                        log.exception("session %s: rendering a live update failed", self.session_id)
                    # The interval runs from the end of a render, not its start: a render
                    # slower than the interval (a starved process) then still leaves the
                    # event loop a whole interval for ingest and the sends between frames,
                    # instead of rendering back to back.
                    self._last_render = time.monotonic()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self.failure = exc
            self.ready.set()
            self._wake()

    def interval_s(self) -> float:
        """The time from one frame to the next: the frame rate's, or longer for a crowd.

        Every frame is one send to each viewer, and a send costs the server about as much
        as a frame's share of rendering at a few hundred viewers (uvicorn's h11, the
        socket write): 1,000 viewers at 4 frames a second were 4,000 sends a second. So
        all of a feed's viewers together get at most `sends_per_s` frames a second (each
        frame then carries more changes), and never less than one a second.
        """
        shared = min(LONGEST_SHARED_INTERVAL_S, self.watchers / self.sends_per_s)
        return max(self.frame_interval_s, shared)

    async def _read_whole(self, session: TestSession) -> Snapshot:
        """Read the session's view whole; returns the snapshot it replaces."""
        before = getattr(self, "_snapshot", None)
        self._view = await load_view(session)
        self._snapshot = snapshot_of(self._view, await shown_logs(session.id))
        return before if before is not None else self._snapshot

    async def _render(self, batch: list[dict[str, Any]], lost: bool) -> None:
        if not lost and all(_only_caught(m) for m in batch):
            changed = {(int(e), int(f), str(p)) for m in batch for e, f, p in m.get("changed", ())}
            refreshed = await self._view.refreshed(changed)
            if refreshed is not None:
                await self._render_caught(batch, *refreshed)
                return
        await self._render_reread(batch, lost)

    async def _render_caught(
        self, batch: list[dict[str, Any]], view: SessionView, events: set[int]
    ) -> None:
        """Events were caught (and nothing else happened): apply what ingest said it changed.

        Reads only the cells, coverage and parity of the events the batch touched and the
        new log rows; the session row, the plan and the overrides are the feed's own.
        """
        newest = max((int(m.get("revision") or 0) for m in batch), default=0)
        session = self.session
        new_ids = sorted({i for m in batch for i in m.get("log_ids") or ()}, reverse=True)
        before, self._view = self._snapshot, view
        self._snapshot = updated_snapshot(before, view, events, len(new_ids))
        self.log_id = max([self.log_id, *new_ids], default=0)
        new_logs = await load_logs_by_id(session.id, self._snapshot.plan, new_ids[: self.log_rows])
        html = fragments.changes(
            session, before, self._snapshot, new_logs, status_changed=False,
            logs_skipped=max(0, len(new_ids) - self.log_rows),
        )  # fmt: skip
        if any(m.get("type") == "unmatched" for m in batch):
            html += await self._unmatched_html(session)
        if new_ids:
            parity = await load_parity(session.id, self._snapshot.plan, events)
            merged = [next((p for p in parity if p.event_id == old.event_id), old)
                      for old in self._parity]  # fmt: skip
            if merged != self._parity:
                self._parity = merged
                html += fragments.partial("parity", fragments.parity_html(merged))
        self._append(
            max(self.revision, newest), newest, encode_data(html),
            final=session.status != SessionStatus.ON,
        )  # fmt: skip

    async def _render_reread(self, batch: list[dict[str, Any]], lost: bool) -> None:
        """Anything but caught events (or a gap): read the session again and diff it whole."""
        newest = max((int(m.get("revision") or 0) for m in batch), default=0)
        session = await TestSession.get(id=self.session_id)
        before = await self._read_whole(session)
        status_changed = (
            session.status != self.session.status
            or session.expires_at != self.session.expires_at
            or any(m.get("type") == "status" for m in batch)
        )
        self._session = session
        shown_before = self.log_id
        self.log_id = max(
            [self.log_id, *(i for m in batch for i in m.get("log_ids") or ())], default=0
        )
        if lost:
            # Every page of this feed was where the feed was: the rows it may have missed
            # below the refresh's window follow it.
            html = await self._refresh_html(session)
            self.log_id = max(self.log_id, await _newest_log_id(session.id))
            gap = await load_log_gap(
                session.id, self._snapshot.plan, after=shown_before, limit=self.gap_rows
            )
            if gap.logs:
                html += fragments.log_gap_html(session.id, gap)
        else:
            window = None
            if any(m.get("type") == "cleared" for m in batch):
                window = await load_logs(session.id, self._snapshot.plan)
            log_ids = sorted({i for m in batch for i in m.get("log_ids") or ()}, reverse=True)
            listed = [] if window else log_ids[: self.log_rows]
            new_logs = await load_logs_by_id(session.id, self._snapshot.plan, listed)
            html = fragments.changes(
                session, before, self._snapshot, new_logs,
                status_changed=status_changed, logs_window=window,
                logs_skipped=0 if window else max(0, len(log_ids) - self.log_rows),
            )  # fmt: skip
            if any(m.get("type") in ("unmatched", "status") for m in batch):
                html += await self._unmatched_html(session)
            if any(m.get("type") in ("logs", "results", "status") for m in batch):
                html += await self._parity_html(session)
        self._append(
            max(self.revision, newest, session.revision if lost else 0),
            newest,
            encode_data(html),
            final=session.status != SessionStatus.ON,
        )

    async def _refresh_html(self, session: TestSession) -> str:
        logs, has_older = await load_logs(session.id, self._snapshot.plan)
        html = fragments.full_refresh(session, self._snapshot, logs, has_older)
        return html + await self._unmatched_html(session) + await self._parity_html(session)

    async def _parity_html(self, session: TestSession) -> str:
        self._parity = await load_parity(session.id, self._snapshot.plan)
        return fragments.partial("parity", fragments.parity_html(self._parity))

    async def _unmatched_html(self, session: TestSession) -> str:
        panel = await load_unmatched(session)
        return fragments.partial("unmatched", fragments.unmatched_html(session, panel))

    def _append(self, revision: int, newest: int, data: bytes, *, final: bool) -> None:
        if len(self.frames) == self.frames.maxlen:
            self.evicted_revision = max(self.evicted_revision, self.frames[0].newest_revision)
        self.seq += 1
        self.revision = revision
        frame = Frame(self.seq, revision, newest, Chunk(data), final, self.log_id)
        self.frames.append(frame)
        self._wake()

    def _wake(self) -> None:
        wakeup, self._wakeup = self._wakeup, asyncio.Event()
        wakeup.set()

    # --- what the streams ask ------------------------------------------------------------

    @property
    def session(self) -> TestSession:
        assert self._session is not None, "read only once the feed is ready"
        return self._session

    @property
    def stopped(self) -> bool:
        return self._session is not None and self._session.status != SessionStatus.ON

    def replay_after(self, since: int | None, revision_now: int) -> list[Frame] | None:
        """The kept frames a page at revision `since` has not seen, or None: it needs a refresh."""
        if since is None or since > revision_now:
            return None  # a new page without an id, or an id from another database
        if since < self.covered_from or since < self.evicted_revision:
            return None  # some of what it missed happened before this feed or was dropped
        return [frame for frame in self.frames if frame.newest_revision > since]

    def frames_after(self, seq: int) -> list[Frame] | None:
        """Frames after a stream's cursor, or None when it fell behind the frames kept."""
        behind = self.seq - seq
        if behind <= 0:
            return []
        kept = len(self.frames)
        if behind > kept:
            return None
        # Frames are numbered without gaps: the newest `behind` ones, read from the right
        # end (every stream asks this once a frame; the deque may hold 256).
        return [self.frames[i] for i in range(kept - behind, kept)]

    async def wait_after(self, seq: int, epoch: int) -> None:
        wakeup = self._wakeup
        if self.seq == seq and not self.closing and self.failure is None and self.epoch == epoch:
            await wakeup.wait()

    async def refresh_frame(self) -> Frame:
        """A full refresh, rendered once per feed position and shared by the streams needing it."""
        async with self._refresh_lock:
            if self._refresh is not None and self._refresh.seq == self.seq:
                return self._refresh
            seq = self.seq
            session = await TestSession.get(id=self.session_id)
            snapshot = await load_snapshot(session)
            logs, has_older = await load_logs(session.id, snapshot.plan)
            shown = max(self.log_id, logs[0].id if logs else 0)
            html = fragments.full_refresh(session, snapshot, logs, has_older)
            html += fragments.partial(
                "unmatched", fragments.unmatched_html(session, await load_unmatched(session))
            )
            parity = await load_parity(session.id, snapshot.plan)
            html += fragments.partial("parity", fragments.parity_html(parity))
            # seq: where the stream continues; frames after it may repeat part of it (harmless).
            self._refresh = Frame(
                seq, session.revision, session.revision, Chunk(encode_data(html)),
                final=session.status != SessionStatus.ON, log_id=shown,
                window_oldest=logs[-1].id if has_older else None,
            )  # fmt: skip
            return self._refresh

    async def gap_data(self, after: int, refresh: Frame | None) -> Chunk | None:
        """The rows a page that showed logs up to `after` missed below its window, or None.

        Sent after the refresh or replay that brought the page back: its window then shows
        the newest logs (a refresh's own window, or the newest LOGS_PER_PAGE after a
        replay), and these are the ones between that window and what the page had.
        """
        if refresh is not None and refresh.window_oldest is None:
            return None  # the refresh's window holds every log there is
        below = refresh.window_oldest if refresh is not None else None
        async with self._gap_lock:
            key = (self.seq, after, below)
            if key not in self._gaps:
                if any(seq != self.seq for seq, *_ in self._gaps) or len(self._gaps) > 64:
                    self._gaps.clear()
                session = self.session
                gap = await load_log_gap(
                    session.id, self._snapshot.plan, after=after, limit=self.gap_rows,
                    before=below, skip=0 if below is not None else LOGS_PER_PAGE,
                )  # fmt: skip
                html = fragments.live_line(session) + fragments.log_gap_html(session.id, gap)
                self._gaps[key] = Chunk(encode_data(html)) if gap.logs else None
            return self._gaps[key]

    def disconnect(self) -> None:
        """End this feed's streams but keep the feed: their pages reconnect and replay from it.

        What a network blip does to a page; tests use it to check the catch-up.
        """
        self.epoch += 1
        self._wake()

    def close(self) -> None:
        self.closing = True
        self._wake()
        self.task.cancel()


class LiveFeeds:
    """The feeds of one process, one per watched session, and the shutdown that ends them."""

    def __init__(
        self,
        bus: Bus,
        shutting_down: asyncio.Event | None,
        frames_per_s: float = DEFAULT_FRAMES_PER_S,
        gap_rows: int = DEFAULT_GAP_ROWS,
        log_rows: int = DEFAULT_LOG_ROWS,
        sends_per_s: float = DEFAULT_SENDS_PER_S,
    ) -> None:
        self.bus = bus
        self.frames_per_s = frames_per_s
        self.gap_rows = gap_rows
        self.log_rows = log_rows
        self.sends_per_s = sends_per_s
        self.feeds: dict[int, SessionFeed] = {}
        self.closing = False
        self._watch = (
            asyncio.create_task(self._end_on_shutdown(shutting_down), name="live-feeds-shutdown")
            if shutting_down is not None
            else None
        )

    async def _end_on_shutdown(self, shutting_down: asyncio.Event) -> None:
        await shutting_down.wait()
        self.shut_down()

    def shut_down(self) -> None:
        """End every stream of this process cleanly (no `done`: their pages reconnect)."""
        self.closing = True
        for feed in list(self.feeds.values()):
            feed.close()
        self.feeds.clear()

    async def acquire(self, session_id: int) -> SessionFeed:
        feed = self.feeds.get(session_id)
        if feed is None or feed.failure is not None or feed.task.done():
            feed = self.feeds[session_id] = SessionFeed(
                session_id, self.bus, self.frames_per_s, self.gap_rows, self.log_rows,
                self.sends_per_s,
            )  # fmt: skip
        feed.watchers += 1
        if feed.linger is not None:
            feed.linger.cancel()
            feed.linger = None
        await feed.ready.wait()
        if feed.failure is not None:
            self.release(feed)
            raise feed.failure
        return feed

    def release(self, feed: SessionFeed) -> None:
        feed.watchers -= 1
        if feed.watchers > 0 or feed.closing:
            return
        loop = asyncio.get_running_loop()
        feed.linger = loop.call_later(LINGER_S, self._drop_if_idle, feed)

    def _drop_if_idle(self, feed: SessionFeed) -> None:
        if feed.watchers == 0 and self.feeds.get(feed.session_id) is feed:
            del self.feeds[feed.session_id]
            feed.close()


def live_feeds(request: Request) -> LiveFeeds:
    """The process's feeds, made by the app's lifespan (web/app.py) beside its bus."""
    feeds: LiveFeeds = request.app.state.live_feeds
    return feeds


def _only_caught(message: dict[str, Any]) -> bool:
    """A message a frame can apply from what it says: caught events naming the cells they
    changed (ingest's `logs`), or events nobody watches (`unmatched`)."""
    kind = message.get("type")
    return kind == "unmatched" or (kind == "logs" and isinstance(message.get("changed"), list))


def _last_event_id(request: Request) -> Position | None:
    return Position.parse(request.headers.get("last-event-id") or request.query_params.get("since"))


async def _newest_log_id(session_id: int) -> int:
    newest = cast(
        list[int],
        await EventLog.filter(session_id=session_id, cleared=False)
        .order_by("-id")
        .limit(1)
        .values_list("id", flat=True),
    )
    return newest[0] if newest else 0


def _with_gap(wire: Wire, frame: Frame, gap: Chunk, id_line: bytes, prefix: bytes = b"") -> bytes:
    """A frame and the gap rows that follow it, the page's new id riding on the gap.

    The browser keeps the id of the last message it got: had the id come with the
    frame, a page that dropped between the two would come back naming rows it
    never got, and be sent no gap. With the id on the gap, it gets both again.
    """
    return wire.chunk(frame.chunk, prefix) + wire.chunk(gap, id_line)


def _with_id(frame: Frame, last: Position) -> tuple[bytes, Position]:
    """The `id:` line of a frame for one page, and where that frame brings the page."""
    # Ids never go backwards for one page, even when a late message carries an older revision.
    sent = Position(max(last.revision, frame.revision), max(last.log_id or 0, frame.log_id))
    return sent.sse_id(), sent


class _Lease:
    """A stream's hold on its feed, given back once: when the stream ends or never starts."""

    def __init__(self, feeds: LiveFeeds, feed: SessionFeed, give_back: Callable[[], None]) -> None:
        self.feeds, self.feed, self.held = feeds, feed, True
        self.give_back = give_back  # the user's stream slot (web/stream_access.py)

    async def release(self) -> None:
        if self.held:
            self.held = False
            self.feeds.release(self.feed)
            self.give_back()


async def _shut_down_when(server_exits: anyio.Event, feeds: LiveFeeds) -> None:
    await server_exits.wait()
    feeds.shut_down()


async def _on_the_wire(messages: AsyncIterator[bytes], wire: Wire) -> AsyncIterator[bytes]:
    """A stream's bytes, and the end of its deflate stream when it ends (not when it is cut)."""
    async for data in messages:
        yield data
    if end := wire.end():
        yield end


async def _stream(
    lease: _Lease,
    since: Position | None,
    server_exits: anyio.Event,
    still_allowed: Callable[[], Awaitable[bool]],
    recheck_s: float,
    wire: Wire,
) -> AsyncIterator[bytes]:
    feeds, feed = lease.feeds, lease.feed
    # uvicorn waits for open streams before the app's lifespan ends (where shutting_down is
    # set); sse-starlette sees the server exit first and tells us through this event.
    watcher = asyncio.create_task(_shut_down_when(server_exits, feeds))
    try:
        last_id = since or Position(0)
        revision_now = cast(
            list[int],
            await TestSession.filter(id=feed.session_id).values_list("revision", flat=True),
        )
        replay = feed.replay_after(
            since.revision if since else None, revision_now[0] if revision_now else 0
        )
        cursor = feed.seq
        refreshed: Frame | None = None
        if replay is None:
            # The page's revision is not one to keep: the refresh's own id replaces it.
            last_id = Position(0, since.log_id if since else None)
            frame = refreshed = await feed.refresh_frame()
            cursor = frame.seq
            replay = [frame]
        # The rows caught while the page was away, below the window the replay leaves.
        missed = (
            await feed.gap_data(since.log_id, refreshed)
            if replay and since is not None and since.log_id is not None
            else None
        )
        # htmx applies `retry` only from a message with data: it rides on the first one.
        retry = b"retry: %d\r\n" % RETRY_MS
        for number, frame in enumerate(replay, 1):
            id_line, last_id = _with_id(frame, last_id)
            if missed is not None and number == len(replay):
                yield _with_gap(wire, frame, missed, id_line, retry)
            else:
                yield wire.chunk(frame.chunk, retry + id_line)
            retry = b""
        if not replay:  # nothing missed: still say the page is live (no id: it stays)
            yield wire.text(retry + encode_data(fragments.live_line(feed.session)))
        if (replay and replay[-1].final) or (feed.stopped and feed.seq == cursor):
            yield wire.text(DONE)
            return
        epoch = feed.epoch
        recheck_at = time.monotonic() + recheck_s
        while not (feed.closing or feeds.closing or feed.failure or feed.epoch != epoch):
            # asyncio.timeout, not wait_for: wait_for makes a task of every wait, and every
            # stream waits once a frame (1,000 viewers at 4 frames a second).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(recheck_s):
                    await feed.wait_after(cursor, epoch)
            if feed.epoch != epoch:
                return
            if time.monotonic() >= recheck_at:
                # Access ends mid-stream too (logout, disabled, new password): ended without
                # `done`, the page reconnects and is refused.
                if not await still_allowed():
                    return
                recheck_at = time.monotonic() + recheck_s
            pending = feed.frames_after(cursor)
            gap: Chunk | None = None
            if pending is None or len(pending) > SKIP_AFTER_FRAMES:
                # A slow viewer (or one behind the frames kept): skip it forward to one
                # full refresh rather than send, or keep, the backlog; the rows it missed
                # below the refresh's window follow the refresh.
                refresh = await feed.refresh_frame()
                if last_id.log_id is not None:
                    gap = await feed.gap_data(last_id.log_id, refresh)
                pending = [refresh, *(feed.frames_after(refresh.seq) or [])]
            for frame in pending:
                id_line, last_id = _with_id(frame, last_id)
                cursor = max(cursor, frame.seq)
                if gap is not None:  # before `done` too: a stop's refresh still owes its gap
                    yield _with_gap(wire, frame, gap, id_line)
                    gap = None
                else:
                    yield wire.chunk(frame.chunk, id_line)
                if frame.final:
                    yield wire.text(DONE)
                    return
    finally:
        watcher.cancel()
        await lease.release()


class _Ping(ServerSentEvent):
    """sse-starlette's keep-alive comment, encoded for this stream's wire."""

    def __init__(self, wire: Wire) -> None:
        super().__init__(comment="ping")
        self.wire = wire

    def encode(self) -> bytes:
        return self.wire.text(super().encode())


class _LiveResponse(EventSourceResponse):
    """The stream of one page; a viewer that drops or stalls is routine, not an error."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except (SendTimeoutError, OSError) as exc:
            why = (
                f"could not take a frame within {SEND_TIMEOUT_S:g} s"
                if isinstance(exc, SendTimeoutError)
                else f"{type(exc).__name__}: {exc}"
            )
            log.info("live page of %s dropped: %s (it reconnects)", scope.get("path"), why)


async def session_stream(request: Request) -> EventSourceResponse:
    session_id = int(request.path_params["session_id"])
    if not await TestSession.exists(id=session_id):
        raise NotFound(f"test session {session_id} does not exist")
    feeds = live_feeds(request)
    give_back = take_stream_slot(request)
    try:
        lease = _Lease(feeds, await feeds.acquire(session_id), give_back)
    except BaseException:
        give_back()
        raise
    server_exits = anyio.Event()
    ping_s = request.app.state.settings.sse_ping_s
    wire = Wire(accepts_deflate(request.headers.get("accept-encoding", "")))
    messages = _stream(
        lease, _last_event_id(request), server_exits, access_check(request), ping_s, wire
    )
    return _LiveResponse(
        _on_the_wire(messages, wire),
        headers=wire.headers,
        shutdown_event=server_exits,
        shutdown_grace_period=SHUTDOWN_GRACE_S,
        ping=ping_s,
        ping_message_factory=lambda: _Ping(wire),
        send_timeout=SEND_TIMEOUT_S,
        background=BackgroundTask(lease.release),
    )


routes = [
    Route(
        "/sessions/{session_id:int}/stream", session_stream, methods=["GET"], name="session_stream"
    ),
]
