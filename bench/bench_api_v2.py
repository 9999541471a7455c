"""What the original's /api/v2 costs beside /api/v3 on the same session, per database.

    python bench/bench_api_v2.py                     # SQLite, then MariaDB
    python bench/bench_api_v2.py --db sqlite --events 2000 --repeats 5

Per database: a fresh database, the bench project of bench_ingest.py (one event of 10
fields), TrackMaster in its own process, one live session fed `--events` events through
/collect, then the results and the logs read through both APIs `--repeats` times.
/api/v2 is a layer over the same core functions, so getResult should cost about what v3's
does; its getLog returns every uncleared log, as the original did (v3 pages them), so it
grows with the session. Printed per URL: wall time (median, best), the server process's
CPU seconds per request (from /proc), the answer's size, and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._server import free_port, fresh_database, start_session, trackmaster_process  # noqa: E402
from bench.bench_ingest import env_for, seed  # noqa: E402
from bench.bench_report import feed, timed  # noqa: E402
from trackmaster.settings import load_settings  # noqa: E402


async def run_one(kind: str, events: int, repeats: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix=f"tm-bench-v2-{kind}-"))
    port = free_port()
    env = env_for(kind, workdir, port, f"tm_bench_v2_{os.getpid()}")
    settings = load_settings(env, env_file=None)
    async with fresh_database(kind, settings):
        ids = await seed(settings)
        url = f"http://127.0.0.1:{port}"
        async with trackmaster_process(env, port) as server:
            session = await start_session(url, ids["project"], ["bench-user"], [ids["event"]])
            fed_s = await feed(url, ids["key"], events)
            sid = session["id"]
            record = f"{sid:032x}"  # the original's record id of the session
            async with httpx.AsyncClient(base_url=url, timeout=60) as http:
                answer = await http.get("/api/v2/realTime/getLog", params={"record": record})
                caught = answer.json()["pager"]["totalRow"]
            if caught != events:  # measure the session intended
                raise RuntimeError(f"{caught} caught, {events} fed")
            print(f"{kind}: {events} events fed in {fed_s:.1f} s; load {os.getloadavg()}")
            for path in (
                f"/api/v3/realTime/getResult?record={sid}",
                f"/api/v2/realTime/getResult?record={record}",
                f"/api/v3/realTime/getLog?record={sid}&pageSize=100",
                f"/api/v2/realTime/getLog?record={record}",
            ):
                got = await timed(url, path, server.pid, repeats)
                print(
                    f"  {kind:8} {path[:60]:60} median {got['median_s'] * 1000:7.1f} ms, best "
                    f"{got['best_s'] * 1000:7.1f} ms, server CPU {got['cpu_s'] * 1000:7.1f} ms, "
                    f"{got['bytes']:,} bytes",
                    flush=True,
                )
            print(f"  load after {os.getloadavg()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "mariadb", "both"], default="both")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for kind in ["sqlite", "mariadb"] if args.db == "both" else [args.db]:
        asyncio.run(run_one(kind, args.events, args.repeats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
