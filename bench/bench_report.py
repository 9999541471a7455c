"""Session report of 100,000 caught events: page, CSV, JUnit and CI counts, per database.

    python bench/bench_report.py                    # SQLite, then MariaDB
    python bench/bench_report.py --db sqlite --events 100000 --repeats 3

Per database: a fresh database, the bench project of bench_ingest.py (one event of 10
fields), TrackMaster in its own process, one live session fed `--events` events through
/collect (batches of 500; a third of them fail a field, with a few hundred distinct wrong
values), then each report URL fetched `--repeats` times. Printed per URL: wall time
(median and best), the server process's CPU seconds per request (from /proc, so other
work on the machine does not count), and the load average before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._server import free_port, fresh_database, start_session, trackmaster_process  # noqa: E402
from bench.bench_ingest import FIELDS, env_for, seed  # noqa: E402
from trackmaster.settings import load_settings  # noqa: E402

BATCH = 500
CLIENTS = 4
MAX_RETRIES = 100


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def batch(first: int) -> str:
    events = []
    for n in range(first, first + BATCH):
        properties: dict = {}
        for i, (key, values) in enumerate(FIELDS):
            group, leaf = key.split(".")
            value = values[(n + i) % len(values)] if values else f"{leaf}-{n}"
            properties.setdefault(group, {})[leaf] = value
        if n % 3 == 0:  # a failing field, with many distinct wrong values
            properties["page"]["name"] = f"screen-{n % 300}"
        events.append(
            {"event": "play_click", "userId": "bench-user",
             "platform": ("iOS", "Android", "web")[n % 3], "messageId": f"m-{n}",
             "properties": properties}
        )  # fmt: skip
    return json.dumps(events)


async def feed(url: str, key: str, total: int) -> float:
    starts = list(range(0, total, BATCH))
    began = time.perf_counter()

    async def client(mine: list[int]) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=120) as http:
            for first in mine:
                body = batch(first)
                for _ in range(MAX_RETRIES):  # busy: wait as told, like an SDK would
                    answer = await http.post(
                        "/collect", content=body,
                        headers={"X-Write-Key": key, "Content-Type": "application/json"},
                    )  # fmt: skip
                    if answer.status_code not in (429, 503):
                        break
                    await asyncio.sleep(float(answer.headers.get("retry-after", "1")))
                answer.raise_for_status()

    await asyncio.gather(*(client(starts[i::CLIENTS]) for i in range(CLIENTS)))
    return time.perf_counter() - began


async def timed(url: str, path: str, pid: int, repeats: int) -> dict:
    walls, cpus, size = [], [], 0
    async with httpx.AsyncClient(base_url=url, timeout=300) as http:
        for _ in range(repeats):
            cpu_before, began = cpu_s(pid), time.perf_counter()
            answer = await http.get(path)
            walls.append(time.perf_counter() - began)
            cpus.append(cpu_s(pid) - cpu_before)
            answer.raise_for_status()
            size = len(answer.content)
    return {"median_s": statistics.median(walls), "best_s": min(walls),
            "cpu_s": statistics.median(cpus), "bytes": size}  # fmt: skip


async def run_one(kind: str, events: int, repeats: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix=f"tm-bench-report-{kind}-"))
    port = free_port()
    env = env_for(kind, workdir, port, f"tm_bench_report_{os.getpid()}")
    settings = load_settings(env, env_file=None)
    async with fresh_database(kind, settings):
        ids = await seed(settings)
        url = f"http://127.0.0.1:{port}"
        async with trackmaster_process(env, port) as server:
            session = await start_session(url, ids["project"], ["bench-user"], [ids["event"]])
            fed_s = await feed(url, ids["key"], events)
            sid = session["id"]
            async with httpx.AsyncClient(base_url=url, timeout=60) as http:
                counts = (await http.get(f"/api/v3/sessions/{sid}/counts")).json()
            if counts["events"]["all"] != events:  # measure the report of the session intended
                raise RuntimeError(f"{counts['events']} caught, {events} fed")
            load_before = os.getloadavg()
            print(
                f"{kind}: {events} events fed in {fed_s:.1f} s (caught {counts['events']}, "
                f"cells {counts['cells']}); load average before {load_before}"
            )
            for path in (
                f"/sessions/{sid}/report", f"/sessions/{sid}/report.csv",
                f"/sessions/{sid}/report.xml", f"/api/v3/sessions/{sid}/counts",
                f"/api/v3/sessions/{sid}/events?pageSize=20",
                f"/api/v3/sessions/{sid}/events?verdict=bad&pageSize=20",
            ):  # fmt: skip
                got = await timed(url, path, server.pid, repeats)
                print(
                    f"  {kind:8} {path:54} median {got['median_s']:.2f} s, best "
                    f"{got['best_s']:.2f} s, server CPU {got['cpu_s']:.2f} s, "
                    f"{got['bytes']:,} bytes",
                    flush=True,
                )
            print(f"  load after {os.getloadavg()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "mariadb", "both"], default="both")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for kind in ["sqlite", "mariadb"] if args.db == "both" else [args.db]:
        asyncio.run(run_one(kind, args.events, args.repeats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
