"""Heartbeats of the producer and consumer, and the `--check` that reads them.

A running process writes its state every third of HEARTBEAT_TTL_S: to a Redis
key with that TTL when REDIS is set (so any machine can check), else to a file
next to the SQLite database (var/). `--check` on the same host says whether a
fresh heartbeat exists and whether the process calls itself healthy (a
consumer that cannot reach its broker is alive but not healthy).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from trackmaster.settings import Settings

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(self, name: str, settings: Settings, redis: aioredis.Redis | None = None) -> None:
        """`redis`: the process's client (its Runtime's, which closes it); without one, a
        short-lived client of its own is made for REDIS (the `--check` of check_main)."""
        self.name = name
        self.ttl_s = settings.heartbeat_ttl_s
        self.host = socket.gethostname()
        self.key = f"{settings.redis_prefix}heartbeat:{name}:{self.host}"
        self.path = Path(settings.sqlite_path).parent / f"heartbeat-{name}.json"
        self._owns_redis = redis is None
        self._redis = redis
        if redis is None and settings.redis:
            self._redis = aioredis.from_url(
                settings.redis, socket_timeout=3, socket_connect_timeout=3
            )
        self.state = "starting"
        self.ok = True

    def set(self, state: str, *, ok: bool = True) -> None:
        self.state, self.ok = state, ok

    async def beat(self) -> None:
        body = json.dumps(
            {"pid": os.getpid(), "state": self.state, "ok": self.ok, "at": time.time()}
        )
        try:
            if self._redis is not None:
                await self._redis.set(self.key, body, px=int(self.ttl_s * 1000))
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(body)
                tmp.replace(self.path)  # atomic: --check never reads half a file
        except (aioredis.RedisError, OSError) as exc:
            log.warning("%s: cannot write the heartbeat: %s", self.name, exc)

    async def run(self) -> None:
        """Beat every third of the TTL until cancelled."""
        while True:
            await self.beat()
            await asyncio.sleep(self.ttl_s / 3)

    async def read(self) -> dict[str, Any] | None:
        if self._redis is not None:
            raw = await self._redis.get(self.key)
        else:
            raw = self.path.read_bytes() if self.path.exists() else None
        return json.loads(raw) if raw else None

    async def check(self) -> tuple[bool, str]:
        """(healthy, why) from the last heartbeat on this host."""
        where = f"Redis key {self.key}" if self._redis is not None else str(self.path)
        try:
            last = await self.read()
        except (aioredis.RedisError, OSError, ValueError) as exc:
            return False, f"{self.name}: cannot read the heartbeat at {where}: {exc}"
        if last is None:
            return False, f"{self.name}: no heartbeat at {where}: not running on {self.host}?"
        age_s = time.time() - float(last.get("at", 0))
        if age_s > self.ttl_s:
            return False, f"{self.name}: last heartbeat {age_s:.0f} s ago (> {self.ttl_s:g} s)"
        summary = f"{self.name} pid {last.get('pid')}: {last.get('state')} ({age_s:.1f} s ago)"
        return bool(last.get("ok")), summary

    async def close(self, *, clear: bool = True) -> None:
        """Stop beating; on a clean exit remove the heartbeat, so `--check` says stopped."""
        with contextlib.suppress(aioredis.RedisError, OSError):
            if clear and self._redis is not None:
                await self._redis.delete(self.key)
            elif clear:
                self.path.unlink(missing_ok=True)
        if self._redis is not None and self._owns_redis:
            await self._redis.aclose()


def check_main(name: str, settings: Settings) -> int:
    """`--check`: print the state, exit 0 when healthy and fresh, 1 otherwise."""

    async def check() -> tuple[bool, str]:
        heartbeat = Heartbeat(name, settings)
        try:
            return await heartbeat.check()
        finally:
            await heartbeat.close(clear=False)

    healthy, why = asyncio.run(check())
    print(("ok: " if healthy else "unhealthy: ") + why)
    return 0 if healthy else 1
