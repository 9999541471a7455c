"""Ingest benchmark: events of 10 fields posted in batches of 100 to one web process.

    python bench/bench_ingest.py                 # SQLite, then MariaDB
    python bench/bench_ingest.py --db sqlite --seconds 20

For each database it starts TrackMaster (uvicorn, in a subprocess, on a
fresh database it creates), makes a project whose event has 10 fields and a
live session, then:

1. throughput: CONCURRENCY clients post batches of 100 events as fast as the
   server answers, for --seconds; events/s = rows counted in event_log / time.
2. latency at --rate events/s (default 500: five batches of 100 a second):
   the time from sending a batch to its 2xx. The endpoint answers only after
   the batch's transaction committed, so this bounds arrival -> verdicts
   committed from above (it includes the client's own HTTP time).

Every event has a unique messageId (as SDKs send), so de-duplication runs.
`--unplanned N` adds N properties the plan does not list to every event (the first a
near miss, `page.nmae` beside `page.name`), so unplanned-property detection reports
them; the run then also prints that detection's own CPU time per 1,000 events, measured
in this process on the same events (trackmaster/checks/unplanned.py, when the code has it).

    python bench/bench_ingest.py --db mariadb --overload 600

3. overload (with --overload N): first the unloaded throughput (--concurrency
   senders), then N senders at once for --seconds, each on its own keep-alive
   connection with a 10 s timeout (an SDK's), sending again after the delay its
   429 or 503 asked for (Retry-After; `--retry-cap S` waits at most S, as this
   bench did before with 1 s), never past the end of the phase, and opening a
   new connection after 4 s idle (uvicorn closes them at 5 s). Useful
   throughput = events acknowledged (2xx) per second; events stored for
   requests whose sender had given up are counted apart. Every refusal's
   answer time is reported: shedding must answer 429 within 1 s, not queue.
   Also printed: CPU seconds of the server and of this process (the senders),
   what the server's event loop lost being late (/healthz), and `--trace
   FILE` writes every answer's (sent at, took, status, of which connecting).
   A refusal's time runs from the start of its send, connecting included (a
   client waits for that too); its p99 from the request written is printed
   beside it, to tell the server's time from the accept queue's and the
   senders' own loops'. `--sender-procs K`
   splits the senders over K processes started together (their CPU is summed),
   so that one process's event loop is not what the refusals' times measure.
   The overload run's server is `trackmaster serve`, as deployed (its HTTP protocol
   refuses at the request's head, web/connections.py); `--bare-uvicorn` runs bare
   uvicorn as this bench did before; `--workers` sets its WORKERS.

On MariaDB it also prints, per phase, what the database server did: mysqld's own CPU
seconds per 1,000 events (from /proc, when the server runs on this machine; the
benchmark's database on another server, `BENCH_DB_PORT`, keeps others' work out of it)
and, from SHOW GLOBAL STATUS deltas (server-wide), the commits (one per group of
batches), the statements per commit by kind, fsyncs, and rows written per event.

`--protocol NAME` (or `all`) measures the throughput of each ingest protocol
instead (bench/_protocols.py builds the same events in each wire shape), on
one server: every protocol's phase runs right after a phase of the Segment
path, and the ratio to that adjacent Segment phase is printed beside the
figures, with both phases' CPU seconds and the load average, because the
machine is shared and the absolute figures move with whatever else runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._protocols import PROTOCOLS, shape  # noqa: E402
from bench._server import (  # noqa: E402
    MariadbMeter,
    cpu_s,
    database_env,
    free_port,
    fresh_database,
    mysqld_pid,
    start_session,
    trackmaster_process,
)
from trackmaster.db import Database  # noqa: E402
from trackmaster.settings import load_settings, setting  # noqa: E402

BATCH = 100
FIELDS = [
    ("page.name", ["home", "player", "search", "profile"]),
    ("page.id", []),
    ("content.type", ["EPISODE", "MOVIE", "CLIP"]),
    ("content.id", []),
    ("player.quality", ["hd", "sd", "auto"]),
    ("player.mode", ["full"]),
    ("app.version", []),
    ("user.tier", ["free", "vip"]),
    ("ab.bucket", ["a", "b"]),
    ("ref.source", ["push", "feed", "search"]),
]


def env_for(kind: str, workdir: Path, port: int, db_name: str) -> dict[str, str]:
    env = database_env(kind, workdir, db_name) | {
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": "bench",
        # The per-key rate limit protects a real deployment; here it would measure itself.
        "INGEST_RATE_PER_S": "1000000",
        "INGEST_BURST": "10000000",
    }
    return env


# Typed rules of the 4 fields without fixed values (issue 13), when the code has them:
# they turn those fields from UNCERTAIN into SUCCESS/FAIL and cost a regex or a
# comparison per field and event.
RULES = {
    "page.id": {"type": "string", "pattern": "id-[0-9]+-[0-9]+"},
    "content.id": {"type": "string", "min_length": 3, "max_length": 40},
    "app.version": {"type": "string", "pattern": "version-[0-9]+-[0-9]+"},
    "player.mode": {"type": "string"},
}


def proc_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def seed(settings, rules: bool) -> dict:
    """A project, one story, one event with 10 fields, one account; returns ids and key."""
    from trackmaster.models import Account, Event, Field, Project, Story

    opened = await Database.open(settings)
    try:
        project = await Project.create(name="bench")
        story = await Story.create(project=project, name="bench story")
        event = await Event.create(story=story, name="play_click")
        typed = rules and "rules" in Field._meta.fields_map
        for key, values in FIELDS:
            extra = {"rules": RULES[key]} if typed and key in RULES else {}
            await Field.create(event=event, key=key, values=values, raw_values=values, **extra)
        await Account.create(project=project, user_id="bench-user", description="bench")
        return {"project": project.id, "event": event.id, "key": project.write_key}
    finally:
        await opened.close()


async def count_logs(settings) -> int:
    from trackmaster.models import EventLog

    opened = await Database.open(settings)
    try:
        return await EventLog.all().count()
    finally:
        await opened.close()


def batch_template() -> str:
    """One request body of BATCH events; MSGPFX is replaced per request for unique ids."""
    return json.dumps(batch_events())


# Properties per event that the plan does not list (--unplanned).
UNPLANNED = {"n": 0}


def batch_events() -> list[dict]:
    events = []
    for n in range(BATCH):
        properties: dict = {}
        for i, (key, values) in enumerate(FIELDS):
            group, leaf = key.split(".")
            value = values[(n + i) % len(values)] if values else f"{leaf}-{n}-{i}"
            properties.setdefault(group, {})[leaf] = value
        for u in range(UNPLANNED["n"]):
            if u == 0:
                properties["page"]["nmae"] = "home"  # a near miss of page.name
            else:
                properties[f"extra_{u}"] = f"x-{n}"
        events.append(
            {
                "event": "play_click",
                "userId": "bench-user",
                "platform": ("iOS", "Android", "web")[n % 3],
                "messageId": f"MSGPFX-{n}",
                "timestamp": "2026-01-01T00:00:00Z",
                "properties": properties,
            }
        )
    return events


async def throughput(url: str, key: str, seconds: float, concurrency: int) -> dict:
    template = batch_template()
    sent = 0
    refused = 0
    counter = iter(range(10**9))
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal sent, refused
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            while time.perf_counter() < deadline:
                body = template.replace("MSGPFX", f"t{next(counter)}")
                answer = await http.post(
                    "/collect", content=body, headers={"X-Write-Key": key,
                                                       "Content-Type": "application/json"}
                )  # fmt: skip
                if answer.status_code == 200:
                    sent += BATCH
                elif answer.status_code == 429:
                    refused += 1
                    await asyncio.sleep(0.05)
                else:
                    raise RuntimeError(f"{answer.status_code}: {answer.text[:300]}")

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {"accepted_events": sent, "elapsed_s": elapsed, "refused_429": refused}


async def protocol_throughput(url: str, key: str, protocol: str, seconds: float,
                              concurrency: int) -> dict:  # fmt: skip
    """Like throughput(), in one protocol's wire shape (bench/_protocols.py)."""
    wire = shape(protocol, batch_events(), key)
    counter = iter(range(10**9))
    phase = time.monotonic_ns()  # message ids unique across phases: no duplicates skipped
    deadline = time.perf_counter() + seconds
    refused = 0

    async def client() -> None:
        nonlocal refused
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            while time.perf_counter() < deadline:
                body = wire.body.replace("MSGPFX", f"{protocol}{phase}-{next(counter)}")
                answer = await http.post(wire.path, content=body, headers=wire.headers)
                if answer.status_code == 429:
                    refused += 1
                    await asyncio.sleep(0.05)
                elif answer.status_code >= 300:
                    raise RuntimeError(f"{protocol} {answer.status_code}: {answer.text[:300]}")

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return {"elapsed_s": time.perf_counter() - started, "refused_429": refused,
            "batch": wire.events}  # fmt: skip


async def run_protocols(kind: str, protocols: list[str], seconds: float, concurrency: int,
                        workers: int) -> list[dict]:  # fmt: skip
    workdir = Path(tempfile.mkdtemp(prefix=f"tm-bench-{kind}-"))
    port = free_port()
    env = env_for(kind, workdir, port, f"tm_bench_{os.getpid()}")
    env["WORKERS"] = str(workers)
    settings = load_settings(env, env_file=None)
    results = []
    async with fresh_database(kind, settings):
        ids = await seed(settings, True)
        url = f"http://127.0.0.1:{port}"
        async with trackmaster_process(env, port) as server:
            await start_session(url, ids["project"], ["bench-user"], [ids["event"]])
            await protocol_throughput(url, ids["key"], "segment", 2, concurrency)  # warm-up
            for protocol in protocols:
                pair = {}
                for name in ("segment", protocol):
                    load = os.getloadavg()[0]
                    before, cpu = await count_logs(settings), proc_cpu_s(server.pid)
                    phase = await protocol_throughput(url, ids["key"], name, seconds, concurrency)
                    phase["server_cpu_s"] = proc_cpu_s(server.pid) - cpu
                    phase["stored_events"] = await count_logs(settings) - before
                    phase["events_per_s"] = phase["stored_events"] / phase["elapsed_s"]
                    phase["load"] = load
                    pair[name] = phase
                results.append({"protocol": protocol, **pair[protocol],
                                "segment": pair["segment"]})  # fmt: skip
    return results


async def latency(url: str, key: str, rate: float, seconds: float) -> dict:
    template = batch_template()
    interval = BATCH / rate
    samples: list[float] = []
    refused = 0
    tasks = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        await http.get("/ping")  # the connection pool is warm before the clock starts
        # One batch before the clock: the first event of a session loads its plan and
        # coverage into the live index, a one-time cost that is not the steady state.
        warm = await http.post(
            "/collect", content=template.replace("MSGPFX", "warm"),
            headers={"X-Write-Key": key, "Content-Type": "application/json"},
        )  # fmt: skip
        warm.raise_for_status()

        async def one(n: int) -> None:
            nonlocal refused
            body = template.replace("MSGPFX", f"l{n}")
            started = time.perf_counter()
            # A 429 (the pool's latency budget) is retried as an SDK would, at most 20 times;
            # the sample is the time until the batch was stored, retries included.
            for _ in range(20):
                answer = await http.post(
                    "/collect", content=body,
                    headers={"X-Write-Key": key, "Content-Type": "application/json"},
                )  # fmt: skip
                if answer.status_code != 429:
                    break
                refused += 1
                await asyncio.sleep(min(1.0, float(answer.headers.get("Retry-After", "1"))))
            if answer.status_code != 200:
                raise RuntimeError(f"{answer.status_code}: {answer.text[:300]}")
            samples.append((time.perf_counter() - started) * 1000)

        start = time.perf_counter()
        n = 0
        while time.perf_counter() - start < seconds:
            tasks.append(asyncio.create_task(one(n)))
            n += 1
            await asyncio.sleep(max(0.0, start + n * interval - time.perf_counter()))
        await asyncio.gather(*tasks)
    samples.sort()
    return {
        "batches": len(samples),
        "p50_ms": statistics.median(samples),
        "p95_ms": samples[min(len(samples) - 1, int(len(samples) * 0.95))],
        "p99_ms": samples[min(len(samples) - 1, int(len(samples) * 0.99))],
        "max_ms": samples[-1],
        "refused_429": refused,
    }


async def run_one(
    kind: str,
    seconds: float,
    concurrency: int,
    rate: float,
    workers: int,
    latency_s: float,
    rules: bool = True,
) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix=f"tm-bench-{kind}-"))
    port = free_port()
    db_name = f"tm_bench_{os.getpid()}"
    env = env_for(kind, workdir, port, db_name)
    env["WORKERS"] = str(workers)
    settings = load_settings(env, env_file=None)
    async with fresh_database(kind, settings):
        ids = await seed(settings, rules)
        url = f"http://127.0.0.1:{port}"
        async with trackmaster_process(env, port) as server:
            await start_session(url, ids["project"], ["bench-user"], [ids["event"]])
            meter = MariadbMeter(await mysqld_pid()) if kind == "mariadb" else None
            return await measure(
                url, ids["key"], settings, seconds, concurrency, rate, latency_s, server.pid,
                meter,
            )  # fmt: skip


async def measure(
    url: str, key: str, settings, seconds: float, concurrency: int, rate: float, latency_s: float,
    server_pid: int, meter: MariadbMeter | None = None,
) -> dict:  # fmt: skip
    # Latency first, on a quiet server: after the throughput phase the
    # database is still writing back what it took in, which is another test.
    load_before = os.getloadavg()[0]
    if meter is not None:
        await meter.start()
    result: dict = {"latency": await latency(url, key, rate, latency_s)}
    if meter is not None:
        result["latency"]["mariadb"] = await meter.stop()
    before = await count_logs(settings)
    if meter is not None:
        await meter.start()
    server_cpu, client_cpu = proc_cpu_s(server_pid), self_cpu_s()
    result |= await throughput(url, key, seconds, concurrency)
    result["server_cpu_s"] = proc_cpu_s(server_pid) - server_cpu
    result["client_cpu_s"] = self_cpu_s() - client_cpu
    if meter is not None:
        result["mariadb"] = await meter.stop()
    stored = await count_logs(settings) - before
    result["stored_events"] = stored
    result["events_per_s"] = stored / result["elapsed_s"]
    # Server CPU per 1,000 stored events: what the code costs, whatever else runs.
    result["server_cpu_ms_per_1000"] = 1000 * 1000 * result["server_cpu_s"] / max(stored, 1)
    result["load"] = (load_before, os.getloadavg()[0])
    return result


IDLE_EXPIRY_S = 4.0


class RawSender:
    """One keep-alive HTTP/1.1 connection, cheap enough that 600 run in one process."""

    def __init__(self, host: str, port: int, key: str) -> None:
        self.host, self.port, self.key = host, port, key
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.used_at = 0.0
        self.connect_s = 0.0  # how long the last post waited for its connection to open

    async def post(self, body: bytes) -> tuple[int, float]:
        # As HTTP clients' pools do (httpx: keepalive_expiry 5 s): a connection idle for
        # longer than the server keeps one (uvicorn: 5 s) is not reused.
        if self.writer is not None and time.perf_counter() - self.used_at > IDLE_EXPIRY_S:
            self.close()
        self.connect_s = 0.0
        if self.writer is None:
            opened = time.perf_counter()
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            self.connect_s = time.perf_counter() - opened
        head = (
            f"POST /collect HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"X-Write-Key: {self.key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        assert self.reader is not None
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("closed")
        status = int(status_line.split()[1])
        length, retry_after = 0, 0.0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "retry-after":
                retry_after = float(value)
        await self.reader.readexactly(length)
        self.used_at = time.perf_counter()
        return status, retry_after

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def senders_run(
    url: str, key: str, seconds: float, senders: int, retry_cap_s: float | None, tag: str = ""
) -> dict:
    """`senders` senders in this process for `seconds`: what they saw, raw."""
    template = batch_template()
    host, port = url.removeprefix("http://").split(":")
    counter = iter(range(10**9))
    acked = 0
    statuses: dict[int, int] = {}
    timeouts = 0
    # (sent at, seconds to the answer, status, of which seconds opening the connection)
    trace: list[tuple[float, float, int, float]] = []
    deadline = time.perf_counter() + seconds
    t0 = time.perf_counter()

    async def sender() -> None:
        nonlocal acked, timeouts
        conn = RawSender(host, int(port), key)
        try:
            while time.perf_counter() < deadline:
                body = template.replace("MSGPFX", f"o{tag}{next(counter)}").encode()
                started = time.perf_counter()
                try:
                    status, retry_after = await asyncio.wait_for(conn.post(body), timeout=10)
                except (TimeoutError, ConnectionError, OSError):
                    timeouts += 1  # the SDK gives up and reconnects
                    conn.close()
                    continue
                took_s = time.perf_counter() - started
                trace.append((started - t0, took_s, status, conn.connect_s))
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    acked += BATCH
                elif status in (429, 503):
                    # Retry-After as asked (capped at --retry-cap when given), never past
                    # the end of the phase.
                    wait_s = retry_after or 1.0
                    if retry_cap_s is not None:
                        wait_s = min(wait_s, retry_cap_s)
                    await asyncio.sleep(max(0.0, min(wait_s, deadline - time.perf_counter())))
                else:
                    raise RuntimeError(f"answer {status}")
        finally:
            conn.close()

    await asyncio.gather(*(sender() for _ in range(senders)))
    return {"elapsed_s": time.perf_counter() - t0, "acked_events": acked,
            "statuses": statuses, "client_timeouts": timeouts, "trace": trace}  # fmt: skip


def _sender_process(job: tuple) -> dict:
    """One sender process of --sender-procs: starts at the shared wall-clock moment."""
    url, key, seconds, senders, retry_cap_s, tag, start_at = job
    time.sleep(max(0.0, start_at - time.time()))
    cpu_s = self_cpu_s()  # the phase's own CPU, not this process's start
    got = asyncio.run(senders_run(url, key, seconds, senders, retry_cap_s, tag))
    got["cpu_s"] = self_cpu_s() - cpu_s
    got["late_s"] = max(0.0, time.time() - start_at - got["elapsed_s"])
    return got


async def overload(
    url: str, key: str, seconds: float, senders: int, retry_cap_s: float | None = None,
    procs: int = 1,
) -> dict:  # fmt: skip
    """N senders at once (in `procs` processes), summed: useful throughput and refusals."""
    if procs <= 1:
        parts = [await senders_run(url, key, seconds, senders, retry_cap_s)]
        sender_cpu_s = None  # this process's own CPU: the caller measures it
    else:
        import concurrent.futures
        import multiprocessing

        start_at = time.time() + 6.0  # every process started and waiting by then
        shares = [senders // procs + (1 if n < senders % procs else 0) for n in range(procs)]
        jobs = [(url, key, seconds, share, retry_cap_s, f"p{n}-", start_at)
                for n, share in enumerate(shares)]  # fmt: skip
        spawn = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(procs, mp_context=spawn) as executor:
            loop = asyncio.get_running_loop()
            parts = await asyncio.gather(
                *(loop.run_in_executor(executor, _sender_process, job) for job in jobs)
            )
        sender_cpu_s = sum(part["cpu_s"] for part in parts)
    elapsed = max(part["elapsed_s"] for part in parts)
    acked = sum(part["acked_events"] for part in parts)
    statuses: dict[int, int] = {}
    for part in parts:
        for status, n in part["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    trace = [answer for part in parts for answer in part["trace"]]
    refused_s = sorted(took for _, took, status, _ in trace if status in (429, 503))
    # The same, from the moment the request was written (its connection open): what the
    # server took, less the time its accept queue and the client's own loop added.
    written_s = sorted(took - connect for _, took, status, connect in trace
                       if status in (429, 503))  # fmt: skip
    pick = lambda q: refused_s[min(len(refused_s) - 1, int(len(refused_s) * q))] * 1000  # noqa: E731
    return {
        "senders": senders,
        "sender_procs": procs,
        "sender_cpu_s": sender_cpu_s,
        # How late the last sender process began after the shared start (0 in one process).
        "sender_start_late_s": max(part.get("late_s", 0.0) for part in parts),
        "elapsed_s": elapsed,
        "acked_events": acked,
        "useful_events_per_s": acked / elapsed,
        "statuses": statuses,
        "client_timeouts": sum(part["client_timeouts"] for part in parts),
        "refused": len(refused_s),
        "refused_p50_ms": pick(0.5) if refused_s else None,
        "refused_p99_ms": pick(0.99) if refused_s else None,
        "refused_max_ms": refused_s[-1] * 1000 if refused_s else None,
        "refused_over_1s": sum(1 for s in refused_s if s > 1.0),
        "refused_written_p99_ms": written_s[int(len(written_s) * 0.99)] * 1000
        if written_s
        else None,
        "trace": trace,
    }


async def pool_state(url: str) -> dict:
    """The server's worker pool and event-loop figures (/healthz), or {} when it has none."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        answer = await http.get("/healthz")
    return answer.json().get("checks", {}).get("worker_pool", {})


def loop_delta(before: dict, after: dict) -> dict:
    """What the server's event loop lost between two /healthz readings."""
    b, a = before.get("event_loop"), after.get("event_loop")
    if not a or not b:
        return {}
    return {
        "stalled_s": round(a["stalled_s"] - b["stalled_s"], 2),
        "worst_ms": a["worst_ms"],
        "histogram": {k: a["histogram"][k] - b["histogram"].get(k, 0) for k in a["histogram"]},
    }


async def run_overload(
    kind: str, seconds: float, concurrency: int, senders: int, retry_cap_s: float | None = None,
    procs: int = 1, bare_uvicorn: bool = False, workers: int | None = None,
) -> dict:  # fmt: skip
    workdir = Path(tempfile.mkdtemp(prefix=f"tm-bench-{kind}-"))
    port = free_port()
    env = env_for(kind, workdir, port, f"tm_bench_{os.getpid()}")
    if workers is not None:
        env["WORKERS"] = str(workers)
    settings = load_settings(env, env_file=None)
    async with fresh_database(kind, settings):
        ids = await seed(settings, True)
        url = f"http://127.0.0.1:{port}"
        async with trackmaster_process(env, port, serve=not bare_uvicorn) as server:
            await start_session(url, ids["project"], ["bench-user"], [ids["event"]])
            load_before = os.getloadavg()
            cpu_0, client_0 = cpu_s(server.pid), self_cpu_s()
            before = await count_logs(settings)
            unloaded = await throughput(url, ids["key"], seconds, concurrency)
            client_1 = self_cpu_s()
            unloaded["stored_events"] = await count_logs(settings) - before
            unloaded["events_per_s"] = unloaded["stored_events"] / unloaded["elapsed_s"]
            cpu_1 = cpu_s(server.pid)
            before = await count_logs(settings)
            state_1 = await pool_state(url)
            loaded = await overload(url, ids["key"], seconds, senders, retry_cap_s, procs)
            client_2 = self_cpu_s() + (loaded["sender_cpu_s"] or 0.0)
            state_2 = await pool_state(url)
            loaded["event_loop"] = loop_delta(state_1, state_2)
            loaded["pool_stats"] = state_2.get("stats")
            await asyncio.sleep(2)  # what was admitted finishes
            loaded["stored_events"] = await count_logs(settings) - before
            loaded["stored_for_nobody"] = loaded["stored_events"] - loaded["acked_events"]
            cpu_2 = cpu_s(server.pid)
    return {
        "unloaded": unloaded,
        "overload": loaded,
        "ratio": loaded["useful_events_per_s"] / unloaded["events_per_s"],
        "cpu_s_unloaded": cpu_1 - cpu_0,
        "cpu_s_overload": cpu_2 - cpu_1,
        "client_cpu_s_unloaded": client_1 - client_0,
        "client_cpu_s_overload": client_2 - client_1,
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }


def detection_cpu_ms_per_1000(rounds: int = 200) -> float | None:
    """CPU ms that unplanned-property detection alone takes per 1,000 of the bench's events."""
    try:
        from trackmaster.checks.unplanned import PlannedKeys, find_unplanned, root_for
    except ImportError:  # the code before the feature
        return None
    planned = PlannedKeys(tuple(key for key, _ in FIELDS))  # once per plan snapshot
    root = root_for("collect", "sdk")
    events = batch_events()
    started = time.process_time()
    found = 0
    for _ in range(rounds):
        for event in events:
            found += len(find_unplanned(planned, event, root))
    spent = time.process_time() - started
    assert found == rounds * len(events) * UNPLANNED["n"], found
    return 1000 * 1000 * spent / (rounds * len(events))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "mariadb", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=15.0, help="throughput phase length")
    parser.add_argument("--concurrency", type=int, default=8, help="clients in the phase")
    parser.add_argument("--rate", type=float, default=500.0, help="events/s in the latency phase")
    parser.add_argument(
        "--workers", type=int, default=setting("WORKERS").default, help="the server's WORKERS"
    )
    parser.add_argument("--latency-seconds", type=float, default=60.0, help="latency phase length")
    parser.add_argument(
        "--no-rules", action="store_true", help="seed no typed rules (as before issue 13)"
    )
    parser.add_argument(
        "--overload", type=int, default=0, help="senders of the overload run (0: none)"
    )
    parser.add_argument(
        "--unplanned", type=int, default=0,
        help="properties per event that the plan does not list (default 0)",
    )  # fmt: skip
    parser.add_argument(
        "--protocol", choices=["all", *PROTOCOLS],
        help="throughput of ingest protocols (each beside the Segment path) instead",
    )  # fmt: skip
    parser.add_argument(
        "--retry-cap", type=float, default=None,
        help="overload: senders wait at most this long after a refusal (default: Retry-After)",
    )  # fmt: skip
    parser.add_argument(
        "--sender-procs", type=int, default=1,
        help="overload: split the senders over this many processes (their CPU is summed)",
    )  # fmt: skip
    parser.add_argument(
        "--bare-uvicorn", action="store_true",
        help="overload: serve with bare uvicorn (its default protocol), as this bench did "
        "before, not `trackmaster serve`",
    )  # fmt: skip
    parser.add_argument(
        "--trace",
        help="overload: write every answer's (sent at s, took s, status, connecting s) as JSON",
    )
    args = parser.parse_args()
    UNPLANNED["n"] = args.unplanned
    kinds = ["sqlite", "mariadb"] if args.db == "both" else [args.db]
    detection = detection_cpu_ms_per_1000()
    if detection is not None:
        print(
            f"unplanned-property detection alone: {detection:.1f} ms CPU per 1,000 events "
            f"({args.unplanned} unplanned per event, in this process); "
            f"load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
    if args.overload:
        for kind in kinds:
            got = asyncio.run(
                run_overload(
                    kind,
                    args.seconds,
                    args.concurrency,
                    args.overload,
                    args.retry_cap,
                    args.sender_procs,
                    args.bare_uvicorn,
                    args.workers,
                )
            )
            trace = got["overload"].pop("trace")
            if args.trace:
                Path(args.trace).write_text(json.dumps(trace))
            print(json.dumps(got), flush=True)
            o, u = got["overload"], got["unloaded"]
            print(
                f"{kind}: unloaded {u['events_per_s']:.0f} events/s ({args.concurrency} senders, "
                f"CPU {got['cpu_s_unloaded']:.1f} s); {o['senders']} senders: useful "
                f"{o['useful_events_per_s']:.0f} events/s = {100 * got['ratio']:.0f}% of "
                f"unloaded, answers {o['statuses']}, client timeouts {o['client_timeouts']}, "
                f"refusals answered p50 {o['refused_p50_ms']} ms / p99 {o['refused_p99_ms']} "
                f"ms / max {o['refused_max_ms']} ms ({o['refused_over_1s']} over 1 s; p99 "
                f"{o['refused_written_p99_ms']} ms from the request written), stored "
                f"for nobody {o['stored_for_nobody']}; CPU {got['cpu_s_overload']:.1f} s; "
                f"load {got['load_before'][0]:.1f} -> {got['load_after'][0]:.1f}",
                flush=True,
            )
        return 0
    if args.protocol:
        protocols = [p for p in PROTOCOLS if p != "segment"] if args.protocol == "all" else [
            args.protocol]  # fmt: skip
        for kind in kinds:
            for r in asyncio.run(run_protocols(kind, protocols, args.seconds, args.concurrency,
                                               args.workers)):  # fmt: skip
                seg = r["segment"]
                print(
                    f"{kind:7} {r['protocol']:9} {r['events_per_s']:7.0f} events/s, "
                    f"{r['stored_events'] / max(r['server_cpu_s'], 0.01):6.0f} per server CPU s "
                    f"(batches of {r['batch']}, {r['stored_events']} stored, server CPU "
                    f"{r['server_cpu_s']:.1f} s, load {r['load']:.2f}); Segment just before "
                    f"{seg['events_per_s']:7.0f} events/s, "
                    f"{seg['stored_events'] / max(seg['server_cpu_s'], 0.01):6.0f} per CPU s "
                    f"(CPU {seg['server_cpu_s']:.1f} s, "
                    f"load {seg['load']:.2f}); "
                    f"ratio {r['events_per_s'] / max(seg['events_per_s'], 1):.2f}; "
                    f"429s {r['refused_429']} / {seg['refused_429']}",
                    flush=True,
                )
        return 0
    for kind in kinds:
        result = asyncio.run(run_one(
                kind, args.seconds, args.concurrency, args.rate, args.workers,
                args.latency_seconds, not args.no_rules,
            )
        )  # fmt: skip
        lat = result["latency"]
        print(
            f"{kind:8} {result['events_per_s']:8.0f} events/s stored "
            f"({result['stored_events']} in {result['elapsed_s']:.1f} s, "
            f"{result['refused_429']} batches refused with 429); "
            f"at {args.rate:.0f} events/s: p50 {lat['p50_ms']:.1f} ms, "
            f"p95 {lat['p95_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms, "
            f"max {lat['max_ms']:.1f} ms ({lat['batches']} batches, "
            f"{lat.get('refused_429', 0)} answers 429 retried); "
            f"server CPU {result['server_cpu_s']:.1f} s in the throughput phase "
            f"({result['server_cpu_ms_per_1000']:.0f} ms per 1,000 events), "
            f"client CPU {result['client_cpu_s']:.1f} s; "
            f"load average {result['load'][0]:.2f} -> {result['load'][1]:.2f}",
            flush=True,
        )
        if "mariadb" in result:
            print(mariadb_line(result["mariadb"], result["stored_events"], "throughput"))
            print(mariadb_line(lat["mariadb"], lat["batches"] * BATCH, f"at {args.rate:.0f}/s"))
    return 0


def mariadb_line(got: dict, events: int, phase: str) -> str:
    """What the database server did in a phase: its CPU per 1,000 events and statements
    per group (a group is one COMMIT; server-wide counters: others' statements count too
    on a shared server)."""
    groups = max(got["Com_commit"], 1)
    per_1000 = 1000 * 1000 * got["mysqld_cpu_s"] / max(events, 1) if got["mysqld_cpu_s"] else None
    cpu = f"{got['mysqld_cpu_s']:.1f} s, {per_1000:.0f} ms per 1,000 events" if per_1000 else "?"
    return (
        f"  mariadb {phase}: mysqld CPU {cpu}; {got['Com_commit']} commits "
        f"({events / groups:.0f} events each), per commit {got['Questions'] / groups:.1f} "
        f"statements (insert {got['Com_insert'] / groups:.1f}, update "
        f"{got['Com_update'] / groups:.1f}, select {got['Com_select'] / groups:.1f}), "
        f"{got['Innodb_data_fsyncs'] / groups:.2f} fsyncs, {got['Innodb_log_writes'] / groups:.2f} "
        f"log writes; per event: rows written {got['Handler_write'] / max(events, 1):.1f}, "
        f"updated {got['Handler_update'] / max(events, 1):.1f}, looked up by key "
        f"{got['Handler_read_key'] / max(events, 1):.1f}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
