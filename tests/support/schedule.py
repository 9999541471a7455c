"""Helpers of the scheduled-sync tests: projects with schedules, a webhook that records,
the Procfile processes as real subprocesses, and deadlines instead of sleeps."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.servers import serve
from trackmaster.models import Project, Schedule, SyncRun
from trackmaster.settings import Settings

ROOT = Path(__file__).resolve().parent.parent.parent
# What a shell has with no venv activated.
BARE_PATH = "/usr/bin:/bin"
T = TypeVar("T")


async def make_project(
    name: str = "video",
    *,
    enabled: bool = True,
    interval_s: int = 3600,
    last_run_at: datetime | None = None,
    jet_id: str | None = None,
) -> Project:
    project = await Project.create(name=name, jet_id=jet_id)
    await Schedule.create(
        project=project, enabled=enabled, interval_s=interval_s, last_run_at=last_run_at
    )
    return project


async def schedule_of(project_id: int) -> Schedule:
    return await Schedule.get(project_id=project_id)


async def scheduled_runs(project_id: int) -> list[SyncRun]:
    return await SyncRun.filter(project_id=project_id, trigger="schedule").order_by("id")


async def eventually(
    check: Callable[[], Awaitable[T]], *, timeout_s: float = 20, every_s: float = 0.1, what: str
) -> T:
    """Poll `check` until it returns something truthy; fail with `what` after the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:g} s: {what} (last: {value!r})")
        await asyncio.sleep(every_s)


@dataclass
class WebhookRecorder:
    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)

    @property
    def app(self) -> Starlette:
        async def hook(request: Request) -> JSONResponse:
            self.received.append(await request.json())
            return JSONResponse({"ok": True})

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


@contextlib.asynccontextmanager
async def webhook() -> AsyncIterator[WebhookRecorder]:
    """A generic webhook receiver (the notifier's NOTIFY_WEBHOOK_URL) on a loopback port."""
    recorder = WebhookRecorder()
    async with serve(recorder.app, lifespan="off") as server:
        recorder.url = f"{server.url}/hook"
        yield recorder


# --- the Procfile processes as processes -----------------------------------------------


def process_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a worker process: the test's database, plus `extra` settings.

    PATH is the bare system one and no venv is active: what a process needs it must get
    by path (the venv's executables), as on a fresh machine or in CI.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("TM_")}
    env.pop("VIRTUAL_ENV", None)
    env.update(
        {
            "PATH": BARE_PATH,
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "INFO",
            "SQLITE_PATH": settings.sqlite_path,
            "DB_HOST": settings.db_host,
            "DB_PORT": str(settings.db_port),
            "DB_NAME": settings.db_name,
            "DB_USER": settings.db_user,
            "DB_PASSWORD": settings.db_password,
        }
    )
    env.update(extra)
    return env


class Proc:
    """A subprocess whose output is collected, so a test can wait for a log line."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, log_file: Path) -> None:
        self.log_file = log_file
        self._out = log_file.open("wb")
        self.popen = subprocess.Popen(
            args, env=env, cwd=cwd, stdout=self._out, stderr=subprocess.STDOUT
        )

    @property
    def output(self) -> str:
        return self.log_file.read_text(errors="replace")

    async def wait_for_line(self, text: str, timeout_s: float = 30, *, count: int = 1) -> str:
        async def seen() -> bool:
            if self.popen.poll() is not None and self.output.count(text) < count:
                raise AssertionError(
                    f"process exited ({self.popen.returncode}) before {text!r}:\n{self.output}"
                )
            return self.output.count(text) >= count

        try:
            await eventually(seen, timeout_s=timeout_s, what=f"{text!r} in the log")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- output ---\n{self.output}") from None
        return self.output

    def signal(self, sig: int) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    async def wait_exit(self, timeout_s: float = 20) -> int:
        deadline = time.monotonic() + timeout_s
        while self.popen.poll() is None:
            if time.monotonic() > deadline:
                self.popen.kill()
                raise AssertionError(f"process did not exit within {timeout_s:g} s:\n{self.output}")
            await asyncio.sleep(0.05)
        return self.popen.returncode

    async def stop(self) -> int:
        self.signal(signal.SIGTERM)
        try:
            return await self.wait_exit()
        finally:
            self._out.close()

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()
        self._out.close()


def start_module(module: str, env: dict[str, str], log_file: Path, *args: str) -> Proc:
    return Proc([sys.executable, "-m", module, *args], env, ROOT, log_file)


def run_module(module: str, env: dict[str, str], *args: str, timeout_s: float = 30):
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
