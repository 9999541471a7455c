"""Issue 15, finding 5: slow clients cannot hold connections for as long as they like.

Against a real `trackmaster serve` process with short deadlines
(HEADER_TIMEOUT_S=2, BODY_TIMEOUT_S=3): 300 sockets that trickle header bytes
and one that trickles an ingest body are all closed by the server within the
deadline (plus slack for a loaded machine), while /ping keeps answering. The
attackers give up after ATTACK_LIMIT_S whatever happens (bounded loops,
loopback only).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.process_server import PingProbe, ServerProcess, machine_load, server_process

HEADER_TIMEOUT_S = 2.0
BODY_TIMEOUT_S = 3.0
ATTACK_LIMIT_S = 15.0
SLACK_S = 3.0
TRICKLE_S = 0.5


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with server_process(
        Path(tmp_path_factory.mktemp("connections")),
        admin=None,
        HEADER_TIMEOUT_S=str(HEADER_TIMEOUT_S),
        BODY_TIMEOUT_S=str(BODY_TIMEOUT_S),
    ) as running:
        yield running


async def _held_for(port: int, head: bytes, trickle: bytes) -> float:
    """Send `head`, then `trickle` every TRICKLE_S; seconds until the server hung up."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    try:
        writer.write(head)
        await writer.drain()
        while time.monotonic() - started < ATTACK_LIMIT_S:
            try:
                data = await asyncio.wait_for(reader.read(65536), TRICKLE_S)
            except TimeoutError:
                data = None
            except (ConnectionError, OSError):
                data = b""
            if data == b"":
                return time.monotonic() - started  # the server closed the connection
            if data:  # an answer (a 4xx/5xx) is also the server letting go: wait for the close
                continue
            try:
                writer.write(trickle)
                await writer.drain()
            except (ConnectionError, OSError):
                return time.monotonic() - started
        return time.monotonic() - started
    finally:
        writer.close()


@pytest.mark.slow
async def test_slow_headers_are_cut_off(server: ServerProcess) -> None:
    head = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    with PingProbe(server.url, interval_s=0.1) as probe:
        held = await asyncio.gather(
            *(_held_for(server.port, head, b"X-Slow: 1\r\n") for _ in range(300))
        )
    longest = max(held)
    figures = (
        f"300 slow-header sockets: longest held {longest:.1f} s (deadline {HEADER_TIMEOUT_S} s); "
        f"/ping median {probe.median_ms:.1f} ms, {probe.errors} errors; {machine_load()}"
    )
    print(figures)
    assert longest < HEADER_TIMEOUT_S + SLACK_S, figures
    assert probe.errors == 0, figures


@pytest.mark.slow
async def test_a_slow_body_is_cut_off(server: ServerProcess) -> None:
    head = (
        b"POST /collect HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"X-Write-Key: anything\r\nContent-Length: 100000\r\n\r\n["
    )
    held = await asyncio.gather(*(_held_for(server.port, head, b" ") for _ in range(20)))
    assert max(held) < BODY_TIMEOUT_S + SLACK_S, held


async def test_a_normal_request_on_a_kept_alive_connection_still_works(
    server: ServerProcess,
) -> None:
    # The deadline starts again for the next request on the same connection.
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        for _ in range(3):
            writer.write(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            await writer.drain()
            status = await asyncio.wait_for(reader.readline(), 5)
            assert status.startswith(b"HTTP/1.1 200"), status
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b""):
                pass
            await asyncio.wait_for(reader.readexactly(len(b'{"message":"pong"}')), 5)
            await asyncio.sleep(HEADER_TIMEOUT_S / 2)
    finally:
        writer.close()
