"""A database that is away is an outage to report once, not an error per request.

Calls that fail because the database cannot be reached (refused, lost
connection, past their deadline) raise `DatabaseUnavailable`: a 503 with
Retry-After for clients, and no traceback or notification of its own. The
process-wide `OUTAGE` logs one WARNING and sends one notification when the
first call fails, counts the rest, and logs one INFO line with the duration
when a call succeeds again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from trackmaster.errors import ServiceUnavailable
from trackmaster.notify import Notifier

log = logging.getLogger(__name__)

# MySQL client and server error codes that mean "cannot talk to the server", not "bad query".
_UNREACHABLE_CODES = frozenset(
    {
        1040,  # too many connections
        1053,  # server shutdown in progress
        1927,  # connection was killed
        2002,  # can't connect through socket
        2003,  # can't connect to server
        2005,  # unknown host
        2006,  # server has gone away
        2013,  # lost connection during query
        2014,  # commands out of sync (a connection left mid-answer)
        2055,  # lost connection (system error)
        4031,  # disconnected by the server for inactivity
    }
)


class DatabaseUnavailable(ServiceUnavailable):
    """The database cannot be reached or did not answer in time; retry after a moment."""

    def __init__(self, msg: str = "the database is unavailable; retry in a moment") -> None:
        super().__init__(msg, retry_after_s=2)


def is_unreachable(exc: BaseException) -> bool:
    """Whether `exc` (or what it wraps) says the database could not be talked to."""
    from tortoise.exceptions import DBConnectionError

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DatabaseUnavailable | DBConnectionError | ConnectionError):
            return True
        if isinstance(current, OSError | TimeoutError | EOFError):
            return True
        name = type(current).__name__
        args = getattr(current, "args", ())
        if name == "InterfaceError":  # pymysql: "(0, 'Not connected')" on a closed connection
            return True
        if name == "OperationalError" and args and isinstance(args[0], int):
            return args[0] in _UNREACHABLE_CODES
        inner = args[0] if args and isinstance(args[0], BaseException) else None
        current = inner or current.__cause__
    return False


# A failure this soon after the database came back continues the same outage: pooled
# connections from before a restart fail once each after the first fresh one succeeded,
# and each would otherwise be a new outage with its own warning and notification.
SAME_OUTAGE_WITHIN_S = 10.0
# This many LoopStarved calls in a row with nothing from the database on their connection,
# and no call succeeding between, are an outage (trackmaster/db_mysql.py): a database that
# never answers expires every deadline on a busy loop, and the load its outage brings
# (clients retrying) keeps the loop busy.
SILENT_STARVED_OUTAGE = 3


class Outage:
    """One process's view of the database: up, or down since when, with how many failures."""

    def __init__(self) -> None:
        self.back_at: float | None = None  # when the last outage ended
        self.down_since: float | None = None
        self.failures = 0  # calls failed in the current outage
        self.outages = 0  # outages seen since start
        self.last_error = ""
        self.silent_starved = 0  # LoopStarved calls in a row that heard nothing from the database
        self.notifier: Notifier | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def failed(self, why: str) -> None:
        self.failures += 1
        self.last_error = why[:300]
        if self.down_since is not None:
            return
        now = time.monotonic()
        self.down_since = now
        if self.back_at is not None and now - self.back_at < SAME_OUTAGE_WITHIN_S:
            return  # the outage said once already goes on: down again, said nothing
        self.outages += 1
        log.warning("database unavailable (%s); answering 503 until it is back", why)
        if self.notifier is not None and self.notifier.enabled:
            with_loop = asyncio.get_running_loop()
            task = with_loop.create_task(
                self.notifier.notify("database unavailable", f"{why}; answering 503 meanwhile")
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def starved(self, silent: bool | None) -> bool:
        """A call expired on a starved loop; True when it makes SILENT_STARVED_OUTAGE in a row
        that heard nothing (`silent`), an outage then. An answer seen (False) starts again;
        a call with no connection to look at (None) counts neither way."""
        if silent is False:
            self.silent_starved = 0
        elif silent:
            self.silent_starved += 1
        return self.silent_starved >= SILENT_STARVED_OUTAGE

    def succeeded(self) -> None:
        self.silent_starved = 0
        if self.down_since is None:
            return
        self.back_at = time.monotonic()
        lasted_s = self.back_at - self.down_since
        log.info(
            "database is back after %.1f s (%d call(s) failed meanwhile)", lasted_s, self.failures
        )
        self.down_since = None
        self.failures = 0

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"outages": self.outages}
        if self.down_since is not None:
            state.update(
                down_for_s=round(time.monotonic() - self.down_since, 1),
                failures=self.failures,
                error=self.last_error,
            )
        return state


OUTAGE = Outage()
