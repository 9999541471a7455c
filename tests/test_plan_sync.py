"""Plan sync from the fake Jet, on SQLite and MariaDB: complete, idempotent, atomic, safe."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.fakes.jet import FakeJet, seed_realistic_plan
from trackmaster.db import Database
from trackmaster.errors import TooManyRequests
from trackmaster.models import (
    AuditEntry,
    EnumType,
    Event,
    Field,
    Project,
    SessionEvent,
    Story,
    SyncRun,
    TestSession,
)
from trackmaster.plan.jet import JetClient
from trackmaster.plan.snapshot import PlanSnapshot
from trackmaster.plan.sync import (
    fetch_jet_snapshot,
    run_sync,
    sync_project_from_jet,
    sync_projects_from_jet,
)


def jet_client(fake_jet: FakeJet, **kwargs: Any) -> JetClient:
    return JetClient(fake_jet.url, 2.0, kwargs.pop("retries", 1), backoff_s=0.01, **kwargs)


async def plan_rows() -> dict[str, list[tuple]]:
    """Everything a sync may write, as comparable tuples."""
    return {
        "enum_type": [tuple(r.values()) for r in await EnumType.all().values("jet_id", "name")],
        "story": [
            tuple(r.values())
            for r in await Story.all().order_by("id").values("jet_id", "name", "removed_at")
        ],
        "event": [
            tuple(r.values())
            for r in await Event.all().order_by("id").values("jet_id", "name", "removed_at")
        ],
        "field": [
            (r["jet_id"], r["key"], tuple(r["values"]), r["removed_at"])
            for r in await Field.all()
            .order_by("id")
            .values("jet_id", "key", "values", "removed_at")
        ],
    }


async def synced_project(fake_jet: FakeJet, **kwargs: Any) -> tuple[Project, dict, SyncRun]:
    plan = seed_realistic_plan(fake_jet)
    project = await Project.create(name="video", jet_id=plan["project"]["id"])
    async with jet_client(fake_jet) as jet:
        run = await sync_project_from_jet(project, jet, **kwargs)
    return project, plan, run


async def field_named(project: Project, event: str, key: str) -> Field:
    return await Field.get(key=key, event__name=event, event__story__project_id=project.id)


async def test_first_sync_creates_the_plan_with_values_resolved(
    db: Database, fake_jet: FakeJet
) -> None:
    project, plan, run = await synced_project(fake_jet, started_by="alice")
    assert run.status == "ok", run.error
    assert run.source == "jet" and run.started_by == "alice" and run.finished_at
    assert run.diff["created"] == {
        "enum_type": 2, "enum_value": 6, "story": 2, "event": 2, "field": 9
    }  # fmt: skip
    assert run.diff["updated"] == {} and run.diff["removed"] == {}

    page = await field_named(project, "play_click", "event_info.current_page_name")
    assert page.values == ["home", "player"]
    assert page.raw_values == fake_jet.enum_ids(
        plan["project"]["id"], "page_name", "home", "player"
    )
    assert page.type_name == "page_name" and page.enum_type_id is not None
    assert (await field_named(project, "play_click", "player.quality")).values == [
        "hd", "sd", "auto"
    ]  # fmt: skip
    assert (await field_named(project, "play_click", "player.mode")).values == ["full", "mini"]
    assert (await field_named(project, "play_click", "player.muted")).values == ["yes", "no"]
    assert (await field_named(project, "play_click", "share.url")).values == [
        "https://example.com/a/b"
    ]
    assert (await field_named(project, "play_click", "page_info.id")).values == []
    story = await Story.get(project=project, jet_id=plan["player_story"]["id"])
    assert story.name == "Player <v2> & friends"
    assert story.description == "Play episodes; <script>alert(1)</script>"
    audit = await AuditEntry.get(action="plan.jet")
    assert audit.actor == "alice" and audit.details["status"] == "ok"


async def test_a_second_sync_changes_nothing(db: Database, fake_jet: FakeJet) -> None:
    project, _, _ = await synced_project(fake_jet)
    before = await plan_rows()
    async with jet_client(fake_jet) as jet:
        again = await sync_project_from_jet(project, jet)
    assert again.status == "ok"
    assert again.diff == {"created": {}, "updated": {}, "removed": {}, "items": []}
    assert await plan_rows() == before


async def test_changes_are_applied_and_listed_in_the_diff(db: Database, fake_jet: FakeJet) -> None:
    project, plan, _ = await synced_project(fake_jet)
    pid = plan["project"]["id"]
    fake_jet.edit_story(plan["search_story"]["id"], name="搜索 Search v2")
    play = plan["play"]
    quality = next(f for f in play["eventDefinitions"] if f["name"] == "player.quality")
    fake_jet.edit_field(quality["id"], values=["hd|sd"])
    fake_jet.add_field(
        play["id"], fake_jet.enum_field(pid, "content_info.page", "page_name", "search")
    )
    fake_jet.edit_event(plan["search"]["id"], name="search_go")
    async with jet_client(fake_jet) as jet:
        run = await sync_project_from_jet(project, jet)
    assert run.status == "ok", run.error
    assert run.diff["created"] == {"field": 1}
    assert run.diff["updated"] == {"story": 1, "event": 1, "field": 1}
    assert run.diff["removed"] == {}
    updated = {(i["kind"], i["name"]): i for i in run.diff["items"] if i["action"] == "updated"}
    assert updated[("field", "player.quality")]["changes"] == ["raw_values", "values"]
    assert (await field_named(project, "play_click", "player.quality")).values == ["hd", "sd"]
    assert await Event.filter(name="search_go", removed_at=None).count() == 1


async def test_removed_events_and_fields_keep_the_sessions_that_used_them(
    db: Database, fake_jet: FakeJet
) -> None:
    project, plan, _ = await synced_project(fake_jet)
    play = await Event.get(jet_id=plan["play"]["id"])
    session = await TestSession.create(
        project=project, expires_at=datetime.now(UTC) + timedelta(hours=1)
    )
    await SessionEvent.create(session=session, event=play, name=play.name)
    muted = next(f for f in plan["play"]["eventDefinitions"] if f["name"] == "player.muted")
    fake_jet.delete_field(muted["id"])
    fake_jet.delete_event(plan["search"]["id"])
    async with jet_client(fake_jet) as jet:
        run = await sync_project_from_jet(project, jet)
    assert run.diff["removed"] == {"event": 1, "field": 3}  # search_submit's 2 + player.muted
    assert (await field_named(project, "play_click", "player.muted")).removed_at is not None
    search = await Event.get(jet_id=plan["search"]["id"])
    assert search.removed_at is not None
    # The session still has its event; nothing of its history was deleted.
    assert await SessionEvent.filter(session=session, event=play).count() == 1
    assert await TestSession.filter(id=session.id).count() == 1
    # Removing the event the session used keeps the link too.
    fake_jet.delete_event(plan["play"]["id"])
    async with jet_client(fake_jet) as jet:
        await sync_project_from_jet(project, jet)
    assert (await Event.get(id=play.id)).removed_at is not None
    assert await SessionEvent.filter(session=session, event_id=play.id).count() == 1


async def test_jet_failing_halfway_writes_nothing(db: Database, fake_jet: FakeJet) -> None:
    project, plan, _ = await synced_project(fake_jet)
    before = await plan_rows()
    fake_jet.edit_story(plan["player_story"]["id"], name="renamed")
    fake_jet.edit_story(plan["search_story"]["id"], name="renamed too")
    # The first story detail answers, the second fails (and keeps failing through retries).
    fake_jet.fail_after(1, "story", 500)
    async with jet_client(fake_jet, retries=2) as jet:
        run = await sync_project_from_jet(project, jet)
    assert run.status == "failed"
    assert "GET /v1/internals/requirement/" in run.error and "500" in run.error
    assert run.diff == {} and run.finished_at is not None
    assert await plan_rows() == before
    assert (await AuditEntry.filter(action="plan.jet").order_by("-id").first()).details[
        "status"
    ] == "failed"


async def test_a_failure_while_writing_rolls_everything_back(
    db: Database, fake_jet: FakeJet
) -> None:
    plan = seed_realistic_plan(fake_jet)
    project = await Project.create(name="video", jet_id=plan["project"]["id"])

    def fail_at_fields(stage: str, done: int, total: int) -> None:
        if stage == "fields":
            raise RuntimeError("disk full")

    async with jet_client(fake_jet) as jet:

        async def fetch(progress):
            return await fetch_jet_snapshot(jet, plan["project"]["id"], full=True)

        run = await run_sync(
            project, fetch, source="jet", trigger="manual", on_progress=fail_at_fields
        )
    assert run.status == "failed" and "disk full" in run.error
    # Stories and events were inserted before the failure: the transaction took them back.
    assert await plan_rows() == {"enum_type": [], "story": [], "event": [], "field": []}


async def test_recent_sync_reads_n_newest_and_full_sync_removes_what_left(
    db: Database, fake_jet: FakeJet
) -> None:
    project = fake_jet.add_project("p")
    stories = [fake_jet.add_story(project["id"], f"story {n}") for n in range(5)]
    local = await Project.create(name="p", jet_id=project["id"])
    async with jet_client(fake_jet, story_page_size=2) as jet:
        recent = await sync_project_from_jet(local, jet)
        assert recent.diff["created"] == {"story": 2}
        assert {s.name for s in await Story.all()} == {"story 4", "story 3"}
        full = await sync_project_from_jet(local, jet, full=True)
        assert full.diff["created"] == {"story": 3}
        assert len(fake_jet.calls("stories")) == 1 + 3  # one page, then pages 1..3
        fake_jet.delete_story(stories[0]["id"])
        # A recent-only sync cannot know about stories outside its window: nothing removed.
        assert (await sync_project_from_jet(local, jet)).diff["removed"] == {}
        removed = await sync_project_from_jet(local, jet, full=True)
    assert removed.diff["removed"] == {"story": 1}
    assert (await Story.get(jet_id=stories[0]["id"])).removed_at is not None


async def test_full_sync_setting_is_the_default(db: Database, fake_jet: FakeJet) -> None:
    project = fake_jet.add_project("p")
    for n in range(4):
        fake_jet.add_story(project["id"], f"story {n}")
    local = await Project.create(name="p", jet_id=project["id"])
    async with jet_client(fake_jet, story_page_size=3, full_sync=True) as jet:
        run = await sync_project_from_jet(local, jet)
    assert run.diff["created"] == {"story": 4}


async def test_projects_sync_creates_and_renames(db: Database, fake_jet: FakeJet) -> None:
    plan = seed_realistic_plan(fake_jet)
    async with jet_client(fake_jet) as jet:
        first = await sync_projects_from_jet(jet)
        assert first["created"] == {"project": 2}
        plan["music"]["cnName"] = "Musik"
        second = await sync_projects_from_jet(jet, started_by="bob")
    assert second["created"] == {} and second["updated"] == {"project": 1}
    assert {p.name for p in await Project.all()} == {"视频 App", "Musik"}
    assert (await AuditEntry.filter(action="plan.projects").order_by("-id").first()).actor == "bob"


async def test_a_project_syncs_once_at_a_time(db: Database, fake_jet: FakeJet) -> None:
    plan = seed_realistic_plan(fake_jet)
    project = await Project.create(name="video", jet_id=plan["project"]["id"])
    fake_jet.delay("enum_types", 0.5, times=1)
    async with jet_client(fake_jet) as jet:
        first = asyncio.create_task(sync_project_from_jet(project, jet))
        await asyncio.sleep(0.2)
        with pytest.raises(TooManyRequests, match="already syncing"):
            await sync_project_from_jet(project, jet)
        assert (await first).status == "ok"


async def test_an_ambiguous_plan_is_refused(db: Database) -> None:
    from trackmaster.plan.snapshot import PlanStory

    project = await Project.create(name="p")

    async def fetch(progress):
        return PlanSnapshot(stories=[PlanStory("same"), PlanStory("same")])

    run = await run_sync(project, fetch, source="file", trigger="cli")
    assert run.status == "failed" and "story 'same' appears twice" in run.error
    assert await Story.all().count() == 0
