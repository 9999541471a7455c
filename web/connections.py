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

Ingest under overload is refused here too, at the request's headers
(web/shedding.py `EarlyRefusal`): when the request's first bytes are a whole,
plainly framed head (`POST <ingest path> HTTP/1.1`, one Content-Length, no
Transfer-Encoding, Expect or Upgrade) and the pool would refuse it, its answer is
written at once in one send and its body read past and dropped, without h11, a
task or the app. Anything else goes to h11 as before, and the app still sheds.

The settings reach the protocol through uvicorn's Config (`trackmaster serve`
sets `tm_*` attributes on it, for the http and the https server alike).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from web.security import SECURITY_HEADERS
from web.shedding import early_refusal

log = logging.getLogger(__name__)

DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_BODY_TIMEOUT_S = 60.0
# Connections end within a request's time; a second is what a client should wait.
BUSY_RETRY_AFTER_S = 1
# At most one log line this often while connections are being refused.
LOG_EVERY_S = 10.0
# A head longer than this is not read here (h11 reads it, and the app sheds it).
EARLY_HEAD_BYTES = 8192
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# A CR or LF that is not part of a CRLF: parsers differ on where such a line ends, and
# framing must never be read here otherwise than h11 (or a proxy in front) would.
_LONE_BREAK = re.compile(rb"\r(?!\n)|(?<!\r)\n")
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Heads with these are h11's to frame (chunked bodies, 100-continue, upgrades).
_NOT_PLAIN = frozenset((b"transfer-encoding", b"expect", b"upgrade"))


def plain_post(data: bytes) -> tuple[bytes, int, int] | None:
    """(target, end of the head, Content-Length) of a plainly framed POST head at the start
    of `data`, or None: not a POST, not all in `data`, or framed in any way but one
    Content-Length (those are h11's to read; the app sheds them)."""
    if not data.startswith(b"POST "):
        return None
    end = data.find(b"\r\n\r\n", 0, EARLY_HEAD_BYTES)
    if end < 0:
        return None
    head = data[:end]
    if _LONE_BREAK.search(head) or _CONTROL.search(head):
        return None  # a line break h11 might read otherwise than this split, or control bytes
    lines = head.split(b"\r\n")
    target, space, version = lines[0][5:].partition(b" ")
    if not space or version != b"HTTP/1.1" or not target.startswith(b"/"):
        return None
    length: int | None = None
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            return None  # obs-fold, spaces before the colon, no colon: h11 decides
        name = name.lower()
        if name == b"content-length":
            value = value.strip(b" \t")
            if length is not None or not value.isdigit():
                return None
            length = int(value)
        elif name in _NOT_PLAIN:
            return None
        elif name == b"connection" and value.strip(b" \t").lower() != b"keep-alive":
            return None  # close (or anything else): uvicorn's own path handles it
    if length is None:
        return None
    return target, end + 4, length


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
        self._early = None if self.root_path else early_refusal(self.app)
        self._discard = 0  # body bytes still to come of a request refused at its headers

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
        if self._discard:
            if len(data) <= self._discard:
                self._discard -= len(data)
                if not self._discard:
                    self._refused_complete()
                return
            data = data[self._discard :]
            self._discard = 0
            self._refused_complete()
        while self._early is not None and not self._discard and self._at_request_start():
            rest = self._refuse_early(data)
            if rest is None:
                break  # h11's to read
            if not rest:
                return
            data = rest  # the next request, pipelined
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

    def _at_request_start(self) -> bool:
        """Whether the next bytes begin a request: h11 between requests, nothing buffered."""
        conn = self.conn
        return (
            conn.our_state is h11.IDLE
            and conn.their_state is h11.IDLE
            and not conn.trailing_data[0]
            and not self.transport.is_closing()
        )

    def _refuse_early(self, data: bytes) -> bytes | None:
        """Refuse the request `data` starts with, if the shedding says so: the bytes after
        what of its body is in `data` (b"" when none), or None when h11 takes it all."""
        assert self._early is not None
        head = plain_post(data)
        if head is None:
            return None
        target, body_at, length = head
        answer = self._early.answer(target, self.server_state.default_headers)
        if answer is None:
            return None
        self._unset_keepalive_if_required()
        self.transport.write(answer)
        self.server_state.total_requests += 1
        body_end = body_at + length
        if len(data) >= body_end:
            self._refused_complete()
            return data[body_end:]
        self._discard = body_end - len(data)
        self._arm(self.body_timeout_s, "body")
        return b""

    def _refused_complete(self) -> None:
        """A request refused at its headers is all read: wait for the next, as uvicorn does
        after an answer (its keep-alive timer) and as the header deadline says."""
        if self.transport.is_closing():
            return
        self._unset_keepalive_if_required()
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )
        self._arm(self.header_timeout_s, "headers")

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
