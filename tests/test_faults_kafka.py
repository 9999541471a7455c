"""A Kafka outage on a private broker: the workers' --check says so within their heartbeat TTL,
and the web stays ready (Kafka only carries scheduled plan syncs)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.conftest import running_app
from tests.support.kafka_broker import PrivateBroker
from tests.support.schedule import process_env, run_module, start_module

pytestmark = [pytest.mark.faults, pytest.mark.services]

HEARTBEAT_TTL_S = 9.0


async def _check(module: str, env: dict[str, str]):
    return await asyncio.to_thread(run_module, module, env, "--check")


async def _until_check(module: str, env: dict[str, str], *, ok: bool, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while True:
        ran = await _check(module, env)
        if (ran.returncode == 0) == ok:
            return ran
        if time.monotonic() > deadline:
            raise AssertionError(f"{module} --check stayed {ran.stdout!r} for {timeout_s:g} s")
        await asyncio.sleep(0.3)


async def test_workers_report_a_broker_outage_within_their_heartbeat_ttl(
    db, settings, unique_topic, tmp_path
) -> None:
    if settings.uses_mysql:
        pytest.skip("a broker outage does not depend on the database; run once, on SQLite")
    broker = PrivateBroker(tmp_path / "broker")
    await broker.start()
    env = process_env(
        settings, BROKER=broker.bootstrap, TOPIC=unique_topic, SCHEDULE_SCAN_INTERVAL_S="300",
        HEARTBEAT_TTL_S=str(HEARTBEAT_TTL_S),
    )  # fmt: skip
    workers = {
        module: start_module(module, env, tmp_path / f"{module}.log")
        for module in ("workers.consumer", "workers.producer")
    }
    try:
        for module in workers:
            await _until_check(module, env, ok=True, timeout_s=60)
        await broker.stop()
        stopped_at = time.monotonic()
        noticed = {}
        for module in workers:
            ran = await _until_check(module, env, ok=False, timeout_s=HEARTBEAT_TTL_S + 10)
            noticed[module] = time.monotonic() - stopped_at
            assert "broker unreachable" in ran.stdout, ran.stdout
        print(f"broker outage noticed by --check after {noticed}")
        assert all(s < HEARTBEAT_TTL_S for s in noticed.values()), noticed
        await broker.start()
        for module in workers:
            await _until_check(module, env, ok=True, timeout_s=60)
        assert all(w.popen.poll() is None for w in workers.values())
    finally:
        for worker in workers.values():
            worker.kill()
        await broker.stop()


async def test_the_web_stays_ready_with_kafka_away(db, settings, tmp_path) -> None:
    broker = PrivateBroker(tmp_path / "broker")  # made, never started: nothing listens
    async with (
        running_app(settings.replace(broker=broker.bootstrap)) as server,
        httpx.AsyncClient(base_url=server.url, timeout=10) as http,
    ):
        ready = await http.get("/healthz/ready")
        health = await http.get("/healthz")
    assert ready.status_code == 200
    assert health.status_code == 200, "Kafka away must not take the node out of a balancer"
    body = health.json()
    assert body["status"] == "degraded" and body["checks"]["kafka"]["ok"] is False
