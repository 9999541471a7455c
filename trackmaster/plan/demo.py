"""`trackmaster demo`: a "Demo app" project from examples/plan.yaml with two test accounts.

Idempotent: running it again re-imports the same plan (no change) and keeps
the accounts, so the run script can call it before every start.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from trackmaster.models import Account, Project, SyncRun
from trackmaster.plan.reading import read_plan_off_loop
from trackmaster.plan.sync import import_snapshot

DEMO_PROJECT = "Demo app"
DEMO_PLAN = Path(__file__).resolve().parents[2] / "examples" / "plan.yaml"
DEMO_ACCOUNTS = (("tester-ios-1", "Alice's iPhone"), ("tester-android-1", "Bob's Pixel"))


async def ensure_demo(started_by: str = "") -> tuple[Project, SyncRun]:
    snapshot = await read_plan_off_loop(
        await asyncio.to_thread(DEMO_PLAN.read_bytes), DEMO_PLAN.name
    )
    project = await Project.filter(name=DEMO_PROJECT, jet_id=None).order_by("id").first()
    if project is None:
        project = await Project.create(
            name=DEMO_PROJECT, description="An example plan to try TrackMaster with."
        )
    run = await import_snapshot(project, snapshot, trigger="demo", started_by=started_by)
    for user_id, description in DEMO_ACCOUNTS:
        await Account.get_or_create(
            project=project, user_id=user_id, defaults={"description": description}
        )
    return project, run
