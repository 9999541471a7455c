"""Does a Kafka broker answer? Asked on a schedule by the producer and the consumer.

aiokafka reconnects by itself and its `getmany` simply returns nothing while
no broker answers, so a consumer idling on an empty topic could not tell an
outage from a quiet day: its heartbeat said "waiting for messages" for 65 s
with Kafka down. Both workers therefore ask for the cluster's metadata every
HEARTBEAT_TTL_S / 4, on a fresh connection, so that `--check` reports a broker
they cannot reach within their heartbeat TTL.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError


def probe_every_s(heartbeat_ttl_s: float) -> float:
    # Probe (at most half of this) + the heartbeat's own write interval (TTL/3) must fit
    # in the TTL with room for a loaded machine: every TTL/4.
    return max(0.5, heartbeat_ttl_s / 4)


async def broker_error(bootstrap: str, timeout_s: float) -> BaseException | None:
    """None when a broker of `bootstrap` answered a metadata request, else the error."""
    client = AIOKafkaClient(
        bootstrap_servers=bootstrap, request_timeout_ms=max(500, int(timeout_s * 1000))
    )
    try:
        async with asyncio.timeout(timeout_s):
            await client.bootstrap()
    except (KafkaError, OSError, TimeoutError) as exc:
        return exc
    finally:
        with contextlib.suppress(Exception):
            await client.close()
    return None
