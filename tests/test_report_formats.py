"""The report's formats from a report built by hand: every section, hostile text in each.

Unplanned properties come from the session engine's results (`unplanned` per event);
this builds a report that has them, with hostile keys, and checks each format.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from tests.support.html import parse_html
from trackmaster.checks.unplanned import PlannedKeys
from trackmaster.reports.build import _unplanned
from trackmaster.reports.csv_out import csv_lines
from trackmaster.reports.junit import junit_chunks
from trackmaster.reports.model import (
    CoverageLine,
    EventCounts,
    OverrideLine,
    Report,
    ReportCell,
    ReportEvent,
    UnplannedLine,
    WrongValue,
)
from trackmaster.sessions.plans import EventPlan
from trackmaster.sessions.view import SessionView, WatchedEvent
from web.templating import environment

HOSTILE_KEY = '<img src=x onerror="alert(1)">\x1b[31m'
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def hand_made() -> Report:
    event = ReportEvent(1, "checkout", "Cart", 3, {"iOS": 3, "Android": 0, "Other": 0},
                        ((10, "screen", ("cart",)),))  # fmt: skip
    fail = ReportCell(
        1, "checkout", 10, "screen", "iOS", "FAIL", "FAIL in 2 of 3 events", "log",
        counts={"FAIL": 2, "SUCCESS": 1},
        wrong=[WrongValue('"@home"', 2, "got '@home'", 7, '{"screen": "@home"}')],
    )  # fmt: skip
    cells = [fail] + [
        ReportCell(1, "checkout", 10, "screen", p, "UNTESTED", "no event", "none")
        for p in ("Android", "Other")
    ]
    return Report(
        session_id=5, session_name="s", project_id=1, project="p", status="OFF",
        source="push", created_by="tess", started_at=NOW, stopped_at=NOW, stop_reason="done",
        plan_version="sync run 1", accounts=("a",), events=(event,), cells=cells,
        coverage=[CoverageLine("checkout", "screen", "iOS", ("cart",), ())],
        overrides=[OverrideLine("reset", "checkout", "", "", "UNTESTED", "why", "tess", NOW)],
        unplanned=[UnplannedLine("checkout", "iOS", HOSTILE_KEY, 3, "screen")],
        event_counts=EventCounts(3, 1, 2), generated_at=NOW,
    )  # fmt: skip


def test_unplanned_properties_are_read_from_the_results() -> None:
    plan = EventPlan(7, (), PlannedKeys(()))
    unplanned = {7: {"unplanned": [
        {"platform": "iOS", "key": "scren", "count": 4, "suggestion": "screen"}]}}  # fmt: skip
    view = SessionView(1, (WatchedEvent(7, "checkout", plan),), {}, {}, {}, unplanned, {}, {})
    assert _unplanned(view) == [UnplannedLine("checkout", "iOS", "scren", 4, "screen")]


def test_every_section_in_html_with_hostile_keys_as_text() -> None:
    report = hand_made()
    cells = {(c.event_id, c.field_id, c.platform): c for c in report.cells}
    html = environment.get_template("reports/report.html").render(
        report=report, cells=cells, platforms=("iOS", "Android", "Other"),
        verdict_order=("FAIL", "UNCERTAIN", "SUCCESS", "UNTESTED"),
        links={"csv": "/c", "junit": "/j", "session": ""},
    )  # fmt: skip
    parsed = parse_html(html)
    assert "img" not in parsed.tags and "script" not in parsed.tags and not parsed.handlers
    text = parsed.text
    for needle in (HOSTILE_KEY, "Did you mean", '"@home"', "reset checkout to UNTESTED"):
        assert needle in text


def test_junit_lists_unplanned_properties_and_stays_valid() -> None:
    root = ET.fromstring("".join(junit_chunks(hand_made())))
    ios = next(c for c in root.iter("testcase") if c.get("name") == "iOS")
    out = ios.find("system-out").text
    assert "unplanned property <img" in out and "\\u001b[31m" in out
    assert "did you mean screen?" in out
    assert ios.find("failure").get("message") == "screen: FAIL in 2 of 3 events"


def test_csv_neutralises_a_value_that_starts_a_formula() -> None:
    rows = list(csv.DictReader(io.StringIO("".join(csv_lines(hand_made())))))
    assert rows[0]["wrong_values"] == '"@home" x2'  # starts with a quote: already text
    # Three cells, then the unplanned property (a key that is markup, still plain text here).
    assert len(rows) == 4 and rows[0]["fail"] == "2"
    assert (rows[3]["source"], rows[3]["field"], rows[3]["uncertain"]) == (
        "unplanned_property", HOSTILE_KEY, "3",
    )  # fmt: skip
