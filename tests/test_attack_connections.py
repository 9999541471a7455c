"""Issue 15, finding 5: slow clients cannot hold connections for as long as they like.

Against a real `trackmaster serve` process with short deadlines
(HEADER_TIMEOUT_S=2, BODY_TIMEOUT_S=3): 300 sockets that trickle header bytes
and one that trickles an ingest body are all closed by the server within the
deadline (plus slack for a loaded machine), while /ping keeps answering; the
https port keeps the same deadlines. A process with MAX_CONNECTIONS open
connections answers the next one 503 with Retry-After and serves again once
they close. The attackers give up after ATTACK_LIMIT_S whatever happens
(bounded loops, loopback only).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.process_server import PingProbe, ServerProcess, machine_load, server_process
from tests.support.servers import free_port

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


async def _held_for(
    port: int, head: bytes, trickle: bytes, tls: ssl.SSLContext | None = None
) -> float:
    """Send `head`, then `trickle` every TRICKLE_S; seconds until the server hung up."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls)
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


@pytest.mark.slow
async def test_the_https_port_keeps_the_same_deadlines(tmp_path: Path) -> None:
    # The https server is a second uvicorn server in the same process: it ran uvicorn's
    # plain protocol, so a trickling client there was held as long as it liked.
    https_port = free_port()
    with server_process(
        tmp_path, admin=None, HTTPS_PORT=str(https_port), HEADER_TIMEOUT_S=str(HEADER_TIMEOUT_S)
    ) as server:
        tls = ssl.create_default_context(cafile=str(tmp_path / "tls" / "trackmaster.crt"))
        tls.check_hostname = False
        head = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        held = await asyncio.gather(
            *(_held_for(https_port, head, b"X-Slow: 1\r\n", tls) for _ in range(20))
        )
        assert max(held) < HEADER_TIMEOUT_S + SLACK_S, (held, server.log()[-2000:])


async def _answer_of(port: int) -> tuple[int, dict[str, str]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 10)
        headers = {}
        while (line := await asyncio.wait_for(reader.readline(), 10)) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(status.split()[1]), headers
    finally:
        writer.close()


async def test_connections_over_the_cap_get_503_with_retry_after(tmp_path: Path) -> None:
    cap = 10  # MAX_CONNECTIONS's smallest value
    with server_process(
        tmp_path, admin=None, MAX_CONNECTIONS=str(cap), HEADER_TIMEOUT_S="30"
    ) as server:
        held = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(cap)]
        try:
            await asyncio.sleep(0.5)  # the server has accepted all of them
            refusals = [await _answer_of(server.port) for _ in range(5)]
            for status, headers in refusals:
                assert status == 503, refusals
                assert headers["retry-after"] == "1", headers
                assert headers["x-content-type-options"] == "nosniff", headers
                assert headers["connection"] == "close", headers
        finally:
            for _, writer in held:
                writer.close()
        await asyncio.sleep(0.5)  # the server has seen them go
        status, _ = await _answer_of(server.port)
        assert status == 200
        log = server.log()
        # One line for the refusals, not one per refused request.
        assert log.count("MAX_CONNECTIONS") == 1, log[-2000:]
