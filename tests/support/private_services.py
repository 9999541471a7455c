"""Private Redis and MariaDB servers for fault tests: started, killed, frozen, restarted.

The shared services of scripts/services (3306, 6379, 9092) serve every test
run on this machine and are never touched here. These run the same binaries
on free ports with their data in a temporary directory, and are killed by pid
(the Popen handle of the process this module started), never by name.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.servers import free_port

DB_USER, DB_PASSWORD = "trackmaster", "trackmaster"


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def wait_for(check, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout_s:g} s")
        await asyncio.sleep(0.05)


class _Process:
    """One server process of ours: start, SIGKILL, SIGSTOP/SIGCONT, by its own pid."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    async def ready(self) -> None:
        await wait_for(lambda: port_open(self.port), 60, f"port {self.port} did not open")

    def _spawn(self) -> None:
        with (self.dir / "server.out").open("ab") as out:
            self.process = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT)

    async def start(self) -> None:
        self._spawn()
        await self.ready()

    def kill(self) -> None:
        """SIGKILL: the server is gone at once, its connections reset."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=30)

    def freeze(self) -> None:
        """SIGSTOP: the port still accepts connections but nothing answers (a hung server)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedis(_Process):
    def __init__(self) -> None:
        super().__init__(Path(tempfile.mkdtemp(prefix="tm-redis-")))
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            shutil.which("redis-server") or "/usr/bin/redis-server",
            "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
            "--dir", str(self.dir), "--daemonize", "no", "--loglevel", "warning",
        ]  # fmt: skip


class PrivateMariaDB(_Process):
    """A MariaDB with its own data directory; `install()` once, then start/kill at will."""

    def __init__(self) -> None:
        # Short path: unix socket paths are limited to 108 bytes.
        super().__init__(Path(tempfile.mkdtemp(prefix="tmdb-", dir="/tmp")))
        self.socket = self.dir / "s.sock"

    def _user_opt(self) -> list[str]:
        return ["--user=root"] if os.geteuid() == 0 else []

    async def install(self) -> None:
        command = [
            shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db",
            "--no-defaults", *self._user_opt(), f"--datadir={self.dir / 'data'}",
            "--auth-root-authentication-method=socket", "--skip-test-db", "--skip-name-resolve",
        ]  # fmt: skip
        process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        output, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed: {output.decode()[-2000:]}")
        await self.start()
        sql = (
            f"CREATE USER IF NOT EXISTS '{DB_USER}'@'%' IDENTIFIED BY '{DB_PASSWORD}';"
            f"GRANT ALL PRIVILEGES ON *.* TO '{DB_USER}'@'%';"
        )
        client = await asyncio.create_subprocess_exec(
            shutil.which("mariadb") or "/usr/bin/mariadb", "--no-defaults",
            f"--socket={self.socket}", "-u", "root", "-e", sql,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await client.communicate()
        if client.returncode != 0:
            raise RuntimeError(f"creating the MariaDB user failed: {output.decode()}")

    def command(self) -> list[str]:
        return [
            shutil.which("mariadbd") or "/usr/sbin/mariadbd", "--no-defaults", *self._user_opt(),
            f"--datadir={self.dir / 'data'}", f"--socket={self.socket}",
            f"--pid-file={self.dir / 'm.pid'}", "--bind-address=127.0.0.1",
            f"--port={self.port}", "--skip-name-resolve", f"--log-error={self.dir / 'err.log'}",
            "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M",
            "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
            "--skip-log-bin", "--innodb-flush-log-at-trx-commit=2",
        ]  # fmt: skip

    def log_tail(self) -> str:
        path = self.dir / "err.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""
