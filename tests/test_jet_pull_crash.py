"""A web process killed (SIGKILL) with Jet logs staged but not stored: the next one stores them.

Both TrackMasters are real processes (the venv's Python, by path) on the test's
database; the fake Jet runs in this process. The first one's stores fail
(its event_log table is renamed away under it), so what it reads from Jet is
staged and Jet is cleared; then it is killed without any chance to clean up.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.realtime import make_plan, play_log
from tests.test_jet_pull import _rename_event_log, eventually
from trackmaster.models import EventLog, JetStagedLog

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 30.0

pytestmark = [pytest.mark.faults, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(settings, jet_url: str, port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DB_")}
    # JET_CLEAR_AT_LOGS=1: the killed process has cleared Jet, so only staging holds the logs.
    env.update(
        HOST="127.0.0.1", PORT=str(port), SECRET_KEY="crash-test", LOG_LEVEL="WARNING",
        JET_URL=jet_url, POLL_INTERVAL_S="0.1", REDIS="", BROKER="", JET_CLEAR_AT_LOGS="1",
        SQLITE_PATH=str(settings.sqlite_path),
    )  # fmt: skip
    if settings.uses_mysql:
        env.update(
            DB_HOST=settings.db_host, DB_PORT=str(settings.db_port), DB_NAME=settings.db_name,
            DB_USER=settings.db_user, DB_PASSWORD=settings.db_password,
        )  # fmt: skip
    return env


@contextlib.asynccontextmanager
async def web_process(env: dict[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uvicorn", "web.app:create_app", "--factory",
        "--host", "127.0.0.1", "--port", env["PORT"], "--log-level", "warning",
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{env['PORT']}"
        async with httpx.AsyncClient(base_url=url, timeout=5) as http:
            deadline = asyncio.get_running_loop().time() + START_TIMEOUT_S
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/ping")).status_code == 200:
                        break
                assert process.returncode is None, "TrackMaster exited at start"
                assert asyncio.get_running_loop().time() < deadline, "TrackMaster did not start"
                await asyncio.sleep(0.1)
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), timeout=30)


async def test_a_killed_puller_loses_no_staged_log_and_the_next_process_stores_each_once(
    db, settings, fake_jet
) -> None:
    jet_project = fake_jet.add_project("video")
    plan = await make_plan(jet_id=jet_project["id"])
    first = _env(settings, fake_jet.url, _free_port())
    async with web_process(first) as process:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{first['PORT']}") as http:
            answer = await http.post(
                "/api/v3/realTime/start",
                json={"project": plan.project.id, "accounts": ["alice-42"],
                      "events": [plan.play.id]},
            )  # fmt: skip
        assert answer.status_code == 201, answer.text
        session_id, filter_id = answer.json()["id"], answer.json()["jetFilterId"]
        jet_filter = fake_jet.filters[filter_id]
        await _rename_event_log(settings, "event_log_away", "event_log")
        try:
            for page in ("home", "player"):
                fake_jet.emit(jet_project["id"], "alice-42", "play_click", play_log(page=page))

            async def staged_and_cleared() -> bool:
                staged = await JetStagedLog.filter(session_id=session_id).count()
                return staged == 2 and not jet_filter["logs"]

            assert await eventually(staged_and_cleared, timeout_s=10)
            process.send_signal(signal.SIGKILL)
            await asyncio.wait_for(process.wait(), timeout=10)
        finally:
            await _rename_event_log(settings, "event_log", "event_log_away")
    assert process.returncode == -signal.SIGKILL
    # Jet no longer has them; only the staging table does.
    assert jet_filter["logs"] == [] and jet_filter["cleared_unread"] == 0
    assert await EventLog.filter(session_id=session_id).count() == 0

    second = _env(settings, fake_jet.url, _free_port())
    async with web_process(second):
        fake_jet.emit(jet_project["id"], "alice-42", "play_click", play_log(page="home"))

        async def three_stored() -> bool:
            return await EventLog.filter(session_id=session_id).count() == 3

        assert await eventually(three_stored, timeout_s=15)
        await asyncio.sleep(0.5)  # more rounds store nothing twice
        ids = await EventLog.filter(session_id=session_id).values_list("message_id", flat=True)
    assert len(ids) == len(set(ids)) == 3
    assert await JetStagedLog.filter(session_id=session_id).count() == 0
