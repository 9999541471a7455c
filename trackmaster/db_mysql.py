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

Nor is an event loop too busy to read the answer. A deadline counts the time
the loop could run: what it lost being late (trackmaster/loop_lag.py) is
given back, up to twice the deadline, and a deadline that still expires with
the loop stalled for at least half of its time raises `LoopStarved` (503,
no outage). Under 600 senders a starved loop had read answers that came in
milliseconds seconds late, and each such call was counted as an outage.

But a database that never answers, under the load an outage brings (clients
retrying), also expires its deadlines on a busy loop: counted as LoopStarved
every time, it was never an outage, so the fast 503 never engaged. So when a
deadline expires the connection is looked at: bytes waiting on it (read into
its reader, or still in the socket) mean the answer came and the loop was late
to read it (LoopStarved, not counted); nothing there means the database said
nothing. `SILENT_STARVED_OUTAGE` such silent LoopStarved calls in a row, with
no call succeeding between, are an outage (OUTAGE): one alone is not, as a
loop starved long enough can expire a slow but healthy query.
"""

from __future__ import annotations

import asyncio
import select
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

from trackmaster import loop_lag
from trackmaster.db_outage import (
    OUTAGE,
    SILENT_STARVED_OUTAGE,
    DatabaseUnavailable,
    is_unreachable,
)

T = TypeVar("T")
DEFAULT_DEADLINE_S = 5.0


class DatabaseBusy(DatabaseUnavailable):
    """Every pooled connection stayed busy for the whole deadline: load, not an outage."""


# A deadline gives back at most this many times its length for a late loop.
MOST_GIVEN_BACK = 2.0
# A deadline that expires with the loop stalled for this share of its time or more
# measured the process, not the database.
STARVED_SHARE = 0.5


class LoopStarved(DatabaseBusy):
    """The deadline passed while this process's own event loop hardly ran: load, not an outage."""


class _Deadline:
    """`deadline_s` of time the event loop could run: what it lost being late is given back."""

    def __init__(self, timeout: asyncio.Timeout, deadline_s: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.lag = loop_lag.of_running_loop()
        self.timeout = timeout
        self.deadline_s = deadline_s
        # The aiomysql connection the call waits on, once known; what it had when the
        # deadline expired: None (not known), or whether any bytes of an answer were there.
        self.connection: Callable[[], Any] = lambda: None
        self.answer_waiting: bool | None = None
        self._handle: asyncio.TimerHandle | None = None
        self.restart()

    def restart(self) -> None:
        """A whole deadline from now."""
        self.started = self.loop.time()
        self.stall_mark = self.lag.stalled_now()
        self.given_back_s = 0.0
        self._at(self.started + self.deadline_s)

    def stalled_s(self) -> float:
        return self.lag.stalled_now() - self.stall_mark

    def waited_s(self) -> float:
        return self.loop.time() - self.started

    def starved(self) -> bool:
        return self.stalled_s() >= STARVED_SHARE * self.waited_s() > 0

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _at(self, when: float) -> None:
        self.cancel()
        self._handle = self.loop.call_at(when, self._due)

    def _due(self) -> None:
        self._handle = None
        owed_s = self.stalled_s() - self.given_back_s
        room_s = MOST_GIVEN_BACK * self.deadline_s - self.given_back_s
        if owed_s > 0.001 and room_s > 0.001:
            step_s = min(owed_s, room_s)
            self.given_back_s += step_s
            self._at(self.loop.time() + step_s)
            return
        # Looked at now: once cancelled, the call closes its connection and the evidence goes.
        try:
            self.answer_waiting = _answer_waiting(self.connection())
        except Exception:  # evidence is best effort: the deadline itself must always fire
            self.answer_waiting = None
        finally:
            self.timeout.reschedule(self.loop.time())  # expires now: the call is cancelled


def _answer_waiting(connection: Any) -> bool | None:
    """Whether bytes from the server wait on `connection` (None: no open connection to see).

    The loop reads a socket into its StreamReader only when it comes round to it, so
    bytes that arrived late in a stalled turn are still in the socket: both are looked at.
    """
    reader = getattr(connection, "_reader", None)
    writer = getattr(connection, "_writer", None)
    if reader is None or writer is None:
        return None
    if len(getattr(reader, "_buffer", b"")) > 0:
        return True
    sock = writer.get_extra_info("socket")
    if sock is None or sock.fileno() < 0:
        return None
    # poll, not select: select refuses descriptors >= FD_SETSIZE (1024).
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    return bool(poller.poll(0))


@dataclass
class _Call:
    """The call under a deadline in this task, and whether it holds a pooled connection yet."""

    deadline: _Deadline
    holding: bool = False

    def holds(self, connection: Any) -> None:
        self.deadline.connection = lambda: connection


_CALL: ContextVar[_Call | None] = ContextVar("trackmaster_db_call", default=None)


def _every_connection_busy(pool: Any) -> bool:
    return pool is not None and pool.freesize == 0 and pool.size >= pool.maxsize


async def _guard(
    deadline_s: float,
    call: Awaitable[T],
    on_failure: Any = None,
    pool: Callable[[], Any] | None = None,
    connection: Callable[[], Any] | None = None,
) -> T:
    """`call` under the deadline; `pool` (when the call takes a pooled connection) tells a
    queue for connections from a database that does not answer; `connection` is the one
    the call uses, when it holds one already (a transaction's)."""
    try:
        async with asyncio.timeout(None) as timeout:
            deadline = _Deadline(timeout, deadline_s)
            if connection is not None:
                deadline.connection = connection
            this = _Call(deadline)
            token = _CALL.set(this if pool is not None else None)
            try:
                result = await call
            finally:
                _CALL.reset(token)
                deadline.cancel()
    except TimeoutError as exc:
        if on_failure is not None:
            on_failure()
        if pool is not None and not this.holding and _every_connection_busy(pool()):
            raise DatabaseBusy(
                f"every database connection of this process stayed busy for {deadline_s:g} s "
                "(DB_POOL_SIZE, DB_TIMEOUT_S); retry in a moment"
            ) from exc
        why = f"no answer from the database within {deadline_s:g} s (DB_TIMEOUT_S)"
        silent = None if deadline.answer_waiting is None else not deadline.answer_waiting
        if deadline.starved() and not OUTAGE.starved(silent):
            raise LoopStarved(
                f"this process was too busy to read the database's answer (its event loop "
                f"lost {deadline.stalled_s():.1f} s of the {deadline.waited_s():.1f} s the call "
                "waited); retry in a moment"
            ) from exc
        if deadline.starved():
            why += f" ({SILENT_STARVED_OUTAGE}+ calls in a row on a busy loop, none answered)"
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
        _held(connection)
        return connection

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        interrupted = exc_type is not None and (
            issubclass(exc_type, asyncio.CancelledError | TimeoutError) or is_unreachable(exc_val)
        )
        if interrupted and self.connection is not None:
            self.connection.close()
        await super().__aexit__(exc_type, exc_val, exc_tb)


def _held(connection: Any) -> None:
    """The call in this task holds a connection now: the database gets a whole deadline."""
    this = _CALL.get()
    if this is not None and not this.holding:
        this.holding = True
        this.holds(connection)
        this.deadline.restart()


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
        return _guard(
            self.deadline_s, call, self._close_connection, connection=lambda: self._connection
        )

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
