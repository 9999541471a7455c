"""What the Procfile worker processes (producer, consumer) share: start-up, signals,
their Runtime and heartbeat (`opened`), and a backoff for a broker that is away."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

from trackmaster.db import SchemaOutOfDate
from trackmaster.reachability import Away, Unreachable
from trackmaster.runtime import Runtime
from trackmaster.schedule.heartbeat import Heartbeat, check_main
from trackmaster.settings import Settings, SettingsError, load_settings

log = logging.getLogger(__name__)


class Backoff:
    """1, 2, 4 ... seconds up to `max_s`; `reset()` after a success."""

    def __init__(self, first_s: float = 1.0, max_s: float = 30.0) -> None:
        self.first_s, self.max_s = first_s, max_s
        self._next_s = first_s

    def next(self) -> float:
        delay_s = self._next_s
        self._next_s = min(self._next_s * 2, self.max_s)
        return delay_s

    def reset(self) -> None:
        self._next_s = self.first_s


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Wait `seconds` unless `stop` is set first; True when stopping."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    return stop.is_set()


def install_stop_signals(stop: asyncio.Event, name: str) -> None:
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        log.info("%s: %s received, stopping", name, signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)


# How often a worker that started with its database away tries again.
DATABASE_RETRY_S = 1.0


class StoppedWhileWaiting(Exception):
    """SIGTERM came while the process was still waiting for its database: a clean stop."""


async def _open_runtime(name: str, settings: Settings, stop: asyncio.Event | None) -> Runtime:
    """The Runtime, once the database answers. A database that is away (not refusing our
    settings) is an outage to wait through, said once, as the web starts through one
    (issue 14); without `stop` (a one-shot run) it is an error like any other."""
    said = False
    while True:
        try:
            return await Runtime.open(settings, role=name, live=False)
        except Away as away:
            if stop is None:
                raise
            if not said:
                said = True
                log.warning("%s Waiting for it (trying every %g s).", away, DATABASE_RETRY_S)
        if await sleep_or_stop(stop, DATABASE_RETRY_S):
            raise StoppedWhileWaiting


@contextlib.asynccontextmanager
async def opened(
    name: str, settings: Settings, stop: asyncio.Event | None = None
) -> AsyncIterator[tuple[Runtime, Heartbeat]]:
    """The process's Runtime (as the web process opens it: database, its one Redis
    client, locks, bus, notifier) and its heartbeat on that client, beating until the
    block ends; then the heartbeat is stopped and cleared, and the Runtime closed.
    With `stop`, a database away at the start is waited for (no heartbeat meanwhile:
    `--check` says the process is not working) until it answers or `stop` is set."""
    runtime = await _open_runtime(name, settings, stop)
    try:
        heartbeat = Heartbeat(name, settings, runtime.redis)
        task = asyncio.create_task(heartbeat.run())
        try:
            yield runtime, heartbeat
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await heartbeat.close()
    finally:
        await runtime.close()
        log.info("%s stopped", name)


def main(
    name: str,
    description: str,
    run: Callable[[Settings, argparse.Namespace, asyncio.Event], Awaitable[int]],
    argv: list[str] | None = None,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    """Parse arguments, read settings, then `--check` or run until SIGTERM."""
    parser = argparse.ArgumentParser(prog=f"python -m workers.{name}", description=description)
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 0 when a running process on this host has a fresh, healthy heartbeat",
    )
    if add_arguments:
        add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    if args.check:
        return check_main(name, settings)
    logging.basicConfig(
        level=settings.log_level,
        format=f"%(asctime)s %(levelname)s {name}: %(message)s",
    )
    # aiokafka logs every failed reconnect at ERROR with a traceback; our own line says it.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    # One line per message: not one per HTTP request of a sync.
    logging.getLogger("httpx").setLevel(logging.WARNING)

    async def run_until_stopped() -> int:
        stop = asyncio.Event()
        install_stop_signals(stop, name)
        return await run(settings, args, stop)

    try:
        return asyncio.run(run_until_stopped())
    except StoppedWhileWaiting:
        log.info("%s stopped before its database answered", name)
        return 0
    except (Unreachable, SchemaOutOfDate) as exc:
        # A configuration the user can fix: one line that says how, no traceback.
        log.error("%s", exc)
        return 2
