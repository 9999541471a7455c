"""`honcho start` runs the Procfile: web, producer and consumer come up against the real
Kafka, Redis and MariaDB, report healthy, sync a due schedule, and stop cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from tests.fakes.jet import seed_realistic_plan
from tests.support.schedule import (
    BARE_PATH,
    ROOT,
    Proc,
    eventually,
    make_project,
    process_env,
    run_module,
    scheduled_runs,
)
from tests.support.servers import free_port

# The venv this test suite runs in (scripts/test starts `.venv/bin/python -m pytest`).
VENV = Path(sys.prefix)


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip()[:1] not in ("#", ""))


def test_the_procfile_names_the_three_processes() -> None:
    venv_bin = '"${VIRTUAL_ENV:-.venv}/bin'
    assert procfile() == {
        "web": f'exec {venv_bin}/trackmaster" serve',
        "producer": f'exec {venv_bin}/python" -m workers.producer',
        "consumer": f'exec {venv_bin}/python" -m workers.consumer',
    }


@pytest.mark.parametrize("process", ["web", "producer", "consumer"])
def test_each_procfile_command_runs_from_an_activated_venv_with_a_bare_path(
    process: str, tmp_path: Path
) -> None:
    # An activated venv sets VIRTUAL_ENV; the directory has no .venv of its own.
    command = procfile()[process] + " --help"
    env = {"PATH": BARE_PATH, "VIRTUAL_ENV": str(VENV), "HOME": str(tmp_path)}
    ran = subprocess.run(
        ["/bin/sh", "-c", command], env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "usage:" in ran.stdout


async def test_honcho_start_runs_web_producer_and_consumer(
    db, settings, fake_jet, kafka_bootstrap, unique_topic, redis_url, redis_prefix, tmp_path
) -> None:
    if not settings.uses_mysql:
        pytest.skip("the Procfile's processes share one database: tested on MariaDB")
    seeded = seed_realistic_plan(fake_jet)
    project = await make_project("video", jet_id=seeded["project"]["id"])
    port = free_port()
    env = process_env(
        settings, BROKER=kafka_bootstrap, TOPIC=unique_topic, REDIS=redis_url,
        REDIS_PREFIX=redis_prefix, CONSUMER_GROUP=f"tm-test-{uuid.uuid4().hex[:8]}",
        JET_URL=fake_jet.url, SCHEDULE_SCAN_INTERVAL_S="0.5", HEARTBEAT_TTL_S="5",
        SHUTDOWN_GRACE_S="3",
    )  # fmt: skip
    (tmp_path / "empty.env").write_text("")
    # As a newcomer runs it: `.venv/bin/honcho start` beside the venv, nothing activated and
    # nothing but the system on PATH. The directory is an empty one with the venv linked in,
    # so that a developer's own .env cannot leak in.
    (tmp_path / ".venv").symlink_to(VENV)
    assert env["PATH"] == BARE_PATH and "VIRTUAL_ENV" not in env
    honcho = Proc(
        [str(VENV / "bin" / "honcho"), "start", "--no-colour", "-f", str(ROOT / "Procfile"),
         "-d", str(tmp_path), "-e", str(tmp_path / "empty.env"), "-p", str(port)],
        env, tmp_path, tmp_path / "honcho.log",
    )  # fmt: skip
    try:

        async def web_healthy() -> bool:
            try:
                async with httpx.AsyncClient(timeout=2) as http:
                    answer = await http.get(f"http://127.0.0.1:{port}/healthz")
            except httpx.HTTPError:
                return False
            return answer.status_code == 200 and answer.json()["checks"]["kafka"]["ok"]

        await eventually(web_healthy, timeout_s=40, what=f"web healthy on port {port}")

        async def synced() -> bool:
            runs = await scheduled_runs(project.id)
            return bool(runs) and runs[-1].status == "ok"

        await eventually(synced, timeout_s=40, what="the due project synced through Kafka")
        for worker in ("producer", "consumer"):
            check = run_module(f"workers.{worker}", env, "--check")
            assert check.returncode == 0, check.stdout + check.stderr + honcho.output

        honcho.signal(signal.SIGTERM)
        await honcho.wait_exit(timeout_s=30)
    finally:
        honcho.kill()
    output = honcho.output
    assert "producer stopped" in output and "consumer stopped" in output, output
    assert f"project {project.id}: ok in" in output
    for name in ("producer", "consumer"):
        assert f"{name}.1 stopped (rc=0)" in output, output
    # uvicorn finishes its shutdown, then re-raises SIGTERM so its exit says why it ended.
    assert "Application shutdown complete" in output
    assert "web.1 stopped (rc=-15)" in output
    assert len(await scheduled_runs(project.id)) == 1
