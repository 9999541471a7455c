"""uvicorn's HTTP/1.1 protocol with the deadlines it lacks: headers and bodies in time.

uvicorn closes idle keep-alive connections, but a client that sends one
header byte every few seconds resets that timer forever, and nothing bounds
how long a request body may take. 300 such sockets held a process for 40 s
and more (issue 15). Here every connection gets:

- HEADER_TIMEOUT_S from its first byte (or from the end of the previous
  response) to the end of the request's headers;
- BODY_TIMEOUT_S from the end of the headers to the end of the body.

Past either, the connection is closed: the handler, if one runs, sees the
client disconnect. The deadlines come from the settings through uvicorn's
Config (`trackmaster serve` sets them); MAX_CONNECTIONS is uvicorn's own
`limit_concurrency` (503 beyond it).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_BODY_TIMEOUT_S = 60.0


class DeadlineH11Protocol(H11Protocol):
    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.header_timeout_s: float = getattr(
            config, "tm_header_timeout_s", DEFAULT_HEADER_TIMEOUT_S
        )
        self.body_timeout_s: float = getattr(config, "tm_body_timeout_s", DEFAULT_BODY_TIMEOUT_S)
        self._deadline: asyncio.TimerHandle | None = None
        self._timed_cycle: object = None  # the request whose headers we have seen

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # as uvicorn's H11Protocol says it
        super().connection_made(transport)
        self._arm(self.header_timeout_s, "headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
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
