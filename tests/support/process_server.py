"""A real `trackmaster serve` process on a loopback port, and what to measure it by.

Attack tests must see what an attacker would: uvicorn's own HTTP handling,
the real process's memory (RSS from /proc) and its CPU seconds, and event-loop
stalls as the latency of `/ping` from another client. The server's database
is a SQLite file of its own, seeded through the CLI as an operator would.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.access import PASSWORD, run_cli
from tests.support.servers import free_port

REPO = Path(__file__).resolve().parent.parent.parent
_VENV_TRACKMASTER = REPO / ".venv" / "bin" / "trackmaster"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _command() -> list[str]:
    # The venv's console script by path, never a `trackmaster` found on PATH.
    if _VENV_TRACKMASTER.exists():
        return [str(_VENV_TRACKMASTER)]
    import sys

    return [sys.executable, "-m", "trackmaster"]


@dataclass
class ServerProcess:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    database: Path
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_mib(self) -> float:
        status = Path(f"/proc/{self.pid}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        assert match, "no VmRSS in /proc status"
        return int(match.group(1)) / 1024

    def cpu_s(self) -> float:
        """User + system CPU seconds the server has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS

    def cli(self, *args: str, stdin: str = "") -> str:
        done = run_cli(self.env, *args, stdin=stdin, cwd=str(REPO))
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    def sql(self, query: str, *params: object) -> list[tuple]:
        with sqlite3.connect(self.database) as connection:
            return connection.execute(query, params).fetchall()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def server_env(database: Path, **settings: str) -> dict[str, str]:
    """The environment of a server and its CLI: its own SQLite, no shared services."""
    inherited = {
        k: v for k, v in os.environ.items() if not k.startswith(("DB_", "REDIS", "BROKER"))
    }
    return {
        **inherited,
        "SQLITE_PATH": str(database),
        "JET_URL": "",
        "LOG_LEVEL": "WARNING",
        **settings,
    }


@contextlib.contextmanager
def server_process(
    tmp: Path,
    *,
    admin: str | None = "ada",
    demo: bool = False,
    prelude: str = "",
    **settings: str,
) -> Iterator[ServerProcess]:
    """Migrate, seed (an admin unless `admin=None`, the demo plan with `demo`), serve, stop.

    `prelude`: Python run in the server process before `trackmaster serve` starts (a test
    that needs a route the app does not have, say).
    """
    database = tmp / "server.sqlite3"
    env = server_env(database, **settings)
    for args, stdin in [(("migrate",), "")] + ([(("demo",), "")] if demo else []):
        done = run_cli(env, *args, stdin=stdin, cwd=str(REPO))
        assert done.returncode == 0, done.stderr
    if admin:
        done = run_cli(
            env, "create-user", admin, "--role", "admin", "--password-stdin", stdin=PASSWORD,
            cwd=str(REPO),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    port = free_port()
    log_path = tmp / f"server-{port}.log"
    with log_path.open("wb") as log_file:
        serve = ["serve", "--host", "127.0.0.1", "--port", str(port)]
        command = [*_command(), *serve]
        if prelude:
            import sys

            start = f"{prelude}\nimport sys\nfrom trackmaster.cli import main\n"
            start += f"sys.exit(main({serve!r}))"
            command = [sys.executable, "-c", start]
        process = subprocess.Popen(
            command,
            env=env,
            cwd=REPO,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = ServerProcess(f"http://127.0.0.1:{port}", port, process, env, database, log_path)
    try:
        for _ in range(300):
            try:
                if httpx.get(server.url + "/ping", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None:
                raise AssertionError(f"the server died at start: {server.log()[-3000:]}")
            time.sleep(0.1)
        else:
            raise AssertionError("the server did not answer /ping within 30 s")
        yield server
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes], grace_s: float = 20) -> None:
    """SIGTERM, and SIGKILL if it has not exited within `grace_s`."""
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class PingProbe:
    """Samples /ping latency from its own thread and connection while an attack runs."""

    url: str
    interval_s: float = 0.05
    max_samples: int = 2000
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> PingProbe:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=40)

    def _run(self) -> None:
        with httpx.Client(timeout=30) as http:
            while not self._stop.is_set() and len(self.latencies_ms) < self.max_samples:
                started = time.perf_counter()
                try:
                    http.get(self.url + "/ping")
                except httpx.HTTPError:
                    self.errors += 1
                self.latencies_ms.append((time.perf_counter() - started) * 1000)
                self._stop.wait(self.interval_s)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else 0.0

    @property
    def max_ms(self) -> float:
        return max(self.latencies_ms, default=0.0)


def machine_load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def ping_baseline(url: str, samples: int = 20) -> float:
    """Median /ping latency of an idle server, in ms."""
    latencies = []
    with httpx.Client(timeout=10) as http:
        for _ in range(samples):
            started = time.perf_counter()
            http.get(url + "/ping")
            latencies.append((time.perf_counter() - started) * 1000)
    return statistics.median(latencies)
