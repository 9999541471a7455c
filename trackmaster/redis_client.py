"""The one Redis client of a process: a bounded, blocking pool with deadlines and retries.

Every Redis user in a process (locks, the live-update bus, the ingest rate
limiter, the login throttle) shares this client, so the process opens at most
REDIS_POOL_SIZE connections. Why each option:

- a *blocking* pool: past the cap a caller waits (up to REDIS_TIMEOUT_S) for a
  free connection instead of failing at once with MaxConnectionsError, which
  is what 150 concurrent ingest requests did with redis-py's default pool;
- health checks: a pooled connection idle for a while is PINGed before use,
  so one that Redis closed (a restart) is replaced instead of failing a call
  with "Connection closed by server";
- one quick retry on connection errors and timeouts: a stale connection found
  in use is dropped and the call repeated on a fresh one. Only one, with a
  short backoff: a Redis that is really away must be noticed within about
  REDIS_TIMEOUT_S, so the callers can degrade (see trackmaster/ratelimit.py,
  trackmaster/bus.py) instead of hanging.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from trackmaster.settings import Settings

# A pooled connection idle this long is checked with PING before it is used again.
HEALTH_CHECK_INTERVAL_S = 5

# What a Redis outage looks like to callers: redis-py's own errors, and the OS's.
UNAVAILABLE = (aioredis.RedisError, OSError, TimeoutError)


def make_redis(
    url: str, *, pool_size: int = 64, timeout_s: float = 1.0, client_name: str | None = None
) -> aioredis.Redis:
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        client_name=client_name,
        max_connections=pool_size,
        timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        socket_timeout=timeout_s,
        socket_keepalive=True,
        health_check_interval=HEALTH_CHECK_INTERVAL_S,
        retry=Retry(ExponentialBackoff(cap=0.1, base=0.02), retries=1),
        retry_on_error=[RedisConnectionError, RedisTimeoutError, ConnectionResetError],
    )
    # from_pool: closing the client closes its pool too.
    return aioredis.Redis.from_pool(pool)


def redis_for(settings: Settings, *, client_name: str | None = None) -> aioredis.Redis | None:
    """The process's client for REDIS, or None when Redis is not configured.

    `client_name` is set on every connection (CLIENT SETNAME), so CLIENT LIST tells
    which process holds which connection (trackmaster/runtime.py names them).
    """
    if not settings.redis:
        return None
    return make_redis(
        settings.redis,
        pool_size=settings.redis_pool_size,
        timeout_s=settings.redis_timeout_s,
        client_name=client_name,
    )
