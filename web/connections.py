"""uvicorn's HTTP/1.1 protocol with the deadlines it lacks: headers and bodies in time.

uvicorn closes idle keep-alive connections, but a client that sends one
header byte every few seconds resets that timer forever, and nothing bounds
how long a request body may take. 300 such sockets held a process for 40 s
and more (issue 15). Here every connection gets:

- HEADER_TIMEOUT_S from its first byte (or from the end of the previous
  response) to the end of the request's headers;
- BODY_TIMEOUT_S from the end of the headers to the end of the body.

Past either, the connection is closed: the handler, if one runs, sees the
client disconnect.

And at most MAX_CONNECTIONS open at once (live streams included), on each
port: every uvicorn server (http, and https when HTTPS_PORT is set) keeps its
own set of connections, so the process holds at most twice that with both. A
connection beyond that gets a 503 with Retry-After and the security headers
at its first bytes, then is closed. uvicorn's own `limit_concurrency` answered
a bare 503 with neither, and logged a warning for every refused request, which
under a flood of connections is a flood of log lines; here it is one line per
LOG_EVERY_S with the count.

The settings reach the protocol through uvicorn's Config (`trackmaster serve`
sets `tm_*` attributes on it, for the http and the https server alike).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from web.security import SECURITY_HEADERS

log = logging.getLogger(__name__)

DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_BODY_TIMEOUT_S = 60.0
# Connections end within a request's time; a second is what a client should wait.
BUSY_RETRY_AFTER_S = 1
# At most one log line this often while connections are being refused.
LOG_EVERY_S = 10.0


def _busy_answer() -> bytes:
    """The whole 503 a connection over the cap gets, made once: no work per refusal."""
    body = json.dumps(
        {
            "code": 10,
            "msg": "TrackMaster has as many open connections as it serves at once "
            "(MAX_CONNECTIONS); retry after the delay in Retry-After",
        }
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(BUSY_RETRY_AFTER_S).encode()),
        (b"connection", b"close"),
        *SECURITY_HEADERS.items(),
    ]
    head = b"HTTP/1.1 503 Service Unavailable\r\n"
    head += b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    return head + b"\r\n" + body


BUSY_ANSWER = _busy_answer()


class _RefusalLog:
    """Counts refused connections and says so at most once per LOG_EVERY_S."""

    def __init__(self) -> None:
        self.refused = 0
        self.logged_at = float("-inf")

    def note(self, cap: int) -> None:
        self.refused += 1
        now = time.monotonic()
        if now - self.logged_at >= LOG_EVERY_S:
            log.warning(
                "refusing connections over MAX_CONNECTIONS %d with 503 (%d since the last "
                "line)", cap, self.refused,
            )  # fmt: skip
            self.logged_at, self.refused = now, 0


_refusals = _RefusalLog()


class DeadlineH11Protocol(H11Protocol):
    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.header_timeout_s: float = getattr(
            config, "tm_header_timeout_s", DEFAULT_HEADER_TIMEOUT_S
        )
        self.body_timeout_s: float = getattr(config, "tm_body_timeout_s", DEFAULT_BODY_TIMEOUT_S)
        self.max_connections: int | None = getattr(config, "tm_max_connections", None)
        self._deadline: asyncio.TimerHandle | None = None
        self._timed_cycle: object = None  # the request whose headers we have seen
        self._over_cap = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # as uvicorn's H11Protocol says it
        super().connection_made(transport)
        # `connections` is the server's set of open ones, this one included.
        if self.max_connections is not None and len(self.connections) > self.max_connections:
            self._over_cap = True
            _refusals.note(self.max_connections)
        self._arm(self.header_timeout_s, "headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._over_cap:
            # Answered at its first bytes (a client reads an answer to what it sent), never
            # parsed: a refusal costs no request, task or log line.
            if not self.transport.is_closing():
                self.transport.write(BUSY_ANSWER)
                self.transport.close()
            return
        super().data_received(data)
        cycle = self.cycle
        if cycle is None or self.transport.is_closing():
            return
        if cycle is not self._timed_cycle:  # a new request's headers are in
            self._timed_cycle = cycle
            if cycle.more_body:
                self._arm(self.body_timeout_s, "body")
            else:
                self._disarm()
        elif not cycle.more_body and self._deadline is not None:
            self._disarm()  # the body is complete

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            # The next request on this connection gets its own header deadline; uvicorn's
            # keep-alive timer still closes it sooner when nothing at all arrives.
            self._arm(self.header_timeout_s, "headers")

    def _arm(self, delay_s: float, what: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(delay_s, self._expire, what, delay_s)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self, what: str, delay_s: float) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.warning("closing the connection of %s: its %s took over %g s", client, what, delay_s)
        self.transport.close()
