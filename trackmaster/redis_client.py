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

import logging
import time

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

# While a user of Redis is degraded, Redis is tried again this often (by one call at a time).
RETRY_REDIS_S = 1.0

log = logging.getLogger(__name__)


class RedisBreaker:
    """When one user of Redis (the ingest rate limit, the login throttle) falls back, and
    when it tries Redis again.

    While Redis is away every call would wait up to REDIS_TIMEOUT_S (twice, with the
    client's retry) before falling back: a sign-in or an ingest request paying that each
    time is a slow service, not a degraded one. So after a failure, only one call per
    `retry_s` tries Redis; the others go straight to the fallback. One WARNING when an
    outage starts and one INFO line when Redis answers again, whatever the number of calls.
    """

    def __init__(self, user: str, fallback: str, retry_s: float = RETRY_REDIS_S) -> None:
        self.user = user  # who speaks in the log lines: "ingest rate limit"
        self.fallback = fallback  # what it does meanwhile, for the WARNING
        self.retry_s = retry_s
        self.degraded_since: float | None = None
        self.outages = 0
        self.probes = 0  # calls that tried Redis while degraded (for tests and /healthz)
        self._retry_at = 0.0

    @property
    def degraded(self) -> bool:
        return self.degraded_since is not None

    def should_try(self) -> bool:
        """Whether this call goes to Redis: always while healthy, one per `retry_s` while not."""
        if self.degraded_since is None:
            return True
        now = time.monotonic()
        if now < self._retry_at:
            return False
        self._retry_at = now + self.retry_s  # taken before the await: one probe at a time
        self.probes += 1
        return True

    def failed(self, exc: BaseException) -> None:
        self._retry_at = time.monotonic() + self.retry_s
        if self.degraded_since is not None:
            return
        self.degraded_since = time.monotonic()
        self.outages += 1
        log.warning(
            "%s: Redis unavailable (%s: %s); %s until it is back",
            self.user, type(exc).__name__, exc, self.fallback,
        )  # fmt: skip

    def succeeded(self, meanwhile: str = "") -> None:
        if self.degraded_since is None:
            return
        log.info(
            "%s: Redis is back after %.1f s%s",
            self.user, time.monotonic() - self.degraded_since, meanwhile,
        )  # fmt: skip
        self.degraded_since = None


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
