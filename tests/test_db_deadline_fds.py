"""A database call keeps its deadline whatever its socket's number.

When a deadline expires, `_Deadline._due` (a loop callback) looks at the call's
connection to tell "the answer came, the loop was late" from "the database is silent".
select.select refuses descriptors >= 1024 (FD_SETSIZE): the callback raised before it
rescheduled the timeout, and the call kept no deadline at all. A web process serving
MAX_CONNECTIONS=1000 opens its database sockets above 1024.
"""

from __future__ import annotations

import asyncio
import os
import resource
import socket

import pytest

from tests.test_db_loop_starved import outage  # noqa: F401 (the fixture)
from trackmaster import db_outage
from trackmaster.db_mysql import _answer_waiting, _guard
from trackmaster.db_outage import DatabaseUnavailable


class _Writer:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def get_extra_info(self, name: str) -> object:
        return self._sock if name == "socket" else None


class _Connection:
    """What _answer_waiting reads of an aiomysql connection: its reader and writer."""

    def __init__(self, sock: socket.socket) -> None:
        self._reader = asyncio.StreamReader()
        self._writer = _Writer(sock)


def _socket_at(fd: int) -> tuple[socket.socket, socket.socket]:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft <= fd:
        pytest.skip(f"RLIMIT_NOFILE {soft} <= {fd}")
    ours, peer = socket.socketpair()
    os.dup2(ours.fileno(), fd)
    ours.close()
    return socket.socket(fileno=fd), peer


@pytest.mark.parametrize("fd", [900, 1500])
async def test_a_silent_connection_reads_as_silent_whatever_its_fd(fd: int) -> None:
    sock, peer = _socket_at(fd)
    try:
        assert _answer_waiting(_Connection(sock)) is False
    finally:
        sock.close()
        peer.close()


@pytest.mark.parametrize("fd", [900, 1500])
async def test_the_deadline_expires_on_a_silent_connection_whatever_its_fd(
    fd: int,
    outage: db_outage.Outage,  # noqa: F811 (the fixture)
) -> None:
    sock, peer = _socket_at(fd)
    connection = _Connection(sock)
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    try:
        with pytest.raises(DatabaseUnavailable):
            # 0.2 s deadline; 3 s is only the test's own bound on a call left without one.
            await asyncio.wait_for(_guard(0.2, never, connection=lambda: connection), 3)
    finally:
        sock.close()
        peer.close()
