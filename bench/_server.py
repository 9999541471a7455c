"""What the benchmarks share: a TrackMaster web process of their own, and a live session on it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.asynccontextmanager
async def trackmaster_process(
    env: dict[str, str], port: int
) -> AsyncIterator[asyncio.subprocess.Process]:
    """uvicorn serving the app in a subprocess with `env`; yields once /ping answers."""
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uvicorn", "web.app:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
        cwd=ROOT, env={**os.environ, **env},
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            deadline = asyncio.get_running_loop().time() + START_TIMEOUT_S
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/ping")).status_code == 200:
                        break
                if server.returncode is not None or asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(f"TrackMaster did not start on port {port}")
                await asyncio.sleep(0.05)
        yield server
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), timeout=30)


async def start_session(url: str, project: int, accounts: list[str], events: list[int]) -> dict:
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        answer = await http.post(
            "/api/v3/realTime/start",
            json={"project": project, "accounts": accounts, "events": events},
        )
        answer.raise_for_status()
        return answer.json()
