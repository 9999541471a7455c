"""The ingest rate limit: each project's token bucket (INGEST_RATE_PER_S, INGEST_BURST),
taken by the ingest endpoints once a batch's key names its project (web/ingest.py)."""

from __future__ import annotations

import math

from starlette.requests import Request

from trackmaster.errors import TooManyRequests
from web.auth import guard_of


async def check_ingest_rate(request: Request, project_id: int, events: int) -> None:
    """Take `events` tokens from the project's bucket, or refuse with 429 and Retry-After.

    Keyed by project, not by the key's text: rotating a key does not refill
    the bucket, and unknown keys (refused before this) never create one.
    """
    guard = guard_of(request)
    wait_s = await guard.ingest_rate.take(f"ingest:{project_id}", max(1, events))
    if wait_s is None:
        return
    settings = guard.settings
    raise TooManyRequests(
        f"this project's write key is over its rate of {settings.ingest_rate_per_s:g} events/s "
        f"(bursts up to {settings.ingest_burst}; INGEST_RATE_PER_S, INGEST_BURST); nothing was "
        "stored, retry after the delay in Retry-After",
        retry_after_s=math.ceil(wait_s),
        details={"retryAfterS": round(wait_s, 3)},
    )
