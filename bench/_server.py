"""What the benchmarks share: a fresh database, a TrackMaster web process of their own,
and a live session on it."""

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
MARIADB = {
    "host": os.environ.get("BENCH_DB_HOST", "127.0.0.1"),
    "port": int(os.environ.get("BENCH_DB_PORT", "3306")),
    "user": os.environ.get("BENCH_DB_USER", "trackmaster"),
    "password": os.environ.get("BENCH_DB_PASSWORD", "trackmaster"),
}


async def mysql_admin(sql: str) -> None:
    import aiomysql

    conn = await aiomysql.connect(**MARIADB, autocommit=True)
    try:
        async with conn.cursor() as cursor:
            await cursor.execute(sql)
    finally:
        conn.close()


# What the database server did in a phase (SHOW GLOBAL STATUS): statements by kind, the
# commits (one per group of batches), fsyncs, and the rows the handlers wrote and looked up.
MARIADB_COUNTERS = (
    "Questions", "Com_begin", "Com_commit", "Com_rollback", "Com_insert", "Com_update",
    "Com_select", "Com_delete", "Innodb_log_writes", "Innodb_data_fsyncs",
    "Handler_write", "Handler_update", "Handler_read_key",
)  # fmt: skip


async def mysql_status() -> dict[str, int]:
    """The server's global counters of MARIADB_COUNTERS (server-wide: on a shared server
    they also count everyone else's statements)."""
    import aiomysql

    conn = await aiomysql.connect(**MARIADB, autocommit=True)
    try:
        async with conn.cursor() as cursor:
            names = ", ".join(f"'{name}'" for name in MARIADB_COUNTERS)
            await cursor.execute(f"SHOW GLOBAL STATUS WHERE Variable_name IN ({names})")
            got = {name: int(value) for name, value in await cursor.fetchall()}
            return {name: got.get(name, 0) for name in MARIADB_COUNTERS}
    finally:
        conn.close()


async def mysqld_pid() -> int | None:
    """The database server's pid, when it runs on this machine (its pid file is readable)."""
    import aiomysql

    conn = await aiomysql.connect(**MARIADB, autocommit=True)
    try:
        async with conn.cursor() as cursor:
            await cursor.execute("SELECT @@pid_file")
            (pid_file,) = await cursor.fetchone()
    finally:
        conn.close()
    return _running_pid(pid_file)


def _running_pid(pid_file: str) -> int | None:
    try:
        pid = int(Path(pid_file).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if Path(f"/proc/{pid}/stat").exists() else None


class MariadbMeter:
    """mysqld's CPU seconds and its counters over a phase: `start()`, then `stop()`."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self._cpu_s = 0.0
        self._status: dict[str, int] = {}

    async def start(self) -> None:
        self._status = await mysql_status()
        self._cpu_s = cpu_s(self.pid) if self.pid else 0.0

    async def stop(self) -> dict:
        cpu = cpu_s(self.pid) - self._cpu_s if self.pid else None
        after = await mysql_status()
        return {
            "mysqld_cpu_s": cpu,
            **{name: after[name] - self._status.get(name, 0) for name in after},
        }


def database_env(kind: str, workdir: Path, db_name: str) -> dict[str, str]:
    """The settings of a benchmark's own database: a SQLite file in `workdir`, or MariaDB."""
    env = {"SQLITE_PATH": str(workdir / "bench.sqlite3")}
    if kind == "mariadb":
        env.update(
            DB_HOST=MARIADB["host"],
            DB_PORT=str(MARIADB["port"]),
            DB_USER=MARIADB["user"],
            DB_PASSWORD=MARIADB["password"],
            DB_NAME=db_name,
        )
    return env


@contextlib.asynccontextmanager
async def fresh_database(kind: str, settings) -> AsyncIterator[None]:
    """Create (MariaDB) and migrate the benchmark's database; drop it (MariaDB) at the end."""
    from trackmaster import db as database

    if kind == "mariadb":
        name = settings.db_name
        await mysql_admin(f"DROP DATABASE IF EXISTS `{name}`")
        await mysql_admin(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    try:
        await database.migrate(settings)
        yield
    finally:
        if kind == "mariadb":
            await mysql_admin(f"DROP DATABASE IF EXISTS `{settings.db_name}`")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.asynccontextmanager
async def trackmaster_process(
    env: dict[str, str], port: int, serve: bool = False
) -> AsyncIterator[asyncio.subprocess.Process]:
    """uvicorn serving the app in a subprocess with `env`; yields once /ping answers.

    `serve`: run it as deployed, `trackmaster serve` (its HTTP protocol with the
    connection deadlines, the cap and the refusals at the headers, web/connections.py),
    not bare uvicorn with its default protocol.
    """
    if serve:
        command = ["-m", "trackmaster", "serve", "--host", "127.0.0.1", "--port", str(port)]
    else:
        command = [
            "-m", "uvicorn", "web.app:create_app", "--factory", "--host", "127.0.0.1",
            "--port", str(port), "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
    server = await asyncio.create_subprocess_exec(
        sys.executable, *command, cwd=ROOT, env={**os.environ, **env}
    )
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
        try:
            await asyncio.wait_for(server.wait(), timeout=30)
        except TimeoutError:
            # A server still draining a deep queue after 30 s: the figures are taken.
            print("bench: the server did not stop within 30 s of SIGTERM; killed", flush=True)
            server.kill()
            await server.wait()


async def start_session(url: str, project: int, accounts: list[str], events: list[int]) -> dict:
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        answer = await http.post(
            "/api/v3/realTime/start",
            json={"project": project, "accounts": accounts, "events": events},
        )
        answer.raise_for_status()
        return answer.json()


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
