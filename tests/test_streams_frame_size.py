"""What a busy live frame carries: every cell's exact count, few log rows, small bytes.

At 200 events a second a frame of a 600-cell session changes nearly every cell, and
300 viewers receive (and inflate, and parse) every byte of it. So a cell is one line
built without a template, swapped out of band by its own id, and a burst's log rows
are cut to the newest LIVE_LOG_ROWS with a mark that says how many were left out and
links to them; the counts and cells still count every event. And every frame is a send
to each viewer: a feed's viewers together get at most LIVE_SENDS_PER_S frames a second.
"""

from __future__ import annotations

import time

import pytest

from tests.support.html import parse_tree
from tests.test_streams_changed import caught, live, next_frame
from web import session_fragments as fragments
from web import streams
from web.cell_markup import cell_html
from web.session_view import Cell, load_snapshot
from web.templating import environment

assert live  # the fixture, shared with test_streams_changed


def _html_of(data: bytes) -> str:
    """The HTML of an SSE message's `data:` lines (one line each, joined by newlines)."""
    lines = data.decode().split("\r\n")
    return "\n".join(line.removeprefix("data: ") for line in lines if line.startswith("data: "))


def _ids_of_rows(html: str) -> list[int]:
    return [int(a.get("data-log-id")) for a in parse_tree(html).find_all("article", class_="log")]


async def test_a_burst_lists_its_newest_rows_and_marks_the_rest(live) -> None:
    plan, _, _, ingestor, feed = live
    feed.log_rows = 4
    seq = feed.seq
    await ingestor.ingest(plan.project.id, [caught("play_click", n) for n in range(7)])
    frame = await next_frame(feed, seq)
    html = _html_of(frame.chunk.data)
    tree, rows = parse_tree(html), _ids_of_rows(html)
    assert len(rows) == 4 and rows == sorted(rows, reverse=True)
    assert rows[0] == feed.log_id, "the newest row is listed"
    mark = tree.find("p", class_="log-skipped")
    assert mark is not None and mark.get("data-skipped") == "3"
    assert "3 more events caught here" in mark.text()
    link = mark.find("a")
    assert (
        link is not None
        and link.get("href") == f"/sessions/{feed.session.id}/logs?before={rows[-1]}"
    )
    # The counts count all seven, and so does every cell: nothing hidden by the cut.
    assert tree.by_id("count-logs").text() == "7"
    fresh = await load_snapshot(feed.session)
    assert feed._snapshot.cells == fresh.cells and fresh.counts.logs == 7


async def test_a_frame_within_the_cap_lists_every_row_and_no_mark(live) -> None:
    plan, _, _, ingestor, feed = live
    feed.log_rows = 4
    seq = feed.seq
    await ingestor.ingest(plan.project.id, [caught("play_click", n) for n in range(4)])
    html = _html_of((await next_frame(feed, seq)).chunk.data)
    assert len(_ids_of_rows(html)) == 4
    assert "log-skipped" not in html


HOSTILE = '"><script>alert(1)</script>&'


@pytest.mark.parametrize("source, overridden", [("log", False), ("override", True), ("", False)])
def test_a_cell_is_one_line_escaped_and_the_same_in_the_matrix_and_a_frame(
    source: str, overridden: bool
) -> None:
    cell = Cell(
        3, 7, "iOS", "FAIL", f"FAIL in 2 of 5 events: {HOSTILE}", None, source, 11,
        f"FAIL 2 of 5 {HOSTILE}", (("FAIL", 2), ("UNCERTAIN", 0), ("SUCCESS", 3)), 5, overridden,
    )  # fmt: skip
    swap = cell_html(9, cell, oob=True)
    assert "\n" not in swap and "<script>" not in swap
    a = parse_tree(swap).find("a")
    assert a is not None
    assert a.get("hx-swap-oob") == "true" and a.get("id") == "cell-3-7-iOS" == cell.dom_id
    assert a.get("title") == f"FAIL in 2 of 5 events: {HOSTILE}"
    assert a.get("href") == "/sessions/9/cells/3/7/iOS"
    # No htmx attributes: one listener of app.js opens every cell in the side panel.
    assert not [name for name in a.attrs if name.startswith("hx-") and name != "hx-swap-oob"]
    assert (a.get("data-fail"), a.get("data-uncertain"), a.get("data-success")) == ("2", "0", "3")
    assert a.classes() == ["cell", "verdict", "verdict-FAIL"] + (
        ["by-hand"] if source == "override" else []
    )
    assert a.text().startswith(f"FAIL 2 of 5 {HOSTILE}")
    assert ("overridden by hand" in swap) is overridden
    # The page's matrix renders the same element, without the out-of-band mark.
    matrix = environment.get_template("sessions/_matrix.html")
    plan = type("Plan", (), {"events": [_event(cell)]})()
    page = matrix.render(
        session_id=9, plan=plan, cells={(3, 7, "iOS"): cell}, platforms=["iOS"],
        csrf_token="", confirmations=_Confirm(),
    )  # fmt: skip
    assert cell_html(9, cell) in page
    assert swap.replace(' hx-swap-oob="true"', "") == cell_html(9, cell)
    assert fragments.cell_swaps_html(9, [cell, cell]) == swap + swap


def _event(cell: Cell):
    field = type("F", (), {"id": cell.field_id, "key": "k", "removed": False, "values": (),
                           "rules": ""})()  # fmt: skip
    return type("E", (), {"id": cell.event_id, "name": "e", "story": "s", "removed": False,
                          "fields": [field]})()  # fmt: skip


class _Confirm:
    def reset_event(self, name: str):
        return type("Ask", (), {"text": f"reset {name}?"})()


async def test_a_crowd_gets_frames_less_often_but_at_least_one_a_second(live) -> None:
    _, _, _, _, feed = live
    feed.frame_interval_s, feed.sends_per_s = 0.25, 2000.0
    for watchers, interval_s in ((1, 0.25), (300, 0.25), (1000, 0.5), (4000, 1.0), (10**6, 1.0)):
        feed.watchers = watchers
        assert feed.interval_s() == pytest.approx(interval_s), watchers
    feed.frame_interval_s = 2.0  # a frame rate set below one a second still holds
    assert feed.interval_s() == 2.0


async def test_the_feed_waits_the_crowds_interval_between_frames(live) -> None:
    plan, _, _, ingestor, feed = live
    feed.watchers, feed.sends_per_s = 1000, 1000.0  # one frame a second
    seq = feed.seq
    await ingestor.ingest(plan.project.id, [caught("play_click", 1)])
    await next_frame(feed, seq)
    rendered_at = time.monotonic()
    await ingestor.ingest(plan.project.id, [caught("play_click", 2)])
    await next_frame(feed, seq + 1)
    # At least the interval (less the render's own time, counted from its end): a lower
    # bound, which a loaded machine only lengthens.
    assert time.monotonic() - rendered_at >= 0.9 * streams.LONGEST_SHARED_INTERVAL_S
    feed.watchers = 0
