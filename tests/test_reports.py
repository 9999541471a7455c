"""Session reports as a page (printed to PDF by Chromium), CSV and JUnit, over real HTTP.

The scenario (tests/support/report_session.py) has failures followed by a good event of
the same kind, an override, an event never seen and hostile names and values.
"""

from __future__ import annotations

import csv
import io
import json
import os
import xml.etree.ElementTree as ET

import pytest
from pypdf import PdfReader

from tests.support.access import run_cli
from tests.support.html import parse_html
from tests.support.report_session import (
    HOSTILE_KEY,
    HOSTILE_PROJECT,
    HOSTILE_SESSION,
    OVERRIDE_REASON,
    SCRIPT_PAGE,
    failing_session,
)
from trackmaster.reports.build import build_report
from trackmaster.reports.csv_out import neutralise


@pytest.fixture
async def scenario(db, live_server):
    return await failing_session(live_server)


async def test_the_report_model_counts_every_failure(scenario) -> None:
    report = await build_report(scenario.session)
    assert str(report.verdict) == "failed"
    assert report.unseen == ["share_click"]
    cells = {(c.key, c.platform): c for c in report.cells}
    page = cells[("event_info.current_page_name", "iOS")]
    # The newest iOS event was good; the three bad ones before it are not hidden.
    assert (page.verdict, page.counts) == ("FAIL", {"FAIL": 3, "SUCCESS": 1})
    assert [(w.value, w.count) for w in page.wrong] == [
        ('"cart"', 2), (json.dumps(SCRIPT_PAGE, ensure_ascii=False), 1),
    ]  # fmt: skip
    assert all('"current_page_name"' in w.example_payload for w in page.wrong)
    assert cells[("content_info.type", "iOS")].counts == {"FAIL": 1, "SUCCESS": 3}
    assert cells[("event_info.current_page_name", "Android")].verdict == "SUCCESS"
    vouched = cells[("page_info.id", "Android")]
    assert (vouched.verdict, vouched.source, vouched.by) == ("SUCCESS", "override", "tess")
    assert [(o.kind, o.key, o.platform, o.by, o.reason) for o in report.overrides] == [
        ("override", "page_info.id", "Android", "tess", OVERRIDE_REASON)
    ]
    assert (report.event_counts.all, report.event_counts.bad) == (5, 3)
    assert [(u.event, u.platform, u.key, u.count, u.suggestion, u.path)
            for u in report.unplanned] == [
        ("play_click", "iOS", "page_infos", 2, "page_info", "$.page_infos"),
        ("play_click", "Android", HOSTILE_KEY, 1, "", f"$['{HOSTILE_KEY}']"),
    ]  # fmt: skip
    # Reported for review, never a failure by itself.
    assert "2 unplanned properties to review" in report.verdict_reason
    assert report.accounts == ("alice-42",) and report.created_by == "tess"


async def test_the_page_escapes_everything_and_needs_no_script(scenario, client) -> None:
    answer = await client.get(f"/sessions/{scenario.session.id}/report")
    assert answer.status_code == 200, answer.text
    parsed = parse_html(answer.text)
    assert "script" not in parsed.tags and parsed.handlers == []
    text = parsed.text
    for shown in (HOSTILE_PROJECT, HOSTILE_SESSION, OVERRIDE_REASON, "share_click", HOSTILE_KEY):
        assert shown in text, shown
    assert "<b>by hand</b>" not in answer.text  # shown as text, not markup
    assert HOSTILE_KEY not in answer.text and "img" not in parsed.tags
    assert "F3/S1 of 4" in text  # worst verdict first


async def test_the_page_prints_to_pdf_with_its_content(scenario, live_server, page) -> None:
    await page.goto(f"{live_server.url}/sessions/{scenario.session.id}/report")
    await page.emulate_media(media="print")
    assert not await page.locator(".downloads").is_visible()  # the print stylesheet applies
    pdf = await page.pdf(format="A4")
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    flat = " ".join(text.split())
    for needle in (
        "FAILED", "Never seen: share_click", "event_info.current_page_name", "FAIL in 3 of 4",
        '"cart"', "Overrides and resets", "tess", "checked on the device",
        "Coverage of enumerations", "Unplanned properties", "alice-42", "Plan version",
        "page_infos", "$.page_infos",
    ):  # fmt: skip
        assert needle in flat, f"{needle!r} not in the printed report: {flat[:3000]}"


async def test_csv_one_row_per_cell_parsed_back(scenario, client) -> None:
    answer = await client.get(f"/sessions/{scenario.session.id}/report.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    every = list(csv.DictReader(io.StringIO(answer.text)))
    rows = [r for r in every if r["source"] != "unplanned_property"]
    # play_click has 3 fields, share_click 1: 4 fields x 3 platforms.
    assert len(rows) == 12
    # Then a row per unplanned property and platform, after the cells.
    unplanned = {(r["field"], r["platform"]): r for r in every[12:]}
    assert len(every) == 14 and set(unplanned) == {("page_infos", "iOS"), (HOSTILE_KEY, "Android")}
    infos = unplanned[("page_infos", "iOS")]
    assert (infos["verdict"], infos["judged"], infos["uncertain"]) == ("UNCERTAIN", "2", "2")
    assert "did you mean page_info?" in infos["reason"] and "$.page_infos" in infos["reason"]
    by = {(r["event"], r["field"], r["platform"]): r for r in rows}
    page = by[("play_click", "event_info.current_page_name", "iOS")]
    assert (page["verdict"], page["fail"], page["success"], page["judged"]) == (
        "FAIL",
        "3",
        "1",
        "4",
    )
    assert page["wrong_values"].startswith('"cart" x2 | ')
    assert "current_page_name" in page["example_payload"]
    assert page["session_verdict"] == "failed"
    # Formula injection: text that a spreadsheet would run starts with an apostrophe.
    assert all(r["project"] == "'" + HOSTILE_PROJECT for r in rows)
    share = by[("share_click", "share.channel", "Android")]
    assert (share["verdict"], share["judged"]) == ("UNTESTED", "0")
    vouched = by[("play_click", "page_info.id", "Android")]
    assert (vouched["source"], vouched["by"], vouched["verdict"]) == ("override", "tess", "SUCCESS")


@pytest.mark.parametrize(
    ("raw", "safe"),
    [("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"),
     ("\tx", "'\tx"), ("\rx", "'\rx"), ("ok", "ok"), (3, 3), ("", "")],
)  # fmt: skip
def test_neutralise(raw, safe) -> None:
    assert neutralise(raw) == safe


async def test_junit_a_case_per_event_and_platform(scenario, client) -> None:
    answer = await client.get(f"/sessions/{scenario.session.id}/report.xml")
    assert answer.status_code == 200
    root = ET.fromstring(answer.content)  # well-formed despite control characters
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"play_click", "share_click"}
    play = {c.get("name"): c for c in suites["play_click"].findall("testcase")}
    assert set(play) == {"caught", "iOS", "Android", "Other"}
    failures = play["iOS"].findall("failure")
    assert sorted(f.get("message").split(":")[0] for f in failures) == [
        "content_info.type", "event_info.current_page_name",
    ]  # fmt: skip
    page_failure = next(f for f in failures if f.get("message").startswith("event_info"))
    assert "FAIL in 3 of 4" in page_failure.get("message")
    assert "<script>alert('page')</script>\\u0001" in page_failure.text
    assert play["Android"].find("failure") is None and play["Android"].find("skipped") is None
    assert play["Other"].find("skipped") is not None
    assert play["caught"].find("failure") is None
    share = {c.get("name"): c for c in suites["share_click"].findall("testcase")}
    assert share["caught"].find("failure").get("type") == "not_seen"
    assert root.get("failures") == "2" and root.get("tests") == "8"
    # Unplanned properties are noted beside the case, never failures of it.
    notes = play["iOS"].find("system-out").text
    assert "unplanned property page_infos ($.page_infos) in 2 event(s)" in notes
    assert "did you mean page_info?" in notes
    assert HOSTILE_KEY in play["Android"].find("system-out").text
    classname = play["iOS"].get("classname")
    assert classname == f"{HOSTILE_PROJECT}.play_click"


def _cli_env(settings) -> dict[str, str]:
    """The environment that points a `trackmaster` process at this test's database."""
    env = {**os.environ, "SQLITE_PATH": str(settings.sqlite_path), "DB_HOST": ""}
    if settings.uses_mysql:
        env.update(
            DB_HOST=settings.db_host, DB_PORT=str(settings.db_port), DB_USER=settings.db_user,
            DB_PASSWORD=str(settings.db_password), DB_NAME=settings.db_name,
        )  # fmt: skip
    return env


async def test_the_cli_writes_each_format(scenario, settings, tmp_path) -> None:
    env = _cli_env(settings)
    sid = str(scenario.session.id)
    junit = tmp_path / "r.xml"
    done = run_cli(env, "report", sid, "--format", "junit", "--output", str(junit))
    assert done.returncode == 0, done.stderr
    assert "failed" in done.stderr
    assert ET.parse(junit).getroot().get("failures") == "2"
    done = run_cli(env, "report", sid, "--format", "csv")
    assert done.returncode == 0, done.stderr
    assert len(list(csv.DictReader(io.StringIO(done.stdout)))) == 14  # 12 cells, 2 unplanned
    done = run_cli(env, "report", sid, "--format", "json")
    assert json.loads(done.stdout)["unseen"] == ["share_click"]
    done = run_cli(env, "report", "999999")
    assert done.returncode == 1 and "999999" in done.stderr


async def test_the_plan_version_says_when_the_plan_changed_during_the_session(scenario) -> None:
    from trackmaster.models import SyncRun

    run = await SyncRun.create(project_id=scenario.plan.project.id, source="file", status="ok")
    report = await build_report(scenario.session)
    assert report.plan_version.startswith(f"sync run {run.id} (file, ")
    assert report.plan_version.endswith("after this session started")
