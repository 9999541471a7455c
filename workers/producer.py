"""The producer (Procfile `producer`): every scan, publish each due schedule to Kafka.

`python -m workers.producer` runs until SIGTERM; `--once` scans once and exits;
`--check` reads its heartbeat. Messages are keyed by project id, so every message
of one project goes to the same partition and one consumer sees them in order.
What it publishes is a hint: the consumer re-reads the schedule under the lock.
A broker that is away is retried with a backoff, and the log says so.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from trackmaster.reachability import kafka_unreachable
from trackmaster.schedule import ScheduleMessage, due_schedules, utcnow
from trackmaster.schedule.heartbeat import Heartbeat
from trackmaster.settings import Settings
from workers import process
from workers.broker_probe import broker_error, probe_every_s

log = logging.getLogger(__name__)

PARTITIONS = 2
REQUEST_TIMEOUT_MS = 5000
# What "the broker is away" looks like from aiokafka: its own errors, or a refused socket.
BROKER_ERRORS = (KafkaError, OSError, TimeoutError)


async def ensure_topic(bootstrap: str, topic: str, partitions: int = PARTITIONS) -> bool:
    """Create `topic` with `partitions` partitions when missing; True when it was created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=REQUEST_TIMEOUT_MS)
    await admin.start()
    try:
        if topic in await admin.list_topics():
            return False
        brokers = (await admin.describe_cluster())["brokers"]
        # As many copies as the cluster can hold, up to the usual 3.
        replicas = max(1, min(3, len(brokers)))
        response = await admin.create_topics([NewTopic(topic, partitions, replicas)])
        for _name, code, *_ in response.topic_errors:
            if code and for_code(code) is not TopicAlreadyExistsError:
                raise for_code(code)(f"cannot create topic {topic!r}")
        return True
    finally:
        await admin.close()


class Producer:
    """One scan publishes every due schedule; the Kafka client is (re)made on demand."""

    def __init__(self, settings: Settings, heartbeat: Heartbeat | None = None) -> None:
        self.settings = settings
        self.heartbeat = heartbeat
        self.scan_interval_s = settings.schedule_scan_interval_s
        self._kafka: AIOKafkaProducer | None = None

    async def _connect(self) -> AIOKafkaProducer:
        if self._kafka is None:
            if await ensure_topic(self.settings.broker, self.settings.topic):
                log.info("created topic %s with %d partitions", self.settings.topic, PARTITIONS)
            kafka = AIOKafkaProducer(
                bootstrap_servers=self.settings.broker,
                acks="all",
                request_timeout_ms=REQUEST_TIMEOUT_MS,
            )
            await kafka.start()
            self._kafka = kafka
        return self._kafka

    async def scan(self) -> int:
        """Publish each schedule that looks due; the number published. Raises broker errors."""
        kafka = await self._connect()
        now = utcnow()
        schedules = await due_schedules(now)
        sent = [
            await kafka.send(self.settings.topic, message.encode(), key=message.key())
            for message in (ScheduleMessage.for_schedule(s, now) for s in schedules)
        ]
        await asyncio.gather(*sent)  # every message acknowledged, or the error raised
        for schedule in schedules:
            project_id = schedule.project_id
            log.info("published project %s to %s", project_id, self.settings.topic)
        return len(schedules)

    async def close(self) -> None:
        kafka, self._kafka = self._kafka, None
        if kafka is not None:
            try:
                await kafka.stop()
            except BROKER_ERRORS as exc:
                log.debug("closing the Kafka producer: %s", exc)

    async def run(self, stop: asyncio.Event, *, once: bool = False) -> int:
        # Never wait longer for the broker than for the next scan.
        backoff = process.Backoff(max_s=min(30.0, max(1.0, self.scan_interval_s)))
        while not stop.is_set():
            try:
                count = await self.scan()
            except BROKER_ERRORS as exc:
                delay_s = backoff.next()
                log.warning(
                    "%s Retrying in %g s.", kafka_unreachable(self.settings.broker, exc), delay_s
                )
                self._beat(f"broker unreachable: {exc}", ok=False)
                # A fresh client after an outage: aiokafka's own reconnects can stall.
                await self.close()
                if once:
                    return 1
                await process.sleep_or_stop(stop, delay_s)
                continue
            except Exception:
                # The database or a bug: keep the process, try again next scan.
                log.exception(
                    "scan failed; next scan in %g s", self.settings.schedule_scan_interval_s
                )
                self._beat("scan failed", ok=False)
                if once:
                    return 1
            else:
                backoff.reset()
                log.info("scan done: %d due schedule(s) published", count)
                self._beat(f"published {count} at {utcnow():%H:%M:%S}")
                if once:
                    return 0
            await self._idle(stop, self.scan_interval_s)
        return 0

    async def _idle(self, stop: asyncio.Event, seconds: float) -> None:
        """Wait for the next scan, asking the broker every TTL/4 meanwhile.

        A scan every 5 minutes would notice an outage long after the heartbeat's TTL:
        `--check` must say "broker unreachable" within it.
        """
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        probe_s = probe_every_s(self.settings.heartbeat_ttl_s)
        down = False
        while not stop.is_set() and loop.time() < until:
            await process.sleep_or_stop(stop, min(probe_s, max(0.0, until - loop.time())))
            if stop.is_set() or loop.time() >= until:
                return
            error = await broker_error(self.settings.broker, min(5.0, probe_s / 2))
            if error is not None:
                if not down:
                    log.warning(
                        "%s Next try at the scan.", kafka_unreachable(self.settings.broker, error)
                    )
                self._beat(f"broker unreachable: {error}", ok=False)
            elif down:
                log.info("broker %s answers again", self.settings.broker)
                self._beat("broker answers; waiting for the next scan")
            down = error is not None

    def _beat(self, state: str, *, ok: bool = True) -> None:
        if self.heartbeat is not None:
            self.heartbeat.set(state, ok=ok)


async def run(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> int:
    if not settings.broker:
        log.error("BROKER is not set: the web process schedules syncs itself; nothing to do")
        return 2
    # A one-shot run (--once) stops on a database that is away; the service waits for it.
    waiting = None if args.once else stop
    async with process.opened("producer", settings, waiting) as (_runtime, heartbeat):
        producer = Producer(settings, heartbeat)
        log.info(
            "producer up: every %g s, topic %s on %s",
            settings.schedule_scan_interval_s, settings.topic, settings.broker,
        )  # fmt: skip
        try:
            return await producer.run(stop, once=args.once)
        finally:
            await producer.close()


def main(argv: list[str] | None = None) -> int:
    def arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--once", action="store_true", help="scan once, then exit")

    return process.main(
        "producer", "Publish due plan-sync schedules to Kafka.", run, argv, arguments
    )


if __name__ == "__main__":
    raise SystemExit(main())
