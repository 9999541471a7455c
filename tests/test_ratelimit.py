"""Rate per write key: token buckets in memory and in Redis, and 429 on the ingest path."""

from __future__ import annotations

import asyncio

import httpx
import redis.asyncio as aioredis

from tests.conftest import running_app
from tests.support.realtime import make_plan, play_log
from trackmaster.models import EventLog, Project, UnmatchedEvent
from trackmaster.ratelimit import MemoryRateLimiter, RedisRateLimiter
from trackmaster.settings import Settings


async def test_memory_bucket_allows_the_burst_then_refuses_until_refilled() -> None:
    bucket = MemoryRateLimiter(rate_per_s=20, burst=3)
    assert [await bucket.take("k") for _ in range(3)] == [None, None, None]
    wait = await bucket.take("k")
    assert wait is not None and 0 < wait <= 0.05 + 1e-6
    assert await bucket.take("other") is None  # buckets are per key
    await asyncio.sleep(wait + 0.01)
    assert await bucket.take("k") is None


async def test_memory_bucket_refusal_costs_nothing_and_oversize_is_refused() -> None:
    bucket = MemoryRateLimiter(rate_per_s=1, burst=5)
    assert await bucket.take("k", 4) is None
    assert await bucket.take("k", 3) is not None  # 1 left: refused, and still 1 left
    assert await bucket.take("k", 1) is None
    assert await bucket.take("big", 6) == 5.0  # more than a full bucket: never, say so


async def test_redis_bucket_is_shared_and_atomic(redis_url: str, redis_prefix: str) -> None:
    client = aioredis.from_url(redis_url)
    try:
        first = RedisRateLimiter(client, redis_prefix, rate_per_s=0.5, burst=10)
        second = RedisRateLimiter(client, redis_prefix, rate_per_s=0.5, burst=10)
        answers = await asyncio.gather(*(first.take("p", 1) for _ in range(8)))
        assert answers.count(None) == 8
        assert await second.take("p", 2) is None  # the same bucket: 10 taken now
        wait = await second.take("p", 1)
        assert wait is not None and 1.5 < wait <= 2.0
        assert await first.take("p", 11) == 20.0
        ttl_ms = await client.pttl(f"{redis_prefix}rate:p")
        assert 0 < ttl_ms <= 21_000  # idle buckets expire once they would be full again
    finally:
        await client.delete(f"{redis_prefix}rate:p")
        await client.aclose()


async def test_a_retry_after_the_retry_after_delay_is_accepted(settings: Settings) -> None:
    # At 0.8 tokens/s the second event waits about 1.25 s: Retry-After must round that up
    # (2), since a client that retries after 1 s (rounded down) would be refused again.
    # Load only makes the wait shorter, never the check wrong: the retry comes after it.
    plan = await make_plan()
    limited = settings.replace(ingest_rate_per_s=0.8, ingest_burst=1)
    async with running_app(limited) as server, httpx.AsyncClient(base_url=server.url) as http:
        headers = {"X-Write-Key": plan.project.write_key}

        async def send() -> httpx.Response:
            return await http.post("/collect", json=play_log(user_id="alice-42"), headers=headers)

        assert (await send()).status_code == 200
        over = await send()
        assert over.status_code == 429
        wait_s = int(over.headers["retry-after"])  # whole seconds, as HTTP says
        assert 1 <= wait_s <= 2
        await asyncio.sleep(wait_s)
        again = await send()
        assert again.status_code == 200, (wait_s, again.text)


async def _stored(project: Project) -> int:
    return (
        await EventLog.filter(session__project_id=project.id).count()
        + await UnmatchedEvent.filter(project_id=project.id).count()
    )


async def test_ingest_over_the_rate_answers_429_and_stores_nothing(settings: Settings) -> None:
    plan = await make_plan()
    limited = settings.replace(ingest_rate_per_s=0.1, ingest_burst=3)
    async with running_app(limited) as server, httpx.AsyncClient(base_url=server.url) as http:
        headers = {"X-Write-Key": plan.project.write_key}
        ok = await http.post(
            "/collect",
            json=[play_log(user_id="alice-42"), play_log(user_id="alice-42")],
            headers=headers,
        )
        assert ok.status_code == 200, ok.text
        stored = await _stored(plan.project)
        over = await http.post(
            "/collect",
            json=[play_log(user_id="alice-42"), play_log(user_id="alice-42")],
            headers=headers,
        )
        assert over.status_code == 429
        assert int(over.headers["retry-after"]) >= 10
        body = over.json()
        assert body["code"] == 4 and "INGEST_RATE_PER_S" in body["msg"]
        assert await _stored(plan.project) == stored
        # One event still fits; another project has its own bucket.
        assert (
            await http.post("/collect", json=play_log(user_id="alice-42"), headers=headers)
        ).status_code == 200
        other = await make_plan("other")
        answer = await http.post(
            "/v1/batch",
            json={"batch": [{"type": "track", "event": "x", "userId": "u"}] * 3},
            headers={"X-Write-Key": other.project.write_key},
        )
        assert answer.status_code == 200, answer.text
