"""Stop test sessions that reached their time limit (the original's REALTIME_LIMIT).

Every process runs this loop; stopping is a conditional UPDATE, so each due
session is stopped once, with `stop_reason = "time limit"`, its Jet filter
set STOPPED and live pages told.
"""

from __future__ import annotations

import asyncio
import logging

from trackmaster.db_outage import DatabaseUnavailable
from trackmaster.runtime import Runtime
from workers.pool import WorkerPool

log = logging.getLogger(__name__)

CHECK_EVERY_S = 1.0


async def run(runtime: Runtime, pool: WorkerPool, every_s: float = CHECK_EVERY_S) -> None:
    lifecycle = runtime.realtime.lifecycle
    while True:
        try:
            stopped = await lifecycle.expire_due()
            if stopped:
                log.info("stopped %d session(s) at their time limit: %s", len(stopped), stopped)
        except asyncio.CancelledError:
            raise
        except DatabaseUnavailable:
            pass  # an outage, logged and notified once by trackmaster/db_outage.py
        except Exception:
            # A database hiccup must not end the loop; the next round tries again.
            log.exception("session expiry failed; retrying in %g s", every_s)
        await asyncio.sleep(every_s)
