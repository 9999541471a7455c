"""The producer: due schedules to the topic, the topic made with 2 partitions, a broker that
goes away and comes back, SIGTERM, and `--check`. Real Kafka, real processes."""

from __future__ import annotations

import json
import signal
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from tests.support.kafka_broker import PrivateBroker
from tests.support.schedule import make_project, process_env, run_module, start_module
from workers.producer import Producer

# The producer's log line while the broker is away (it names the BROKER setting).
UNREACHABLE = "cannot connect to Kafka at"


async def read_topic(bootstrap: str, topic: str, expected: int) -> list:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"tm-test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records = []
    try:
        while len(records) < expected:
            batch = await consumer.getmany(timeout_ms=10_000)
            if not batch:
                break
            for part in batch.values():
                records.extend(part)
    finally:
        await consumer.stop()
    return records


async def test_a_scan_publishes_the_due_schedules_keyed_by_project(
    db, settings, kafka_bootstrap: str, unique_topic: str
) -> None:
    now = datetime.now(UTC)
    due = await make_project("due", last_run_at=now - timedelta(hours=2))
    never_ran = await make_project("never-ran")
    await make_project("recent", last_run_at=now - timedelta(minutes=5))
    await make_project("off", enabled=False)
    producer = Producer(settings.replace(broker=kafka_bootstrap, topic=unique_topic))
    try:
        assert await producer.scan() == 2
    finally:
        await producer.close()

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([unique_topic])
    finally:
        await admin.close()
    assert len(described["partitions"]) == 2

    records = await read_topic(kafka_bootstrap, unique_topic, expected=2)
    assert sorted(r.key for r in records) == sorted(
        [str(due.id).encode(), str(never_ran.id).encode()]
    )
    body = json.loads(next(r.value for r in records if r.key == str(due.id).encode()))
    assert body["project"] == due.id and body["interval_s"] == 3600
    assert datetime.fromisoformat(body["published_at"]) >= now


async def test_the_producer_process_runs_checks_healthy_and_stops_on_sigterm(
    db, settings, kafka_bootstrap, unique_topic, redis_url, redis_prefix, tmp_path
) -> None:
    await make_project("due")
    env = process_env(
        settings, BROKER=kafka_bootstrap, TOPIC=unique_topic, REDIS=redis_url,
        REDIS_PREFIX=redis_prefix, SCHEDULE_SCAN_INTERVAL_S="60",
    )  # fmt: skip
    once = run_module("workers.producer", env, "--once")
    assert once.returncode == 0, once.stderr
    assert "scan done: 1 due schedule(s) published" in once.stderr

    producer = start_module("workers.producer", env, tmp_path / "producer.log")
    try:
        await producer.wait_for_line("scan done: 1 due schedule(s) published")
        check = run_module("workers.producer", env, "--check")
        assert check.returncode == 0, check.stdout
        assert check.stdout.startswith("ok: producer pid")
        producer.signal(signal.SIGTERM)
        assert await producer.wait_exit() == 0
        assert "SIGTERM received, stopping" in producer.output
        assert "producer stopped" in producer.output
    finally:
        producer.kill()
    stopped = run_module("workers.producer", env, "--check")
    assert stopped.returncode == 1
    assert "no heartbeat" in stopped.stdout
    assert len(await read_topic(kafka_bootstrap, unique_topic, expected=2)) == 2


async def test_the_producer_keeps_going_when_the_broker_restarts(
    db, settings, unique_topic, tmp_path
) -> None:
    if settings.uses_mysql:
        pytest.skip("a broker restart does not depend on the database; run once, on SQLite")
    await make_project("due")
    broker = PrivateBroker(tmp_path / "broker")
    env = process_env(
        settings, BROKER=broker.bootstrap, TOPIC=unique_topic, SCHEDULE_SCAN_INTERVAL_S="0.5",
    )  # fmt: skip
    producer = start_module("workers.producer", env, tmp_path / "producer.log")
    try:
        # Away at start-up: it says so and keeps trying.
        await producer.wait_for_line(UNREACHABLE)
        await broker.start()
        await producer.wait_for_line("scan done: 1 due schedule(s) published", timeout_s=40)

        away = producer.output.count(UNREACHABLE)
        await broker.stop()
        await producer.wait_for_line(UNREACHABLE, count=away + 1, timeout_s=40)
        scans = producer.output.count("scan done")
        await broker.start()
        await producer.wait_for_line("scan done", count=scans + 1, timeout_s=40)
        assert len(await read_topic(broker.bootstrap, unique_topic, expected=2)) >= 2
        assert producer.popen.poll() is None
    finally:
        producer.kill()
        await broker.stop()
