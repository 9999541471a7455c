"""Start-up checks of the services a process is configured to use, said in one sentence.

A newcomer who mistyped `DB_PORT` should read "cannot connect to MySQL at
127.0.0.1:3999 (DB_HOST, DB_PORT): connection refused", not an 80-line
traceback or a claim that migrations are missing. Every process (`serve`,
`migrate`, the producer, the consumer) raises `Unreachable` from here and
prints its message alone.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from typing import Any

from trackmaster.settings import Settings

CONNECT_TIMEOUT_S = 5.0

# MySQL client/server error codes that mean "fix a setting", with which one.
_MYSQL_DB_ACCESS_DENIED = 1044
_MYSQL_ACCESS_DENIED = 1045
_MYSQL_UNKNOWN_DATABASE = 1049


class Unreachable(RuntimeError):
    """A configured service did not answer; the message names the settings and the fix."""


class Away(Unreachable):
    """Nothing answered at the address at all (refused, no route, timed out): an outage a
    service may end by coming up, unlike a refused password or a missing database, which
    only a change of settings fixes. A web process starts degraded on this one."""


def reason_of(exc: BaseException) -> str:
    """The short human reason inside a connection error (no class names, no tracebacks)."""
    if isinstance(exc, socket.gaierror):
        return "no such host"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens there)"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "no answer (timed out)"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    cause = exc.__cause__ or exc.__context__
    if cause is not None and cause is not exc and isinstance(cause, OSError):
        return reason_of(cause)
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def cannot_connect(service: str, address: str, setting_names: str, reason: str) -> Away:
    return Away(
        f"cannot connect to {service} at {address} ({setting_names}): {reason}. "
        f"Start {service} there, or change {setting_names}."
    )


async def check_mysql(settings: Settings) -> None:
    """Connect once with the configured credentials; raise `Unreachable` saying what is wrong."""
    import aiomysql
    import pymysql

    address = f"{settings.db_host}:{settings.db_port}"
    try:
        connection = await asyncio.wait_for(
            aiomysql.connect(
                host=settings.db_host,
                port=settings.db_port,
                user=settings.db_user,
                password=settings.db_password,
                db=settings.db_name,
                connect_timeout=CONNECT_TIMEOUT_S,
            ),
            timeout=CONNECT_TIMEOUT_S + 1,
        )
    except pymysql.err.OperationalError as exc:
        code = exc.args[0] if exc.args else None
        if code == _MYSQL_ACCESS_DENIED:
            raise Unreachable(
                f"MySQL at {address} refused user {settings.db_user!r} "
                "(DB_USER, DB_PASSWORD): access denied. Check the user and password."
            ) from None
        if code == _MYSQL_DB_ACCESS_DENIED:
            raise Unreachable(
                f"MySQL at {address} does not let user {settings.db_user!r} use database "
                f"{settings.db_name!r} (DB_USER, DB_NAME). Grant it, or change the settings."
            ) from None
        if code == _MYSQL_UNKNOWN_DATABASE:
            raise Unreachable(
                f"MySQL at {address} has no database {settings.db_name!r} (DB_NAME). Create it "
                f"(CREATE DATABASE `{settings.db_name}` CHARACTER SET utf8mb4), then run "
                "`trackmaster migrate`."
            ) from None
        raise cannot_connect("MySQL", address, "DB_HOST, DB_PORT", reason_of(exc)) from None
    except (OSError, TimeoutError) as exc:
        raise cannot_connect("MySQL", address, "DB_HOST, DB_PORT", reason_of(exc)) from None
    connection.close()


async def check_database(settings: Settings) -> None:
    """The configured database answers (the embedded SQLite file always does)."""
    if settings.uses_mysql:
        await check_mysql(settings)


def redis_address(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme == "unix":
        return address_of({"path": parts.path})
    return address_of({"host": parts.hostname, "port": parts.port})


def address_of(connection_kwargs: Mapping[str, Any]) -> str:
    """Where a Redis client connects, from its pool's connection_kwargs (or the URL's parts):
    the socket path, or host:port with redis-py's defaults (localhost, 6379)."""
    path = connection_kwargs.get("path")
    if path:
        return str(path)
    host = connection_kwargs.get("host") or "localhost"
    return f"{host}:{connection_kwargs.get('port') or 6379}"


def redis_unreachable(url: str, exc: BaseException) -> Unreachable:
    return cannot_connect("Redis", redis_address(url), "REDIS", reason_of(exc))


async def check_redis(url: str) -> None:
    """The configured Redis answers a PING; raise `Unreachable` naming REDIS when not."""
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    client = aioredis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S)
    try:
        await asyncio.wait_for(client.ping(), timeout=CONNECT_TIMEOUT_S + 1)
    except (RedisError, OSError, TimeoutError) as exc:
        raise redis_unreachable(url, exc) from None
    finally:
        await client.aclose()


def kafka_unreachable(bootstrap: str, exc: BaseException) -> Unreachable:
    reason = reason_of(exc)
    if "Unable to bootstrap" in reason:  # aiokafka's words when no listed broker answered
        reason = "no broker answered"
    return cannot_connect("Kafka", bootstrap, "BROKER", reason)
