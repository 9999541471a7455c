"""Who may hold live streams, for how long: a per-user cap, and re-checking access.

A live stream is one request that lasts hours, so the access check made when
it started is not enough: at each keep-alive ping (SSE_PING_S) the stream asks
`Guard.still_allowed` again, and a logout, a disabled user, a new password,
"sign out everywhere" or a revoked or expired token ends it within one ping.
One user may hold SSE_STREAMS_PER_USER streams per process; more get 429.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable

from starlette.requests import Request

from trackmaster.auth.users import Principal
from trackmaster.errors import TooManyRequests
from web.auth import guard_of


class StreamQuota:
    """Open streams per user in this process."""

    def __init__(self, per_user: int) -> None:
        self.per_user = per_user
        self.open: Counter[str] = Counter()

    def take(self, who: str) -> Callable[[], None]:
        if self.open[who] >= self.per_user:
            raise TooManyRequests(
                f"you already have {self.per_user} live streams open (SSE_STREAMS_PER_USER); "
                "close a session tab and retry",
                retry_after_s=5,
            )
        self.open[who] += 1
        given_back = False

        def give_back() -> None:
            nonlocal given_back
            if not given_back:
                given_back = True
                self.open[who] -= 1
                if self.open[who] <= 0:
                    del self.open[who]

        return give_back


def _quota(request: Request) -> StreamQuota:
    # Made by the lifespan with the live feeds (web/app.py): one per process.
    quota: StreamQuota = request.app.state.stream_quota
    return quota


def take_stream_slot(request: Request) -> Callable[[], None]:
    """Count one more stream for the caller (429 over the cap); returns how to give it back."""
    principal: Principal | None = request.scope.get("user")
    who = f"user:{principal.user_id}" if principal and principal.user_id else "local"
    return _quota(request).take(who)


def access_check(request: Request) -> Callable[[], Awaitable[bool]]:
    """A check the stream calls at each ping: is the caller still let in?"""
    principal: Principal | None = request.scope.get("user")
    guard = guard_of(request)

    async def still_allowed() -> bool:
        return principal is not None and await guard.still_allowed(principal)

    return still_allowed
