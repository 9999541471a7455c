"""Re-judge benchmark: a session of --events stored events re-judged against a changed plan.

    python bench/bench_rejudge.py                 # 100,000 events, SQLite then MariaDB
    python bench/bench_rejudge.py --db sqlite --events 20000

In-process (no HTTP: re-judging reads the database, not the network): a fresh
database, the ingest benchmark's plan (10 fields, typed rules on 4), a live
session fed --events events through the real ingest path in batches of 500,
then one field's rules change and the session is re-judged. Prints wall time,
this process's CPU seconds and the load average, and the cells that changed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._server import fresh_database  # noqa: E402
from bench.bench_ingest import batch_template, env_for, seed  # noqa: E402
from trackmaster.db import Database  # noqa: E402
from trackmaster.settings import load_settings  # noqa: E402

FEED_BATCH = 500


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_one(kind: str, events: int) -> None:
    from trackmaster.bus import MemoryBus
    from trackmaster.models import Field, RejudgeRun
    from trackmaster.sessions.ingest import Ingestor
    from trackmaster.sessions.lifecycle import Lifecycle
    from trackmaster.sessions.live import LiveIndex
    from trackmaster.sessions.rejudge import rejudge_session
    from trackmaster.sources.collect import parse_collect

    workdir = Path(tempfile.mkdtemp(prefix=f"tm-bench-rejudge-{kind}-"))
    env = env_for(kind, workdir, 8000, f"tm_bench_rejudge_{os.getpid()}")
    settings = load_settings(env, env_file=None)
    async with fresh_database(kind, settings):
        ids = await seed(settings, True)
        opened = await Database.open(settings)
        try:
            bus, index = MemoryBus(), LiveIndex(ttl_s=3600)
            lifecycle = Lifecycle(index, bus, limit_s=3600)
            session = await lifecycle.start(ids["project"], ["bench-user"], [ids["event"]])
            ingestor = Ingestor(index, bus)
            one = json.loads(batch_template())
            started = time.perf_counter()
            for n in range(0, events, FEED_BATCH):
                body = [
                    {**one[k % len(one)], "messageId": f"r{n + k}"}
                    for k in range(min(FEED_BATCH, events - n))
                ]
                await ingestor.ingest(ids["project"], parse_collect(body, limit=FEED_BATCH))
            fed_s = time.perf_counter() - started
            # The plan changes: page.id gets a stricter pattern (every stored value fails it).
            await Field.filter(event_id=ids["event"], key="page.id").update(
                rules={"type": "string", "pattern": "page-[0-9]+"}
            )
            load_before = os.getloadavg()
            run = await RejudgeRun.create(session_id=session.id)
            cpu, wall = cpu_s(), time.perf_counter()
            run = await rejudge_session(session, run)
            wall, cpu = time.perf_counter() - wall, cpu_s() - cpu
            print(
                f"{kind:8} fed {events} events in {fed_s:.1f} s; re-judged {run.done} in "
                f"{wall:.2f} s ({cpu:.2f} s CPU of this process, {run.changed} cells changed); "
                f"load average {load_before[0]:.2f} -> {os.getloadavg()[0]:.2f}",
                flush=True,
            )
        finally:
            await opened.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "mariadb", "both"], default="both")
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    for kind in ["sqlite", "mariadb"] if args.db == "both" else [args.db]:
        asyncio.run(run_one(kind, args.events))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
