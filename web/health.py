"""Liveness and readiness: /ping as the original had it, /healthz per dependency."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis.asyncio as aioredis
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from trackmaster import db as database

CHECK_TIMEOUT_S = 3.0


async def ping(request: Request) -> JSONResponse:
    return JSONResponse({"message": "pong"})


async def _timed(check) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(check(), timeout=CHECK_TIMEOUT_S)
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1), **(detail or {})}


async def healthz(request: Request) -> JSONResponse:
    """Report each dependency; 503 when one the configuration needs is down."""
    state = request.app.state
    settings = state.settings
    checks: dict[str, dict[str, Any]] = {}

    async def check_db() -> dict[str, Any]:
        await state.runtime.db.ping()
        return {"url": database.describe(settings)}

    checks["database"] = await _timed(check_db)

    if settings.redis:

        async def check_redis() -> dict[str, Any]:
            client = aioredis.from_url(settings.redis, socket_connect_timeout=2)
            try:
                await client.ping()
            finally:
                await client.aclose()
            return {"mode": "redis"}

        checks["redis"] = await _timed(check_redis)
    else:
        checks["redis"] = {"ok": True, "mode": "in-process (REDIS not set)"}

    if settings.broker:

        async def check_kafka() -> dict[str, Any]:
            from aiokafka.admin import AIOKafkaAdminClient

            admin = AIOKafkaAdminClient(bootstrap_servers=settings.broker, request_timeout_ms=2500)
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
        "stats": vars(pool.stats),
    }
    healthy = all(check["ok"] for check in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "degraded", "checks": checks},
        status_code=200 if healthy else 503,
        headers={} if healthy else {"Retry-After": "5"},
    )


routes = [
    Route("/ping", ping, methods=["GET"]),
    Route("/api/v2/ping", ping, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
]
