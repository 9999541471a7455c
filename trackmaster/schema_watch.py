"""A web process that starts while its database is away: up, but closed to queries.

Start-up checks that the database answers and has every migration this code needs
(trackmaster/db.py). When MySQL is simply away (refused, timed out: `reachability.Away`)
the web process starts anyway, as it does without Redis (issue 14): SDKs get 503 with
Retry-After and keep their events, a load balancer sees /healthz/ready fail, and the
process needs no restart once the database is there. Nothing may query it before its
schema is known to be current, so `SchemaWatch` holds the reason every request is
refused (web/db_gate.py) until a check finds the schema current; one that finds
migrations missing keeps it closed and says once what to run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from trackmaster.reachability import Away, Unreachable

log = logging.getLogger(__name__)

AWAY_SINCE_START = "the database has not answered since TrackMaster started; retry in a moment"


class SchemaWatch:
    """Why queries are refused (`closed_because`), until `pending()` comes back empty."""

    def __init__(
        self,
        pending: Callable[[], Awaitable[list[str]]],
        out_of_date: Callable[[list[str]], str],
        interval_s: float,
    ) -> None:
        self.closed_because: str | None = AWAY_SINCE_START
        self._pending = pending
        self._out_of_date = out_of_date
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self.opened = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch(), name="schema-watch")

    async def _watch(self) -> None:
        said: set[str] = set()  # each kind of trouble is logged once, not every interval
        while True:
            try:
                missing = await self._pending()
            except Away:
                missing = None  # still away: the start-up line said so
            except Unreachable as refused:
                # Back, but refusing these settings (a password changed meanwhile): say it.
                self.closed_because = str(refused)
                if "refused" not in said:
                    said.add("refused")
                    log.error("%s Answering 503 until then.", refused)
                missing = None
            except Exception:
                if "failed" not in said:
                    said.add("failed")
                    log.exception("checking the database schema failed; trying again")
                missing = None
            if missing == []:
                self.closed_because = None
                self.opened.set()
                log.info("the database answers and its schema is current: taking traffic")
                return
            if missing:
                # The list shrinks as someone migrates, closed all the while.
                self.closed_because = self._out_of_date(missing)
                if "out of date" not in said:
                    said.add("out of date")
                    log.error("%s; answering 503 until then", self.closed_because)
            await asyncio.sleep(self._interval_s)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
