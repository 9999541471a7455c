"""CPU of the ingest path in one process, without HTTP: parse + check + store, per 1,000 events.

    python bench/bench_ingest_cpu.py                      # SQLite, then MariaDB
    python bench/bench_ingest_cpu.py --db sqlite --profile /tmp/ingest.prof

The same project, plan (10 fields, typed rules on 4) and bodies as
bench_ingest.py: one live session, batches of 100 events posted to
`/collect` in the SDK shape, each with unique message ids. Each block parses
and ingests `--batches` bodies one after another (`Ingestor.ingest`, the
function the endpoint's worker pool runs; `--concurrency` of them at once, as
the pool's workers do, so that group commit has batches to group) and prints the process CPU per
1,000 stored events, and the event loop thread's share of it; the best of
`--blocks` blocks is the figure (the machine is shared: the lowest is the one
least disturbed). On MariaDB the
database server's own CPU is not counted. `--profile` writes a cProfile of
one more block (not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import inspect
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._server import database_env, fresh_database  # noqa: E402
from bench.bench_ingest import UNPLANNED, batch_template, seed, self_cpu_s  # noqa: E402
from trackmaster.bus import MemoryBus  # noqa: E402
from trackmaster.db import Database  # noqa: E402
from trackmaster.settings import load_settings, setting  # noqa: E402


async def run(
    kind: str,
    blocks: int,
    batches: int,
    profile: str | None,
    concurrency: int = 1,
    group_commit: bool = True,
) -> list[tuple[float, float]]:
    from trackmaster.sessions.ingest import Ingestor
    from trackmaster.sessions.lifecycle import Lifecycle
    from trackmaster.sessions.live import LiveIndex
    from trackmaster.sources import collect
    from trackmaster.sources.wire import Wire

    workdir = Path(tempfile.mkdtemp(prefix=f"tm-bench-cpu-{kind}-"))
    env = database_env(kind, workdir, f"tm_bench_cpu_{os.getpid()}")
    settings = load_settings(env, env_file=None)
    figures: list[tuple[float, float]] = []
    async with fresh_database(kind, settings):
        ids = await seed(settings, True)
        opened = await Database.open(settings)
        try:
            bus = MemoryBus()
            index = LiveIndex(ttl_s=3600)
            await Lifecycle(index, bus, limit_s=3600).start(
                ids["project"], ["bench-user"], [ids["event"]]
            )
            # Code from before group commit has no such switch (before/after runs).
            switch = "group_commit" in inspect.signature(Ingestor).parameters
            grouping = {"group_commit": group_commit} if switch else {}
            ingestor = Ingestor(index, bus, **grouping)
            template = batch_template()
            counter = iter(range(10**9))

            async def sender(count: int) -> int:
                stored = 0
                for _ in range(count):
                    body = template.replace("MSGPFX", f"c{next(counter)}").encode()
                    parsed = collect.parse(
                        Wire(body=body, content_type="application/json", query={}, max_events=2000)
                    )
                    report = await ingestor.ingest(ids["project"], parsed)
                    stored += report.stored
                return stored

            async def block() -> tuple[float, float]:
                started, started_main = self_cpu_s(), time.thread_time()
                share = batches // concurrency
                stored = sum(await asyncio.gather(*(sender(share) for _ in range(concurrency))))
                per_1000 = 1000 / (stored / 1000)
                return (
                    (self_cpu_s() - started) * per_1000,
                    (time.thread_time() - started_main) * per_1000,
                )

            await block()  # warm: snapshot, caches, first sightings
            for _ in range(blocks):
                figures.append(await block())
            if profile:  # one more block, not counted: the profiler slows what it measures
                profiler = cProfile.Profile()
                profiler.enable()
                await block()
                profiler.disable()
                profiler.dump_stats(profile)
            if getattr(ingestor, "groups", None) is not None and ingestor.groups.groups:
                grouped = ingestor.groups
                print(f"  {grouped.batches / grouped.groups:.2f} batches per transaction")
        finally:
            await opened.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "mariadb", "both"], default="both")
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--batches", type=int, default=60, help="batches of 100 per block")
    parser.add_argument("--unplanned", type=int, default=0, help="unplanned properties per event")
    parser.add_argument("--profile", help="write a cProfile of one more block here")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=setting("WORKERS").default,
        help="batches ingested at once (the pool's WORKERS)",
    )
    parser.add_argument(
        "--no-group-commit", action="store_true", help="a transaction per batch, as before"
    )
    args = parser.parse_args()
    UNPLANNED["n"] = args.unplanned
    for kind in ("sqlite", "mariadb") if args.db == "both" else (args.db,):
        load = os.getloadavg()[0]
        started = time.perf_counter()
        figures = asyncio.run(
            run(
                kind,
                args.blocks,
                args.batches,
                args.profile,
                args.concurrency,
                not args.no_group_commit,
            )
        )
        shown = ", ".join(f"{f:.0f}" for f, _ in figures)
        best, main_thread = min(figures)
        print(
            f"{kind:8} CPU per 1,000 events: best {best:.0f} ms, {main_thread:.0f} ms of it "
            f"on the event loop's thread (blocks: {shown} ms); "
            f"{time.perf_counter() - started:.1f} s wall; load average {load:.2f} -> "
            f"{os.getloadavg()[0]:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
