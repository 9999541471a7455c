"""A plan change reaches this process's live sessions at once, not after their cache expires."""

from __future__ import annotations

import gc

from trackmaster.models import Project
from trackmaster.plan.changes import on_plan_change, plan_changed
from trackmaster.plan.files import read_plan
from trackmaster.plan.sync import import_snapshot
from trackmaster.sessions.live import LiveIndex

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
    recorder = Recorder()
    on_plan_change(recorder.heard)
    await import_snapshot(project, read_plan(PLAN_V1, "plan.yaml"))
    await import_snapshot(project, read_plan(PLAN_V1, "plan.yaml"))  # no change: no call
    await import_snapshot(project, read_plan(PLAN_V2, "plan.yaml"))
    assert recorder.seen == [project.id, project.id]


async def test_the_live_index_forgets_the_project_it_is_told_about(db) -> None:
    project = await Project.create(name="p")
    index = LiveIndex(ttl_s=3600)
    on_plan_change(index.invalidate)
    cached = await index.snapshot(project.id)
    assert await index.snapshot(project.id) is cached  # an hour's TTL: read once
    plan_changed(project.id)
    fresh = await index.snapshot(project.id)
    assert fresh is not cached and fresh.loaded_at >= cached.loaded_at  # read again at once


def test_listeners_that_are_gone_drop_out() -> None:
    gc.collect()  # other tests' dead listeners go first, so only ours can change the count
    recorder = Recorder()
    on_plan_change(recorder.heard)
    with_recorder = plan_changed(424242)
    assert recorder.seen == [424242]
    del recorder
    gc.collect()
    assert plan_changed(424242) == with_recorder - 1
