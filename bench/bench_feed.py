"""CPU of one live frame: what a session's feed spends to turn a stored batch into an update.

    python bench/bench_feed.py                      # frames of 1, 10 and 50 events, 40 each
    python bench/bench_feed.py --frames 40 --events-per-frame 1 10 50 --logs-before 300

In one process, on a fresh SQLite database: the session of bench/bench_sse.py
(10 events x 20 fields, 600 cells), its feed (web/streams.py SessionFeed) on
the in-process bus, and the real ingest path. Each step stores one batch of N
events (one bus message), then waits, doing nothing else, until the feed has
appended the frame for it: the process CPU time (every thread, so the SQLite
thread too) between the two is the frame's cost. CPU seconds, not wall time,
so the figure holds on a loaded machine. The ingest itself is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_sse import event_body, seed  # noqa: E402
from trackmaster import db as database  # noqa: E402
from trackmaster.runtime import Runtime  # noqa: E402
from trackmaster.settings import load_settings  # noqa: E402
from trackmaster.sources.collect import parse_collect  # noqa: E402


async def run(args: argparse.Namespace) -> list[dict]:
    from web import confirmations, streams

    assert confirmations  # the template global the fragments use
    workdir = Path(tempfile.mkdtemp(prefix="tm-bench-feed-"))
    env = {"SQLITE_PATH": str(workdir / "bench.sqlite3"), "SECRET_KEY": "bench"}
    settings = load_settings(env, env_file=None)
    await database.migrate(settings)
    ids = await seed(settings)
    runtime = await Runtime.open(settings)
    try:
        realtime = runtime.realtime
        session = await realtime.lifecycle.start(ids["project"], ["bench-user"], ids["events"])
        seq = 0

        async def ingest(count: int) -> None:
            nonlocal seq
            bodies = [event_body(seq + n) for n in range(count)]
            seq += count
            await realtime.ingestor.ingest(ids["project"], parse_collect(bodies))

        for _ in range(args.logs_before // 50):
            await ingest(50)
        feed = streams.SessionFeed(session.id, runtime.bus, frames_per_s=1000.0)
        await feed.ready.wait()
        results = []
        for per_frame in args.events_per_frame:
            cpu_ms, wall_ms, sizes = [], [], []
            for _ in range(args.frames):
                await ingest(per_frame)
                before = feed.seq
                cpu0, wall0 = time.process_time(), time.perf_counter()
                while feed.seq == before:
                    await feed.wait_after(before, feed.epoch)
                cpu_ms.append((time.process_time() - cpu0) * 1000)
                wall_ms.append((time.perf_counter() - wall0) * 1000)
                sizes.append(len(feed.frames[-1].chunk.data))
            results.append(
                {
                    "events_per_frame": per_frame,
                    "frames": args.frames,
                    "cpu_ms_p50": statistics.median(cpu_ms),
                    "cpu_ms_mean": statistics.fmean(cpu_ms),
                    "wall_ms_p50": statistics.median(wall_ms),
                    "kb_p50": statistics.median(sizes) / 1024,
                    "logs_at_end": seq,
                }
            )
        feed.close()
        return results
    finally:
        await runtime.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40, help="frames measured per size")
    parser.add_argument("--events-per-frame", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--logs-before", type=int, default=300, help="logs stored before")
    args = parser.parse_args()
    import os

    load = os.getloadavg()[0]
    for row in asyncio.run(run(args)):
        print(
            f"{row['events_per_frame']:>3} events a frame, {row['frames']} frames: CPU "
            f"{row['cpu_ms_p50']:.1f} ms p50 ({row['cpu_ms_mean']:.1f} mean) a frame, "
            f"{row['cpu_ms_mean'] / row['events_per_frame']:.2f} ms an event; wall "
            f"{row['wall_ms_p50']:.1f} ms p50; {row['kb_p50']:.1f} KB a frame; "
            f"{row['logs_at_end']} logs at the end",
            flush=True,
        )
    print(f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
