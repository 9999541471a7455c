"""Tortoise's MySQL engine with a deadline on every call (the `engine` of trackmaster/db.py).

aiomysql has no read timeout: a frozen server (or one behind a dead network)
holds a query, and the request that made it, forever. Here every call (a
query, taking a pooled connection, BEGIN, COMMIT, ROLLBACK) runs under
DB_TIMEOUT_S. A call past its deadline, or one that finds the server
unreachable, raises `DatabaseUnavailable` (503) and is counted in the
process's `OUTAGE` (logged once per outage). A connection interrupted mid-call
is closed, never handed back to the pool: the unread rest of its answer would
be read by the next query as its own.

Waiting for a pooled connection is not the database failing to answer: under
load, calls queue for the DB_POOL_SIZE connections of a healthy server. So a
call's deadline starts again once it holds a connection (the database gets
the whole DB_TIMEOUT_S to answer), and a call whose deadline passes while it
still waits, with every connection of the pool busy, raises `DatabaseBusy`
(503 too) without counting an outage: counted, one busy moment put the whole
process in outage mode, refusing all ingest with 503 (bench/README.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from tortoise.backends.base.client import (
    NestedTransactionContext,
    PoolConnectionWrapper,
    TransactionContextPooled,
)
from tortoise.backends.mysql.client import MySQLClient, TransactionWrapper
from tortoise.connection import get_connections

from trackmaster.db_outage import OUTAGE, DatabaseUnavailable, is_unreachable

T = TypeVar("T")
DEFAULT_DEADLINE_S = 5.0


class DatabaseBusy(DatabaseUnavailable):
    """Every pooled connection stayed busy for the whole deadline: load, not an outage."""


@dataclass
class _Call:
    """The call under a deadline in this task, and whether it holds a pooled connection yet."""

    deadline: asyncio.Timeout
    deadline_s: float
    holding: bool = False


_CALL: ContextVar[_Call | None] = ContextVar("trackmaster_db_call", default=None)


def _every_connection_busy(pool: Any) -> bool:
    return pool is not None and pool.freesize == 0 and pool.size >= pool.maxsize


async def _guard(
    deadline_s: float,
    call: Awaitable[T],
    on_failure: Any = None,
    pool: Callable[[], Any] | None = None,
) -> T:
    """`call` under the deadline; `pool` (when the call takes a pooled connection) tells a
    queue for connections from a database that does not answer."""
    try:
        async with asyncio.timeout(deadline_s) as deadline:
            this = _Call(deadline, deadline_s)
            token = _CALL.set(this if pool is not None else None)
            try:
                result = await call
            finally:
                _CALL.reset(token)
    except TimeoutError as exc:
        if on_failure is not None:
            on_failure()
        if pool is not None and not this.holding and _every_connection_busy(pool()):
            raise DatabaseBusy(
                f"every database connection of this process stayed busy for {deadline_s:g} s "
                "(DB_POOL_SIZE, DB_TIMEOUT_S); retry in a moment"
            ) from exc
        why = f"no answer from the database within {deadline_s:g} s (DB_TIMEOUT_S)"
        OUTAGE.failed(why)
        raise DatabaseUnavailable(f"{why}; retry in a moment") from exc
    except DatabaseUnavailable:
        if on_failure is not None:
            on_failure()
        raise
    except Exception as exc:
        if not is_unreachable(exc):
            raise
        if on_failure is not None:
            on_failure()
        OUTAGE.failed(f"{type(exc).__name__}: {exc}")
        raise DatabaseUnavailable("the database cannot be reached; retry in a moment") from exc
    OUTAGE.succeeded()
    return result


class _ClosingPoolConnection(PoolConnectionWrapper[Any]):
    """A pooled connection that is closed instead of reused when its call was interrupted."""

    async def __aenter__(self) -> Any:
        connection = await super().__aenter__()
        _held()
        return connection

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        interrupted = exc_type is not None and (
            issubclass(exc_type, asyncio.CancelledError | TimeoutError) or is_unreachable(exc_val)
        )
        if interrupted and self.connection is not None:
            self.connection.close()
        await super().__aexit__(exc_type, exc_val, exc_tb)


def _held() -> None:
    """The call in this task holds a connection now: the database gets a whole deadline."""
    this = _CALL.get()
    if this is not None and not this.holding:
        this.holding = True
        this.deadline.reschedule(asyncio.get_running_loop().time() + this.deadline_s)


class _GuardedTransactionContext(TransactionContextPooled):
    async def __aenter__(self) -> Any:
        client = self.client
        parent = cast(GuardedMySQLClient, client._parent)  # the only parent this context gets

        async def take() -> None:
            await self.ensure_connection()
            client._connection = await parent._pool.acquire()  # type: ignore[union-attr]  # made by ensure_connection()

        await _guard(parent.deadline_s, take(), pool=lambda: parent._pool)
        self.token = get_connections().set(self.connection_name, client)
        try:
            await client.begin()
        except BaseException:
            # __aexit__ does not run when __aenter__ fails: give the connection back here.
            connection = client._connection
            connection.close()
            if parent._pool is not None:
                parent._pool.release(connection)
            get_connections().reset(self.token)
            raise
        return client


class GuardedTransaction(TransactionWrapper):
    deadline_s: float

    def __init__(self, connection: GuardedMySQLClient | GuardedTransaction) -> None:
        super().__init__(connection)
        self.deadline_s = connection.deadline_s

    def _in_transaction(self) -> Any:
        return NestedTransactionContext(GuardedTransaction(self))

    def _close_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()

    def _g(self, call: Awaitable[T]) -> Awaitable[T]:
        return _guard(self.deadline_s, call, self._close_connection)

    async def execute_insert(self, query: str, values: list[Any]) -> Any:
        return await self._g(super().execute_insert(query, values))

    async def execute_many(self, query: str, values: list[Any]) -> None:
        await self._g(super().execute_many(query, values))

    async def execute_query(self, query: str, values: list[Any] | None = None) -> Any:
        return await self._g(super().execute_query(query, values))

    async def execute_script(self, query: str) -> None:
        await self._g(super().execute_script(query))

    async def begin(self) -> None:
        await self._g(super().begin())

    async def commit(self) -> None:
        await self._g(super().commit())

    async def rollback(self) -> None:
        await self._g(super().rollback())


class GuardedMySQLClient(MySQLClient):
    def __init__(self, *, deadline_s: float = DEFAULT_DEADLINE_S, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deadline_s = float(deadline_s)

    def acquire_connection(self) -> Any:
        return _ClosingPoolConnection(self, self._pool_init_lock)

    def _in_transaction(self) -> Any:
        return _GuardedTransactionContext(GuardedTransaction(self), self._pool_init_lock)

    def _g(self, call: Awaitable[T]) -> Awaitable[T]:
        return _guard(self.deadline_s, call, pool=lambda: self._pool)

    async def execute_insert(self, query: str, values: list[Any]) -> Any:
        return await self._g(super().execute_insert(query, values))

    async def execute_many(self, query: str, values: list[Any]) -> None:
        await self._g(super().execute_many(query, values))

    async def execute_query(self, query: str, values: list[Any] | None = None) -> Any:
        return await self._g(super().execute_query(query, values))

    async def execute_script(self, query: str) -> None:
        await self._g(super().execute_script(query))


client_class = GuardedMySQLClient
