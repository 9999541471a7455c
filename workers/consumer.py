"""The consumer (Procfile `consumer`): one member of a Kafka consumer group that syncs
the projects it is told about, one at a time, each under its Redis lock.

Delivery is at least once: the offset is committed after the work, so a consumer
killed mid-job leaves its message to the next member, and a duplicate is a no-op
(the schedule, re-read under the lock, is no longer due). A message that cannot
be read is logged, committed and skipped, never retried into a crash loop.
SIGTERM: stop taking messages, give the running sync SHUTDOWN_GRACE_S to finish,
then cancel it (recorded as interrupted; its lock is released) and leave the group.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from trackmaster.locks import Locks
from trackmaster.notify import Notifier
from trackmaster.reachability import kafka_unreachable
from trackmaster.schedule import (
    JobResult,
    MalformedMessage,
    ScheduleMessage,
    SyncFn,
    jet_sync,
    run_scheduled_sync,
)
from trackmaster.schedule.heartbeat import Heartbeat
from trackmaster.settings import Settings
from workers import process
from workers.broker_probe import broker_error, probe_every_s
from workers.producer import ensure_topic

log = logging.getLogger(__name__)

BROKER_ERRORS = (KafkaError, OSError, TimeoutError)
POLL_TIMEOUT_MS = 500


class Consumer:
    def __init__(
        self,
        settings: Settings,
        *,
        locks: Locks,
        notifier: Notifier,
        sync: SyncFn,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        self.settings = settings
        self.locks = locks
        self.notifier = notifier
        self.sync = sync
        self.heartbeat = heartbeat
        self._kafka: AIOKafkaConsumer | None = None

    def _make_kafka(self) -> AIOKafkaConsumer:
        settings = self.settings
        # Kafka drops a member that does not poll within this interval and hands its
        # partitions to another: it must outlast the longest job plus the shutdown grace.
        max_poll_ms = int((settings.sync_job_timeout_s + settings.shutdown_grace_s + 60) * 1000)
        return AIOKafkaConsumer(
            bootstrap_servers=settings.broker,
            group_id=settings.consumer_group,
            enable_auto_commit=False,
            # A new group reads what was published before it joined; every message is
            # re-checked under the lock, so an old one is harmless.
            auto_offset_reset="earliest",
            max_poll_interval_ms=max_poll_ms,
            # Partitions added to the topic are picked up within a minute, not five.
            metadata_max_age_ms=60_000,
        )

    async def handle(self, record: ConsumerRecord) -> JobResult | None:
        """Run one message's job; None when the message is malformed (logged)."""
        where = f"{record.topic}[{record.partition}]@{record.offset}"
        try:
            message = ScheduleMessage.decode(record.value)
        except MalformedMessage as exc:
            log.warning("%s: skipped a malformed message: %s", where, exc)
            return None
        try:
            result = await run_scheduled_sync(
                message.project_id,
                locks=self.locks,
                sync=self.sync,
                lock_ttl_s=self.settings.sync_lock_ttl_s,
                job_timeout_s=self.settings.sync_job_timeout_s,
                notifier=self.notifier,
            )
        except asyncio.CancelledError:
            log.warning("%s: project %s: interrupted by shutdown", where, message.project_id)
            raise
        except Exception as exc:
            # The database is away, or a bug: report, skip; the producer publishes it again.
            log.exception("%s: project %s: the job failed", where, message.project_id)
            await self.notifier.notify(
                "scheduled plan sync crashed", f"project {message.project_id}: {exc!r}"
            )
            return JobResult(message.project_id, "error", repr(exc))
        log.info("%s: %s", where, result.line())
        return result

    async def _commit(self, kafka: AIOKafkaConsumer, record: ConsumerRecord) -> None:
        partition = TopicPartition(record.topic, record.partition)
        try:
            await kafka.commit({partition: record.offset + 1})
        except (CommitFailedError, *BROKER_ERRORS) as exc:
            # The group moved on (rebalance) or the broker is away: the message will be
            # delivered again, and the job is idempotent.
            log.warning("could not commit %s@%s: %s", partition, record.offset, exc)

    def _subscribe(self, kafka: AIOKafkaConsumer) -> None:
        class Logged(ConsumerRebalanceListener):
            async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
                if revoked:
                    log.info("partitions revoked: %s", _names(revoked))

            async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
                log.info("partitions assigned: %s", _names(assigned))

        kafka.subscribe([self.settings.topic], listener=Logged())

    async def _start(self, stop: asyncio.Event) -> AIOKafkaConsumer | None:
        backoff = process.Backoff()
        while not stop.is_set():
            kafka = self._make_kafka()
            try:
                # A consumer subscribed to a missing topic would not notice it being
                # made for minutes (metadata age): make it, as the producer would.
                if await ensure_topic(self.settings.broker, self.settings.topic):
                    log.info("created topic %s", self.settings.topic)
                await kafka.start()
                self._subscribe(kafka)
                return kafka
            except BROKER_ERRORS as exc:
                delay_s = backoff.next()
                log.warning(
                    "%s Retrying in %g s.", kafka_unreachable(self.settings.broker, exc), delay_s
                )
                self._beat(f"broker unreachable: {exc}", ok=False)
                await kafka.stop()
                await process.sleep_or_stop(stop, delay_s)
        return None

    async def run(self, stop: asyncio.Event) -> int:
        kafka = await self._start(stop)
        if kafka is None:
            return 0
        self._kafka = kafka
        log.info(
            "consumer up: group %s, topic %s on %s",
            self.settings.consumer_group, self.settings.topic, self.settings.broker,
        )  # fmt: skip
        probe_s = probe_every_s(self.settings.heartbeat_ttl_s)
        next_probe = asyncio.get_running_loop().time() + probe_s
        broker_down = False
        try:
            while not stop.is_set():
                if asyncio.get_running_loop().time() >= next_probe:
                    # getmany() returns nothing whether the broker is quiet or gone: ask.
                    error = await broker_error(self.settings.broker, min(5.0, probe_s / 2))
                    next_probe = asyncio.get_running_loop().time() + probe_s
                    if error is not None and not broker_down:
                        log.warning(
                            "%s Waiting for it.", kafka_unreachable(self.settings.broker, error)
                        )
                    elif error is None and broker_down:
                        log.info("broker %s answers again", self.settings.broker)
                    broker_down = error is not None
                    if broker_down:
                        self._beat(f"broker unreachable: {error}", ok=False)
                if not broker_down:
                    self._beat("waiting for messages")
                try:
                    batch = await kafka.getmany(timeout_ms=POLL_TIMEOUT_MS, max_records=1)
                except BROKER_ERRORS as exc:
                    log.warning("%s Retrying in 1 s.", kafka_unreachable(self.settings.broker, exc))
                    self._beat(f"broker unreachable: {exc}", ok=False)
                    await process.sleep_or_stop(stop, 1)
                    continue
                for records in batch.values():
                    for record in records:
                        if not await self._work(kafka, record, stop):
                            return 0
        finally:
            self._kafka = None
            await kafka.stop()
        return 0

    async def _work(self, kafka: AIOKafkaConsumer, record: ConsumerRecord, stop) -> bool:
        """Handle and commit one record; False when shutdown abandoned it (not committed)."""
        self._beat(f"handling {record.topic}[{record.partition}]@{record.offset}")
        job = asyncio.create_task(self.handle(record))
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({job, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not job.done():
                grace_s = self.settings.shutdown_grace_s
                log.info("stopping: the running sync has %g s to finish", grace_s)
                done, _ = await asyncio.wait({job}, timeout=grace_s)
                if not done:
                    job.cancel()
                    await asyncio.gather(job, return_exceptions=True)
                    # Not committed: the message goes to the next member of the group.
                    return False
        finally:
            stopping.cancel()
        await self._commit(kafka, record)
        return True

    def _beat(self, state: str, *, ok: bool = True) -> None:
        if self.heartbeat is not None:
            self.heartbeat.set(state, ok=ok)


def _names(partitions: set[TopicPartition]) -> str:
    return ", ".join(sorted(f"{p.topic}[{p.partition}]" for p in partitions)) or "none"


async def run(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> int:
    if not settings.broker:
        log.error("BROKER is not set: the web process schedules syncs itself; nothing to do")
        return 2
    if not settings.redis:
        log.warning("REDIS is not set: locks are per process; run a single consumer")
    async with process.opened("consumer", settings, stop) as (runtime, heartbeat):
        consumer = Consumer(
            settings,
            locks=runtime.locks,
            notifier=runtime.notifier,
            sync=jet_sync(settings, runtime.plan_changes),
            heartbeat=heartbeat,
        )
        return await consumer.run(stop)


def main(argv: list[str] | None = None) -> int:
    return process.main("consumer", "Sync the plans of due projects from Kafka.", run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
