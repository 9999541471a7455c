"""The consumer: one sync per due period through a real topic, duplicates, malformed messages,
two consumers in a group, a consumer killed mid-job, Redis away. Real Kafka, Redis, databases.

The process tests run `python -m workers.producer` / `workers.consumer` as the Procfile
does, against the fake Jet, on MariaDB (processes sharing one database is what BROKER
mode is for); the in-process test runs on both databases.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import uuid

import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.fakes.jet import seed_realistic_plan
from tests.support.schedule import (
    eventually,
    make_project,
    process_env,
    run_module,
    schedule_of,
    scheduled_runs,
    start_module,
    webhook,
)
from trackmaster.locks import RedisLocks
from trackmaster.models import SyncRun
from trackmaster.notify import Notifier
from trackmaster.schedule import ScheduleMessage
from workers.consumer import Consumer
from workers.producer import ensure_topic


async def publish(
    bootstrap: str, topic: str, *messages: tuple[bytes | None, bytes], partition=None
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for key, value in messages:
            await producer.send_and_wait(topic, value, key=key, partition=partition)
    finally:
        await producer.stop()


def message_for(project_id: int) -> tuple[bytes, bytes]:
    message = ScheduleMessage(project_id, 3600, "2020-01-01T00:00:00+00:00")
    return message.key(), message.encode()


async def committed_total(bootstrap: str, topic: str, group: str) -> int:
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await reader.start()
    try:
        partitions = reader.partitions_for_topic(topic) or {0, 1}
        offsets = [await reader.committed(TopicPartition(topic, p)) for p in partitions]
    finally:
        await reader.stop()
    return sum(offset or 0 for offset in offsets)


def last_assignment(output: str) -> str:
    lines = [line for line in output.splitlines() if "partitions assigned:" in line]
    return lines[-1] if lines else ""


def mariadb_only(settings) -> None:
    if not settings.uses_mysql:
        pytest.skip("worker processes share one database in BROKER mode: tested on MariaDB")


# --- in process ----------------------------------------------------------------------------


async def test_one_sync_per_due_period_through_the_topic_and_bad_messages_are_skipped(
    db, settings, kafka_bootstrap, unique_topic, redis_url, redis_prefix, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="workers.consumer")
    project = await make_project("due")
    group = f"tm-test-{uuid.uuid4().hex[:8]}"
    await publish(
        kafka_bootstrap,
        unique_topic,
        (b"x", b"{not json"),
        message_for(project.id),
        message_for(project.id),  # delivered twice: the second finds nothing due
        (b"1", b'{"project": "seven"}'),
        message_for(987654),  # a project without a schedule
    )
    synced: list[int] = []

    async def sync(project_id: int) -> None:
        synced.append(project_id)

    locks = RedisLocks(aioredis.from_url(redis_url), redis_prefix)
    consumer = Consumer(
        settings.replace(broker=kafka_bootstrap, topic=unique_topic, consumer_group=group),
        locks=locks,
        notifier=Notifier(),
        sync=sync,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(consumer.run(stop))
    try:

        async def all_committed() -> bool:
            return await committed_total(kafka_bootstrap, unique_topic, group) == 5

        await eventually(all_committed, timeout_s=30, what="all 5 offsets committed")
    finally:
        stop.set()
        assert await asyncio.wait_for(running, 15) == 0
        await locks.close()

    assert synced == [project.id]
    assert [r.status for r in await scheduled_runs(project.id)] == ["ok"]
    lines = [r.getMessage() for r in caplog.records if r.name == "workers.consumer"]
    assert sum("skipped a malformed message: not JSON" in line for line in lines) == 1
    assert sum("`project` must be a positive integer" in line for line in lines) == 1
    assert sum(f"project {project.id}: ok" in line for line in lines) == 1
    assert sum(f"project {project.id}: skipped: not due until" in line for line in lines) == 1
    assert sum("project 987654: skipped: schedule is off" in line for line in lines) == 1


# --- the Procfile processes ----------------------------------------------------------------


async def test_producer_and_two_consumers_sync_each_due_project_once(
    db, settings, fake_jet, kafka_bootstrap, unique_topic, redis_url, redis_prefix, tmp_path
) -> None:
    mariadb_only(settings)
    seeded = seed_realistic_plan(fake_jet)
    video = await make_project("video", jet_id=seeded["project"]["id"])
    music = await make_project("music", jet_id=seeded["music"]["id"])
    env = process_env(
        settings, BROKER=kafka_bootstrap, TOPIC=unique_topic, REDIS=redis_url,
        REDIS_PREFIX=redis_prefix, CONSUMER_GROUP=f"tm-test-{uuid.uuid4().hex[:8]}",
        JET_URL=fake_jet.url, SCHEDULE_SCAN_INTERVAL_S="0.3", SHUTDOWN_GRACE_S="5",
    )  # fmt: skip
    await ensure_topic(kafka_bootstrap, unique_topic)
    first = start_module("workers.consumer", env, tmp_path / "consumer-1.log")
    second = start_module("workers.consumer", env, tmp_path / "consumer-2.log")
    processes = [first, second]
    try:

        async def split() -> bool:
            return all(last_assignment(c.output).count("[") == 1 for c in (first, second))

        await eventually(split, timeout_s=40, what="each consumer assigned one partition")
        # Copies of each project's message on BOTH partitions (unkeyed, as an older
        # producer or a person might send): both consumers race for the same project.
        fake_jet.delay("story", seconds=0.5, times=None)
        for partition in (0, 1, 0, 1):
            await publish(
                kafka_bootstrap, unique_topic, *(message_for(p.id) for p in (video, music)),
                partition=partition,
            )  # fmt: skip
        producer = start_module("workers.producer", env, tmp_path / "producer.log")
        processes.append(producer)

        async def both_synced() -> bool:
            runs = [await scheduled_runs(p.id) for p in (video, music)]
            return all(r and r[-1].status == "ok" for r in runs)

        await eventually(both_synced, timeout_s=45, what="both projects synced")
        # The producer keeps publishing the projects it saw due; none syncs again.
        scans = producer.output.count("scan done")
        await producer.wait_for_line("scan done", count=scans + 5)
        for project in (video, music):
            assert [r.status for r in await scheduled_runs(project.id)] == ["ok"]
            assert (await schedule_of(project.id)).last_outcome == "ok"

        check = run_module("workers.consumer", env, "--check")
        assert check.returncode == 0, check.stdout + check.stderr
        for process in processes:
            process.signal(signal.SIGTERM)
        for process in processes:
            assert await process.wait_exit() == 0, process.output
    finally:
        for process in processes:
            process.kill()
    logs = first.output + second.output
    assert logs.count(": ok in ") == 2
    # Both consumers worked (the copies on both partitions), and every copy was handled.
    assert ": project " in first.output and ": project " in second.output
    assert logs.count(f": project {video.id}: ") >= 4
    assert "consumer stopped" in first.output and "consumer stopped" in second.output


async def test_a_consumer_killed_mid_sync_leaves_it_to_another_after_the_lock_expires(
    db, settings, fake_jet, kafka_bootstrap, unique_topic, redis_url, redis_prefix, tmp_path
) -> None:
    mariadb_only(settings)
    seeded = seed_realistic_plan(fake_jet)
    project = await make_project("video", jet_id=seeded["project"]["id"])
    fake_jet.delay("story", seconds=1.2, times=None)
    env = process_env(
        settings, BROKER=kafka_bootstrap, TOPIC=unique_topic, REDIS=redis_url,
        REDIS_PREFIX=redis_prefix, CONSUMER_GROUP=f"tm-test-{uuid.uuid4().hex[:8]}",
        JET_URL=fake_jet.url, SYNC_JOB_TIMEOUT_S="3", SYNC_LOCK_TTL_S="4",
    )  # fmt: skip
    await publish(kafka_bootstrap, unique_topic, message_for(project.id))
    doomed = start_module("workers.consumer", env, tmp_path / "doomed.log")
    try:

        async def running() -> bool:
            return await SyncRun.filter(project_id=project.id, status="running").exists()

        await eventually(running, timeout_s=30, what="the sync started")
        doomed.popen.send_signal(signal.SIGKILL)
        assert await doomed.wait_exit() == -signal.SIGKILL
    finally:
        doomed.kill()
    assert (await schedule_of(project.id)).last_outcome == "running"

    # The message was not committed: the next member of the group gets it again.
    heir = start_module("workers.consumer", env, tmp_path / "heir.log")
    try:
        await heir.wait_for_line("ok in", timeout_s=40)
        heir.signal(signal.SIGTERM)
        assert await heir.wait_exit() == 0
    finally:
        heir.kill()
    assert "resumed an unfinished run" in heir.output
    runs = await scheduled_runs(project.id)
    assert [r.status for r in runs] == ["failed", "ok"]
    assert "abandoned" in runs[0].error
    assert (await schedule_of(project.id)).last_outcome == "ok"


async def test_redis_unreachable_runs_no_job_and_reports_it(
    db, settings, kafka_bootstrap, unique_topic, tmp_path
) -> None:
    mariadb_only(settings)
    project = await make_project("due", jet_id="p1")
    async with webhook() as hook:
        env = process_env(
            settings, BROKER=kafka_bootstrap, TOPIC=unique_topic,
            REDIS="redis://127.0.0.1:1/0", NOTIFY_WEBHOOK_URL=hook.url,
            CONSUMER_GROUP=f"tm-test-{uuid.uuid4().hex[:8]}", JET_URL="http://127.0.0.1:1",
        )  # fmt: skip
        await publish(
            kafka_bootstrap, unique_topic, (b"1", b"\xff\xfe garbage"), message_for(project.id)
        )
        consumer = start_module("workers.consumer", env, tmp_path / "consumer.log")
        try:
            await consumer.wait_for_line(f"project {project.id}: lock_error", timeout_s=40)

            async def reported() -> bool:
                return bool(hook.received)

            await eventually(reported, timeout_s=10, what="the lock error reported")
            assert consumer.popen.poll() is None
            consumer.signal(signal.SIGTERM)
            assert await consumer.wait_exit() == 0
        finally:
            consumer.kill()
    assert "skipped a malformed message" in consumer.output
    assert "no sync runs without its lock" in consumer.output
    assert hook.received[0]["title"] == "scheduled plan sync not run"
    assert await scheduled_runs(project.id) == []
    schedule = await schedule_of(project.id)
    assert (schedule.last_run_at, schedule.last_outcome) == (None, "")


async def test_sigterm_mid_sync_gives_it_the_grace_then_leaves_the_message_uncommitted(
    db, settings, kafka_bootstrap, unique_topic, redis_url, redis_prefix
) -> None:
    project = await make_project("due")
    group = f"tm-test-{uuid.uuid4().hex[:8]}"
    await publish(kafka_bootstrap, unique_topic, message_for(project.id))
    started = asyncio.Event()

    async def slow_sync(project_id: int) -> None:
        started.set()
        await asyncio.sleep(30)

    locks = RedisLocks(aioredis.from_url(redis_url), redis_prefix)
    consumer = Consumer(
        settings.replace(
            broker=kafka_bootstrap, topic=unique_topic, consumer_group=group, shutdown_grace_s=0.3
        ),
        locks=locks,
        notifier=Notifier(),
        sync=slow_sync,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(consumer.run(stop))
    try:
        await asyncio.wait_for(started.wait(), 30)
        stop.set()
        assert await asyncio.wait_for(running, 10) == 0
        # The cancelled job handed its lock back.
        assert await locks.acquire(f"sync:project:{project.id}", 1) is not None
    finally:
        stop.set()
        await locks.close()
    assert (await schedule_of(project.id)).last_outcome == "interrupted"
    # Not committed: the next member of the group gets the message again.
    assert await committed_total(kafka_bootstrap, unique_topic, group) == 0
