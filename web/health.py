"""Health by purpose: is the process alive, can it take traffic, and how is every part.

    GET /ping, /api/v2/ping   the original's liveness answer
    GET /healthz/live         200 while the process answers (restart it when this fails)
    GET /healthz/ready        200 when it can take traffic: the database answers; else 503
    GET /healthz              every component's state, for people; the status code is
                              readiness, so a load balancer pointed at it keeps a node
                              that can take events even when Redis or Kafka is away

Redis and Kafka are not part of readiness: without Redis the process degrades
(in-process rate limit, live pages refreshed once Redis is back), and Kafka
only carries scheduled plan syncs. Taking every web node out of the load
balancer for either would turn a degraded service into no service.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from trackmaster import db as database
from trackmaster import loop_lag
from trackmaster.db_outage import OUTAGE

CHECK_TIMEOUT_S = 2.0
RETRY_AFTER_S = "5"


async def ping(request: Request) -> JSONResponse:
    return JSONResponse({"message": "pong"})


async def _timed(check: Callable[[], Awaitable[dict[str, Any] | None]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            detail = await check()
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300] or "timeout"}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1), **(detail or {})}


async def _database(request: Request) -> dict[str, Any]:
    state = request.app.state

    async def check() -> dict[str, Any]:
        await state.runtime.db.ping(timeout_s=CHECK_TIMEOUT_S)
        return {"url": database.describe(state.settings)}

    return {**await _timed(check), **OUTAGE.state()}


async def live(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> JSONResponse:
    db = await _database(request)
    if db["ok"]:
        return JSONResponse({"status": "ready", "database": db})
    return JSONResponse(
        {"status": "not ready", "database": db},
        status_code=503,
        headers={"Retry-After": RETRY_AFTER_S},
    )


async def healthz(request: Request) -> JSONResponse:
    """Every component; 200 when ready (database up) even if others are degraded."""
    state = request.app.state
    settings = state.settings
    runtime = state.runtime
    checks: dict[str, dict[str, Any]] = {"database": await _database(request)}

    if runtime.redis is not None:

        async def check_redis() -> dict[str, Any]:
            await runtime.redis.ping()
            return {"mode": "redis"}

        checks["redis"] = await _timed(check_redis)
    else:
        checks["redis"] = {"ok": True, "mode": "in-process (REDIS not set)"}
    checks["bus"] = runtime.bus.state()
    checks["ingest_rate_limit"] = state.guard.ingest_rate.state()

    if settings.broker:

        async def check_kafka() -> dict[str, Any]:
            from aiokafka.admin import AIOKafkaAdminClient

            admin = AIOKafkaAdminClient(bootstrap_servers=settings.broker, request_timeout_ms=1500)
            await admin.start()
            try:
                topics = await admin.list_topics()
            finally:
                await admin.close()
            return {"mode": "kafka", "topic_exists": settings.topic in topics}

        checks["kafka"] = await _timed(check_kafka)
    else:
        checks["kafka"] = {"ok": True, "mode": "in-process scheduler (BROKER not set)"}

    pool = state.pool
    checks["worker_pool"] = {
        "ok": pool.running,
        "workers": pool.workers,
        "queued": pool.queued,
        "reserved": pool.reserved,
        "retry_after_mean_s": round(pool.spread.mean_s, 1),
        "job_ms": round(pool.job_s * 1000, 1),
        "expected_wait_ms": round(pool.expected_wait_s() * 1000, 1),
        "budget_ms": None if pool.budget_s is None else round(pool.budget_s * 1000),
        "stats": vars(pool.stats),
        # How late this process's event loop runs: the overload a deadline must not
        # mistake for the database (trackmaster/loop_lag.py).
        "event_loop": loop_lag.of_running_loop().state(),
    }
    is_ready = checks["database"]["ok"] and pool.running
    healthy = all(check["ok"] for check in checks.values())
    return JSONResponse(
        {
            "status": "ok" if healthy else ("degraded" if is_ready else "not ready"),
            "ready": is_ready,
            "checks": checks,
        },
        status_code=200 if is_ready else 503,
        headers={} if is_ready else {"Retry-After": RETRY_AFTER_S},
    )


routes = [
    Route("/ping", ping, methods=["GET"]),
    Route("/api/v2/ping", ping, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/healthz/live", live, methods=["GET"]),
    Route("/healthz/ready", ready, methods=["GET"]),
]
