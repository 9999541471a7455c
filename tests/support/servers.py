"""Run an ASGI app on a real loopback port inside the test's event loop.

Used for TrackMaster itself (the API over real HTTP) and for the fakes of
third parties (Jet, Slack): real servers on 127.0.0.1 that speak the contract.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import uvicorn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningServer:
    url: str
    port: int
    server: uvicorn.Server


@contextlib.asynccontextmanager
async def serve(
    app, *, port: int | None = None, lifespan: str = "on"
) -> AsyncIterator[RunningServer]:
    port = port or free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan=lifespan,
        log_level="warning",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    # The test process owns signals; uvicorn must not install its handlers.
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started:
                break
            if task.done():
                task.result()  # raises the start-up error
                raise RuntimeError("server stopped during start-up")
            await asyncio.sleep(0.01)
        else:
            raise TimeoutError(f"server on port {port} did not start within 5 s")
        yield RunningServer(f"http://127.0.0.1:{port}", port, server)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=15)
