"""Schedules over HTTP: the original's on/off API, state and interval, the project page's
schedule fragment (HTMX and plain forms, and a real browser), and the embedded scheduler."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from playwright.async_api import expect

from tests.conftest import running_app
from tests.fakes.jet import seed_realistic_plan
from tests.support.html import parse_tree
from tests.support.schedule import eventually, make_project, schedule_of, scheduled_runs
from trackmaster.models import Project, Schedule, SyncRun


async def test_on_off_and_state_like_the_original(db, client: httpx.AsyncClient) -> None:
    project = await make_project("video", enabled=False, jet_id="p1")
    on = await client.post("/api/v3/schedules/on", params={"project": project.id})
    assert on.status_code == 200, on.text
    assert on.json()["data"]["enabled"] is True
    assert on.json()["data"]["intervalS"] == 3600

    state = (await client.get("/api/v3/schedules", params={"project": project.id})).json()["data"]
    assert state["enabled"] is True and state["runs"] == []
    assert state["nextDueAt"] is not None  # never ran: due now

    off = await client.post("/api/v3/schedules/off", params={"project": project.id})
    assert off.json()["data"]["enabled"] is False
    assert (await schedule_of(project.id)).enabled is False


async def test_a_project_without_a_schedule_gets_one_with_the_default_interval(
    db, client: httpx.AsyncClient
) -> None:
    project = await Project.create(name="fresh", jet_id="p9")
    on = await client.post("/api/v3/schedules/on", params={"project": project.id})
    assert on.json()["data"]["intervalS"] == 3 * 3600


async def test_bad_parameters_answer_the_original_error_codes(
    db, client: httpx.AsyncClient
) -> None:
    files_only = await Project.create(name="from files")
    cases = [
        ({}, 400, 2, "project: is required"),
        ({"project": "seven"}, 400, 2, "project: must be a whole number"),
        ({"project": "999999"}, 404, 3, "no project with id 999999"),
        ({"project": str(files_only.id)}, 400, 5, "has no Jet id"),
    ]
    for params, status, code, message in cases:
        answer = await client.post("/api/v3/schedules/on", params=params)
        assert answer.status_code == status, (params, answer.text)
        assert answer.json()["code"] == code
        assert message in answer.json()["msg"]
    assert not await Schedule.filter(project_id=files_only.id).exists()


async def test_the_interval_is_whole_hours_from_1_to_24(db, client: httpx.AsyncClient) -> None:
    project = await make_project("video", jet_id="p1")
    for hours in ("0", "25", "1.5", ""):
        answer = await client.post(
            "/api/v3/schedules/interval", params={"project": project.id, "hours": hours}
        )
        assert answer.status_code == 400, hours
        assert answer.json()["code"] == 2
        assert answer.json()["details"][0]["field"] == "hours"
    assert "between 1 and 24" in answer.json()["msg"] or "1 to 24" in answer.json()["msg"]
    assert (await schedule_of(project.id)).interval_s == 3600  # unchanged

    six = await client.post(
        "/api/v3/schedules/interval", params={"project": project.id, "hours": "6"}
    )
    assert six.json()["data"]["intervalS"] == 6 * 3600


async def test_the_api_history_lists_scheduled_runs_newest_first(
    db, client: httpx.AsyncClient
) -> None:
    project = await make_project("video", jet_id="p1")
    for status in ("ok", "failed"):
        await SyncRun.create(project=project, source="jet", trigger="schedule", status=status)
    await SyncRun.create(project=project, source="jet", trigger="manual", status="ok")
    state = (await client.get("/api/v3/schedules", params={"project": project.id})).json()
    assert [run["status"] for run in state["data"]["runs"]] == ["failed", "ok"]


async def test_the_schedule_endpoints_are_in_the_openapi_document(
    db, client: httpx.AsyncClient
) -> None:
    paths = (await client.get("/api/v3/openapi.json")).json()["paths"]
    for path in ("/api/v3/schedules/on", "/api/v3/schedules/off", "/api/v3/schedules/interval"):
        assert "post" in paths[path]
    assert "get" in paths["/api/v3/schedules"]


# --- pages --------------------------------------------------------------------------------


async def test_the_schedule_page_and_its_fragment(db, client: httpx.AsyncClient) -> None:
    last = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    project = await make_project("video", jet_id="p1", last_run_at=last)
    schedule = await schedule_of(project.id)
    schedule.last_outcome, schedule.last_error = "failed", "Jet answered 503 <b>busy</b>"
    await schedule.save()
    await SyncRun.create(project=project, source="jet", trigger="schedule", status="failed")

    whole = await client.get(f"/projects/{project.id}/schedule")
    assert whole.status_code == 200
    page = parse_tree(whole.text)
    assert "html" in page.tags()
    assert page.by_id("schedule-state").text() == "ON"
    assert page.by_id("schedule-every").text() == "1 h"
    assert "2026-03-01 09:00:00" in page.by_id("schedule-last-run").text()
    assert "2026-03-01 10:00:00" in page.by_id("schedule-next-due").text()
    # Escaped, shown as text: never markup from an error message.
    assert page.by_id("schedule-last-error").text() == "Jet answered 503 <b>busy</b>"
    assert page.find(id="schedule-runs") is not None

    fragment = parse_tree((await client.get(f"/projects/{project.id}/schedule",
                                     headers={"HX-Request": "true"})).text)  # fmt: skip
    assert "html" not in fragment.tags() and fragment.by_id("schedule-state").text() == "ON"


async def test_the_forms_work_without_javascript(db, client: httpx.AsyncClient) -> None:
    project = await make_project("video", enabled=False, jet_id="p1")
    posted = await client.post(f"/projects/{project.id}/schedule", data={"enabled": "on"})
    assert posted.status_code == 303
    assert posted.headers["location"] == f"/projects/{project.id}#schedule"
    assert (await schedule_of(project.id)).enabled is True

    await client.post(f"/projects/{project.id}/schedule", data={"hours": "12"})
    assert (await schedule_of(project.id)).interval_s == 12 * 3600

    wrong = await client.post(f"/projects/{project.id}/schedule", data={"hours": "48"})
    assert wrong.status_code == 400
    assert (
        "hours: must be between 1 and 24, got 48" in parse_tree(wrong.text).by_id("schedule").text()
    )
    assert (await schedule_of(project.id)).interval_s == 12 * 3600


async def test_htmx_gets_the_fragment_back_errors_included(db, client: httpx.AsyncClient) -> None:
    project = await make_project("video", enabled=False, jet_id="p1")
    htmx = {"HX-Request": "true"}
    on = await client.post(f"/projects/{project.id}/schedule", data={"enabled": "on"}, headers=htmx)
    assert on.status_code == 200
    fragment = parse_tree(on.text)
    assert "html" not in fragment.tags()
    assert fragment.by_id("schedule-state").text() == "ON"
    assert fragment.find(id="schedule-toggle") is not None

    wrong = await client.post(
        f"/projects/{project.id}/schedule", data={"enabled": "maybe"}, headers=htmx
    )
    assert wrong.status_code == 400
    assert "enabled: must be on or off" in parse_tree(wrong.text).by_id("schedule").text()


async def test_the_project_page_shows_the_schedule_and_a_browser_turns_it_on(
    db, live_server, page
) -> None:
    project = await make_project("video", enabled=False, jet_id="p1")
    await page.goto(f"{live_server.url}/projects/{project.id}")
    await expect(page.locator("#schedule-state")).to_have_text("OFF")
    await page.click("#schedule-toggle")
    await expect(page.locator("#schedule-state")).to_have_text("ON", timeout=10_000)
    assert (await schedule_of(project.id)).enabled is True
    # The swapped fragment carries the run history the project page loads lazily.
    await expect(page.get_by_text("No scheduled run yet.")).to_be_visible(timeout=10_000)
    await page.select_option("#schedule-hours", "6")
    await page.click("#schedule-save-interval")
    await expect(page.locator("#schedule-every")).to_have_text("6 h", timeout=10_000)
    assert (await schedule_of(project.id)).interval_s == 6 * 3600


# --- the embedded scheduler ---------------------------------------------------------------


async def test_without_a_broker_the_web_process_syncs_due_schedules(db, settings, fake_jet) -> None:
    seeded = seed_realistic_plan(fake_jet)
    due = await make_project(
        "video", jet_id=seeded["project"]["id"], last_run_at=datetime.now(UTC) - timedelta(days=1)
    )
    off = await make_project("music", jet_id=seeded["music"]["id"], enabled=False)
    embedded = settings.replace(broker="", jet_url=fake_jet.url, schedule_scan_interval_s=0.2)
    async with running_app(embedded):

        async def synced() -> bool:
            runs = await scheduled_runs(due.id)
            return bool(runs) and runs[-1].status == "ok"

        await eventually(synced, timeout_s=20, what="the due project synced in the web process")
        # Five more scans at 0.2 s: the project is not due again, nothing else runs.
        await asyncio.sleep(1.0)
    assert len(await scheduled_runs(due.id)) == 1
    assert await scheduled_runs(off.id) == []
    assert (await schedule_of(due.id)).last_outcome == "ok"
