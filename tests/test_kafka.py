"""Kafka is real: a message produced is consumed by a consumer group."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


async def test_a_message_round_trips_through_a_consumer_group(
    kafka_bootstrap: str, unique_topic: str
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(unique_topic, b'{"project": 1}', key=b"1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        unique_topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"tm-test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), timeout=30)
        await consumer.commit()
    finally:
        await consumer.stop()
    assert message.value == b'{"project": 1}'
    assert message.key == b"1"
