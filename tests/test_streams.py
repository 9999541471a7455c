"""The session stream over real HTTP: ids, resume, full refresh, pings, its end, its sharing."""

from __future__ import annotations

import asyncio
import contextlib
import re
import zlib
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import running_app
from tests.support.html import parse_tree
from tests.support.realtime import make_plan, play_log
from tests.support.sse import Message, messages, next_message
from trackmaster.models import EventLog, TestSession
from web import streams


@pytest.fixture
async def plan(db):
    return await make_plan()


@dataclass
class _Parts:
    """What an update swaps: (target, swap) of each <hx-partial> and out-of-band element
    (a cell: it names its target by its own id), and the log rows it carries."""

    partials: list[tuple[str | None, str | None]]
    logs: list[str | None]


def parts(message: Message) -> _Parts:
    tree = parse_tree(message.data)
    return _Parts(
        [(p.get("hx-target"), p.get("hx-swap")) for p in tree.find_all("hx-partial")]
        + [(f"#{e.get('id')}", "outerHTML") for e in tree.find_all(**{"hx-swap-oob": "true"})],
        [article.get("id") for article in tree.find_all("article", class_="log")],
    )


def targets(message: Message) -> set[str]:
    return {target for target, _ in parts(message).partials}


async def start(client: httpx.AsyncClient, plan) -> int:
    answer = await client.post(
        "/api/v3/realTime/start",
        json={"project": plan.project.id, "accounts": ["alice-42"], "events": [plan.play.id]},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


async def send(client: httpx.AsyncClient, plan, **log) -> None:
    answer = await client.post(
        "/collect",
        json=play_log(user_id="alice-42", **log),
        headers={"X-Write-Key": plan.project.write_key},
    )
    assert answer.status_code == 200 and answer.json()["stored"] == 1, answer.text


@contextlib.asynccontextmanager
async def stream(client: httpx.AsyncClient, session_id: int, *, since=None, last_event_id=None):
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    params = {"since": since} if since is not None else {}
    async with client.stream(
        "GET", f"/sessions/{session_id}/stream", params=params, headers=headers, timeout=15
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        yield messages(response)


def revision_of(message: Message) -> int:
    """The session revision of an SSE id `REVISION-LOG` (the newest log row the page shows)."""
    return int(message.id.partition("-")[0])


async def revision(session_id: int) -> int:
    return (await TestSession.get(id=session_id)).revision


async def up_to_now(events, session_id: int) -> list[Message]:
    """Messages until one brings the page to the session's current revision."""
    got = [await next_message(events)]
    while revision_of(got[-1]) < await revision(session_id):
        got.append(await next_message(events))
    return got


def cell_target(plan, key: str, platform: str = "iOS") -> str:
    return f"#cell-{plan.play.id}-{plan.f(key)}-{platform}"


async def test_updates_carry_the_revision_and_only_what_changed(client, plan) -> None:
    session_id = await start(client, plan)
    async with stream(client, session_id, since=await revision(session_id)) as events:
        hello = await next_message(events)
        assert hello.id is None and "live" in hello.data  # connected, nothing missed
        assert hello.retry == streams.RETRY_MS
        await send(client, plan, page="home")
        update = await next_message(events)
        assert revision_of(update) == await revision(session_id)
        got = targets(update)
        assert cell_target(plan, "event_info.current_page_name") in got
        assert cell_target(plan, "page_info.id") in got
        # The Android and Other columns did not change; nothing is re-rendered whole.
        assert not {t for t in got if t.endswith(("-Android", "-Other"))}
        assert "#matrix" not in got and "#logs" not in got
        assert ("#log-list", "afterbegin") in parts(update).partials
        assert len(parts(update).logs) == 1


async def test_resume_with_last_event_id_sends_only_what_was_missed(client, plan) -> None:
    session_id = await start(client, plan)
    async with stream(client, session_id, since=await revision(session_id)) as watcher:
        await next_message(watcher)
        await send(client, plan, page="home")
        first = await next_message(watcher)
        await send(client, plan, page="player", os="Android")
        await send(client, plan, page="nowhere", os="Windows")
        seen = await up_to_now(watcher, session_id)

        # A page that saw only the first update reconnects while the feed still runs.
        async with stream(client, session_id, last_event_id=first.id) as resumed:
            replayed = await up_to_now(resumed, session_id)
    assert [m.data for m in replayed] == [m.data for m in seen]
    logs = [log for m in replayed for log in parts(m).logs]
    assert len(logs) == 2
    assert all("#matrix" not in targets(m) for m in replayed)
    assert cell_target(plan, "event_info.current_page_name", "Other") in set().union(
        *(targets(m) for m in replayed)
    )


@pytest.mark.parametrize("last_event_id", ["not-a-number", "999999"])
async def test_an_id_that_is_not_ours_gets_a_full_refresh(client, plan, last_event_id) -> None:
    session_id = await start(client, plan)
    await send(client, plan, page="home")
    async with stream(client, session_id, last_event_id=last_event_id) as events:
        refresh = await next_message(events)
    assert {"#matrix", "#counts", "#coverage", "#logs", "#controls"} <= targets(refresh)
    assert revision_of(refresh) == await revision(session_id)
    assert len(parts(refresh).logs) == 1


async def test_a_gap_older_than_the_feed_gets_a_full_refresh(client, plan) -> None:
    session_id = await start(client, plan)
    async with stream(client, session_id, since=await revision(session_id)) as events:
        await next_message(events)
        await send(client, plan, page="home")
        first = await next_message(events)
    # Nobody watches now; drop the feed so that the next one starts after these events.
    feeds = client.app_state.live_feeds
    feeds.feeds.pop(session_id).close()
    await send(client, plan, page="player")
    await send(client, plan, page="home", os="Android")
    async with stream(client, session_id, last_event_id=first.id) as events:
        refresh = await next_message(events)
    assert "#matrix" in targets(refresh)
    assert len(parts(refresh).logs) == 3


async def _away_while(client, plan, session_id: int, events: int) -> tuple[Message, list[str]]:
    """A page that saw one event, then was away (its feed gone) while `events` more came."""
    async with stream(client, session_id, since=await revision(session_id)) as watcher:
        await next_message(watcher)
        await send(client, plan, page="home")
        first = await next_message(watcher)
    client.app_state.live_feeds.feeds.pop(session_id).close()
    for n in range(events):
        await send(client, plan, page=("home", "player")[n % 2], os=("iOS", "Android")[n % 2])
    rows = await EventLog.filter(session_id=session_id).order_by("-id").values_list("id", flat=True)
    return first, [f"log-{row}" for row in rows[:events]]


async def test_a_page_back_after_a_gap_gets_every_row_caught_in_it(client, plan) -> None:
    session_id = await start(client, plan)
    first, missed = await _away_while(client, plan, session_id, streams.LOGS_PER_PAGE + 12)
    # The id names the newest row the page showed: the one event before the gap.
    assert int(first.id.split("-")[1]) == int(missed[-1].removeprefix("log-")) - 1
    async with stream(client, session_id, last_event_id=first.id) as events:
        refresh = await next_message(events)
        gap = await next_message(events)
    # The refresh's window shows the newest 50; the 12 caught below it follow as rows.
    assert len(parts(refresh).logs) == streams.LOGS_PER_PAGE
    assert ("#log-gap", "outerHTML") in parts(gap).partials
    # The page's id moves only with the gap: dropped between the two, it gets both again.
    assert refresh.id is None
    assert parts(refresh).logs + parts(gap).logs == missed
    assert "more: load them" not in gap.data
    assert int(gap.id.split("-")[1]) == int(missed[0].removeprefix("log-"))


async def test_a_long_gap_sends_some_rows_and_a_button_for_the_rest(client, plan) -> None:
    session_id = await start(client, plan)
    first, missed = await _away_while(client, plan, session_id, streams.LOGS_PER_PAGE + 9)
    client.app_state.live_feeds.gap_rows = 4
    async with stream(client, session_id, last_event_id=first.id) as events:
        refresh = await next_message(events)
        gap = await next_message(events)
    sent = parts(refresh).logs + parts(gap).logs
    assert sent == missed[: streams.LOGS_PER_PAGE + 4]
    assert "5 more: load them" in gap.data
    # The button asks for the rows between the oldest sent and what the page had.
    after = first.id.split("-")[1]
    more = await client.get(
        f"/sessions/{session_id}/logs/gap",
        params={"after": after, "before": sent[-1].removeprefix("log-")},
        headers={"HX-Request": "true"},
    )
    assert more.status_code == 200
    loaded = parts(Message(data=more.text)).logs
    assert sent + loaded == missed
    assert "more: load them" not in more.text
    # Without htmx the same URL is the older-events page from there.
    plain = await client.get(
        f"/sessions/{session_id}/logs/gap",
        params={"after": after, "before": sent[-1].removeprefix("log-")},
        follow_redirects=False,
    )
    assert plain.status_code == 303
    assert plain.headers["location"].endswith(f"/logs?before={sent[-1].removeprefix('log-')}")


class _Raw:
    """A stream's body as it comes off the socket, inflated when asked: read up to a marker."""

    def __init__(self, response: httpx.Response, inflate=None) -> None:
        self.chunks, self.inflate, self.got = response.aiter_raw(), inflate, b""

    async def until(self, marker: bytes) -> bytes:
        while marker not in self.got:
            chunk = await asyncio.wait_for(self.chunks.__anext__(), timeout=10)
            self.got += self.inflate.decompress(chunk) if self.inflate else chunk
        cut = self.got.index(marker) + len(marker)  # read boundaries differ between streams
        upto, self.got = self.got[:cut], self.got[cut:]
        return upto


async def test_a_client_that_takes_deflate_gets_the_same_stream_deflated(client, plan) -> None:
    session_id = await start(client, plan)
    since = await revision(session_id)
    url = f"/sessions/{session_id}/stream"
    async with (
        client.stream("GET", url, params={"since": since}, headers={"Accept-Encoding": "deflate"})
        as deflated,
        client.stream("GET", url, params={"since": since}, headers={"Accept-Encoding": "identity"})
        as plain,
    ):  # fmt: skip
        assert deflated.headers["content-encoding"] == "deflate"
        assert "content-encoding" not in plain.headers
        unpacked = _Raw(deflated, zlib.decompressobj(-zlib.MAX_WBITS))  # raw, as browsers take it
        as_sent = _Raw(plain)
        for each in (unpacked, as_sent):
            await each.until(b"live")  # both connected before anything happens
        for page in ("home", "player", "home"):
            await send(client, plan, page=page)
        newest = await EventLog.filter(session_id=session_id).order_by("-id").first()
        assert newest is not None
        marker = b'id="log-%d"' % newest.id
        got, expected = await unpacked.until(marker), await as_sent.until(marker)
    # Byte for byte what the plain stream carries, past the live line's clock.
    without_clock = re.compile(rb"updated \d\d:\d\d:\d\d UTC")
    assert without_clock.sub(b"", got) == without_clock.sub(b"", expected)
    assert b"id: " in got and b"afterbegin" in got


async def test_a_page_too_far_behind_the_kept_frames_gets_a_full_refresh(
    client, plan, monkeypatch
) -> None:
    monkeypatch.setattr(streams, "FRAMES_KEPT", 2)
    session_id = await start(client, plan)
    async with stream(client, session_id, since=await revision(session_id)) as keeper:
        await next_message(keeper)
        await send(client, plan, page="home")
        first = await next_message(keeper)
        for page in ("player", "nowhere", "home"):
            await send(client, plan, page=page, os="Android")
            await next_message(keeper)
        async with stream(client, session_id, last_event_id=first.id) as late:
            refresh = await next_message(late)
    assert "#matrix" in targets(refresh)
    assert len(parts(refresh).logs) == 4


async def test_streams_of_one_session_share_one_subscription_and_one_render(client, plan) -> None:
    session_id = await start(client, plan)
    since = await revision(session_id)
    async with (
        stream(client, session_id, since=since) as one,
        stream(client, session_id, since=since) as two,
        stream(client, session_id, since=since) as three,
    ):
        for each in (one, two, three):
            await next_message(each)
        bus = client.app_state.runtime.bus
        assert bus.subscriber_count(f"session:{session_id}") == 1
        await send(client, plan, page="home")
        got = [await next_message(each) for each in (one, two, three)]
    assert got[0].data == got[1].data == got[2].data
    assert got[0].id == got[1].id == got[2].id


async def test_pings_keep_an_idle_stream_alive(settings, plan) -> None:
    async with (
        running_app(settings.replace(sse_ping_s=0.2)) as server,
        httpx.AsyncClient(base_url=server.url, timeout=10) as client,
    ):
        session_id = await start(client, plan)
        async with stream(client, session_id, since=await revision(session_id)) as events:
            await next_message(events)
            ping = await next_message(events, pings=True, timeout_s=3)
    assert ping.is_ping and ping.comments[0].startswith("ping")


async def test_the_stream_ends_with_done_when_the_session_stops(client, plan) -> None:
    session_id = await start(client, plan)
    async with stream(client, session_id, since=await revision(session_id)) as events:
        await next_message(events)
        stopped = await client.post("/api/v3/realTime/stop", params={"record": session_id})
        assert stopped.status_code == 200
        last = await next_message(events)
        assert "#controls" in targets(last) and "stopped" in last.data
        done = await next_message(events)
        assert done.event == "done"
        with pytest.raises(EOFError):
            await next_message(events, timeout_s=5)
    # A page of a stopped session that connects is told at once.
    async with stream(client, session_id, since=await revision(session_id)) as events:
        assert "stopped" in (await next_message(events)).data
        assert (await next_message(events)).event == "done"


async def test_the_stream_ends_when_the_server_shuts_down(client, plan) -> None:
    session_id = await start(client, plan)
    async with stream(client, session_id, since=await revision(session_id)) as events:
        await next_message(events)
        client.app_state.shutting_down.set()
        with pytest.raises(EOFError):  # ends without `done`: the page reconnects elsewhere
            await next_message(events, timeout_s=5)


async def test_unknown_session_is_404(client) -> None:
    answer = await client.get("/sessions/999999/stream")
    assert answer.status_code == 404


@pytest.fixture
async def client(live_server) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=10) as http:
        # The app's state, for the few checks that look inside this process.
        http.app_state = live_server.server.config.app.state  # type: ignore[attr-defined]
        yield http
