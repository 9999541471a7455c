"""The demo the run command loads: a plan, two accounts, a session with real verdicts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from trackmaster.models import EventLog, TestSession
from trackmaster.plan.demo import ensure_demo
from trackmaster.runtime import Runtime
from trackmaster.sessions.demo import demo_events, ensure_demo_session

ROOT = Path(__file__).resolve().parent.parent


async def test_demo_session_holds_every_kind_of_verdict_and_is_made_once(db, settings) -> None:
    project, _ = await ensure_demo()
    runtime = await Runtime.open(settings)
    try:
        session = await ensure_demo_session(runtime.realtime, project)
        assert session is not None
        assert await ensure_demo_session(runtime.realtime, project) is None
    finally:
        await runtime.close()
    logs = await EventLog.filter(session=session)
    assert len(logs) == len(demo_events())
    assert {log.platform.value for log in logs} == {"iOS", "Android"}
    verdicts = {got[0] for log in logs for got in log.verdicts.values()}
    assert {"SUCCESS", "FAIL", "UNCERTAIN"} <= verdicts
    assert await TestSession.filter(project=project).count() == 1


def test_demo_command_prints_the_project_and_session(tmp_path: Path) -> None:
    env = {**os.environ, "SQLITE_PATH": str(tmp_path / "demo.sqlite3")}
    for name in ("DB_HOST", "REDIS", "BROKER"):
        env.pop(name, None)
    first = subprocess.run(
        [sys.executable, "-m", "trackmaster", "demo"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "demo session #1" in first.stdout
    again = subprocess.run(
        [sys.executable, "-m", "trackmaster", "demo"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "demo session" not in again.stdout and "no change" in again.stdout
