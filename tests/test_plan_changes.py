"""A plan change reaches this process's live sessions at once, not after their cache expires."""

from __future__ import annotations

from tests.support.realtime import play_log
from trackmaster.bus import MemoryBus
from trackmaster.models import Account, Event, EventLog, Field, Platform, Project
from trackmaster.plan.changes import PlanChanges
from trackmaster.plan.files import read_plan
from trackmaster.plan.sync import import_snapshot
from trackmaster.sessions.ingest import Ingestor
from trackmaster.sessions.lifecycle import Lifecycle
from trackmaster.sessions.live import LiveIndex
from trackmaster.sources import CaughtEvent

PLAN_V1 = b"""
format: trackmaster-plan/1
stories:
  - name: Playback
    events:
      - name: play_click
        fields:
          - key: player.quality
            values: [hd, sd]
"""
PLAN_V2 = PLAN_V1.replace(b"[hd, sd]", b"[hd, sd, auto]")


class Recorder:
    def __init__(self) -> None:
        self.seen: list[int] = []

    def heard(self, project_id: int) -> None:
        self.seen.append(project_id)


async def test_a_sync_that_changes_the_plan_tells_the_listeners_once(db) -> None:
    project = await Project.create(name="p")
    recorder, changes = Recorder(), PlanChanges()
    changes.listen(recorder.heard)
    v1, v2 = read_plan(PLAN_V1, "plan.yaml"), read_plan(PLAN_V2, "plan.yaml")
    await import_snapshot(project, v1, changes=changes)
    await import_snapshot(project, v1, changes=changes)  # no change: no call
    await import_snapshot(project, v2, changes=changes)
    assert recorder.seen == [project.id, project.id]


async def test_a_live_session_judges_by_the_changed_plan_at_once(db) -> None:
    # The index keeps a project's plan for an hour; a plan change must not wait for that.
    project = await Project.create(name="p")
    await import_snapshot(project, read_plan(PLAN_V1, "plan.yaml"))
    await Account.create(project=project, user_id="alice-42", description="phone")
    event = await Event.get(name="play_click", story__project_id=project.id)
    quality = await Field.get(event_id=event.id, key="player.quality")
    index, bus, changes = LiveIndex(ttl_s=3600), MemoryBus(), PlanChanges()
    changes.listen(index.invalidate)
    await Lifecycle(index, bus, limit_s=3600).start(project.id, ["alice-42"], [event.id])
    ingestor = Ingestor(index, bus, unmatched_keep=3)

    async def verdict_of_auto() -> str:
        payload = play_log(player={"quality": "auto"})
        caught = CaughtEvent("play_click", "alice-42", Platform.IOS, payload, "collect", None, None)
        assert (await ingestor.ingest(project.id, [caught])).stored == 1
        log = await EventLog.filter(event_id=event.id).order_by("-id").first()
        assert log is not None
        return str(log.verdicts[str(quality.id)][0])

    assert await verdict_of_auto() == "FAIL"  # the first plan allows hd and sd
    await import_snapshot(project, read_plan(PLAN_V2, "plan.yaml"), changes=changes)
    assert await verdict_of_auto() == "SUCCESS"  # the new one allows auto: in force at once


def test_a_failing_listener_does_not_keep_the_others_from_hearing() -> None:
    changes, recorder = PlanChanges(), Recorder()

    def broken(project_id: int) -> None:
        raise RuntimeError("a broken cache")

    changes.listen(broken)
    changes.listen(recorder.heard)
    assert changes.changed(424242) == 1
    assert recorder.seen == [424242]


def test_each_process_has_its_own_listeners() -> None:
    # No module-global registry: one Runtime's plan changes reach only its own caches.
    one, other, recorder = PlanChanges(), PlanChanges(), Recorder()
    one.listen(recorder.heard)
    assert other.changed(7) == 0
    assert recorder.seen == []
