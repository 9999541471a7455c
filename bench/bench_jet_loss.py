"""Jet pull loss benchmark: logs fed to a fake Jet at a steady rate vs logs TrackMaster stored.

    python bench/bench_jet_loss.py              # SQLite: 10/s x 30 s, 100/s x 10 s, 500/s x 10 s
    python bench/bench_jet_loss.py --db mariadb --runs 500:10 --poll-interval 2

Jet's "clear logs" call deletes every log of a filter, so a log Jet receives
between the puller's read and its clear is deleted unread. This counts how
many. Per database it creates a fresh database, seeds a project that came
from Jet (one event of 5 fields, one account), starts the fake Jet of
tests/fakes/jet.py in this process (a real HTTP server on 127.0.0.1) and
TrackMaster in a subprocess (uvicorn, JET_URL pointing at the fake). Then for
each run RATE:SECONDS:

1. starts a Jet session (a fresh filter) and waits for the puller's first read;
2. feeds RATE logs/s into the filter for SECONDS (each log a unique Jet id);
3. meanwhile polls event_log every --probe-ms for new rows, which gives each
   log's pull latency: from Jet receiving it to its row being visible in the
   database (resolution: the probe interval);
4. waits until Jet's filter is empty and nothing new was stored for two poll
   intervals (at most --drain-s), then stops the session, which reads Jet once
   more, and counts: fed, stored (distinct Jet ids), lost, duplicates.

It prints wall time, CPU seconds of the server and of this process, and the
load average, because the machine is shared: read losses beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._server import (  # noqa: E402
    database_env,
    free_port,
    fresh_database,
    start_session,
    trackmaster_process,
)
from tests.fakes.jet import FakeJet  # noqa: E402
from trackmaster.db import Database  # noqa: E402
from trackmaster.settings import load_settings  # noqa: E402

USER = "bench-user"
EVENT = "play_click"
FIELDS = [
    ("event_info.current_page_name", ["home", "player", "search"]),
    ("content_info.type", ["EPISODE", "MOVIE"]),
    ("content_info.id", []),
    ("page_info.id", []),
    ("player.quality", ["hd", "sd", "auto"]),
]
DEFAULT_RUNS = "10:30,100:10,500:10"


def raw_log(n: int) -> dict:
    """Log number n: what an app sends (about 400 bytes once Jet wraps it)."""
    return {
        "$os": ("iOS", "Android", "web")[n % 3],
        "$app_version": "2.31.0",
        "$device_id": f"device-{n % 7}",
        "event_info": {"event": EVENT, "current_page_name": ("home", "player", "search")[n % 3]},
        "content_info": {"type": "EPISODE", "id": f"c{n}"},
        "page_info": {"id": f"p{n}", "type": "EPISODE", "title": "An episode"},
        "player": {"quality": ("hd", "sd", "auto")[n % 3]},
        "seq": n,
    }


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * fraction))]


async def seed(settings, jet_project_id: str) -> dict:
    from trackmaster.models import Account, Event, Field, Project, Story

    project = await Project.create(name="bench", jet_id=jet_project_id)
    story = await Story.create(project=project, name="bench story")
    event = await Event.create(story=story, name=EVENT)
    for key, values in FIELDS:
        await Field.create(event=event, key=key, values=values, raw_values=values)
    await Account.create(project=project, user_id=USER, description="bench")
    return {"project": project.id, "event": event.id}


async def probe(session_id: int, stored: dict[str, float], every_s: float) -> None:
    """Record when each Jet id first shows up in event_log (until cancelled)."""
    from trackmaster.models import EventLog

    last_id = 0
    while True:
        rows = await EventLog.filter(session_id=session_id, id__gt=last_id).values_list(
            "id", "message_id"
        )
        now = time.perf_counter()
        for row_id, message_id in rows:
            last_id = max(last_id, row_id)
            stored.setdefault(message_id, now)
        await asyncio.sleep(every_s)


async def one_run(
    http: httpx.AsyncClient,
    jet: FakeJet,
    ids: dict,
    rate: float,
    seconds: float,
    poll_s: float,
    probe_s: float,
    drain_s: float,
    server_pid: int,
) -> dict:
    from trackmaster.models import EventLog

    session = await start_session(str(http.base_url), ids["project"], [USER], [ids["event"]])
    if session.get("source") != "jet":
        raise RuntimeError(f"the session is not a Jet session: {session}")
    filter_id = session["jetFilterId"]
    jet_filter = jet.filters[filter_id]
    deadline = time.perf_counter() + 10 + 3 * poll_s
    while not any(r.query.get("filter") == filter_id for r in jet.calls("logs")):
        if time.perf_counter() > deadline:
            raise RuntimeError("the puller never read the session's filter")
        await asyncio.sleep(0.01)

    stored: dict[str, float] = {}
    prober = asyncio.create_task(probe(session["id"], stored, probe_s))
    cpu_server, cpu_self = cpu_s(server_pid), time.process_time()
    load_before = os.getloadavg()
    started = time.perf_counter()
    received = await jet.feed(filter_id, USER, EVENT, raw_log, rate_per_s=rate, seconds=seconds)
    fed_s = time.perf_counter() - started
    # Drain: Jet empty and nothing new for two poll intervals, or the bound.
    drain_until = time.perf_counter() + drain_s
    quiet_since, seen = time.perf_counter(), len(stored)
    while time.perf_counter() < drain_until:
        await asyncio.sleep(0.05)
        if len(stored) != seen:
            quiet_since, seen = time.perf_counter(), len(stored)
        elif not jet_filter["logs"] and time.perf_counter() - quiet_since > 2 * poll_s:
            break
    wall_s = time.perf_counter() - started
    stored_before_stop = set(stored)
    answer = await http.post("/api/v3/realTime/stop", params={"record": session["id"]})
    answer.raise_for_status()
    prober.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await prober
    cpu_server, cpu_self = cpu_s(server_pid) - cpu_server, time.process_time() - cpu_self

    rows = await EventLog.filter(session_id=session["id"]).values_list("message_id", flat=True)
    stored_ids = set(rows)
    lost = [log_id for log_id in received if log_id not in stored_ids]
    latencies = sorted(
        (stored[log_id] - at) * 1000 for log_id, at in received.items() if log_id in stored
    )
    reads = [r for r in jet.calls("logs") if r.query.get("filter") == filter_id]
    clears = [r for r in jet.calls("clear_logs") if r.query.get("filter") == filter_id]
    # The window of each clear: from the read before it arriving at Jet to the clear
    # arriving, and the part of it that Jet spent building that read's answer.
    windows, jet_parts = [], []
    for clear in clears:
        before = [r for r in reads if r.at_s < clear.at_s]
        if before:
            windows.append((clear.at_s - before[-1].at_s) * 1000)
            jet_parts.append(((before[-1].answered_s or before[-1].at_s) - before[-1].at_s) * 1000)
    windows.sort()
    jet_parts.sort()
    if os.environ.get("BENCH_DEBUG"):
        for log_id in lost[:10]:
            at = received[log_id]
            before = max((r.at_s for r in reads if r.at_s <= at), default=None)
            clear = min((c.at_s for c in clears if c.at_s >= at), default=None)
            print(
                f"  lost {log_id}: {1000 * (at - before) if before else 0:.1f} ms after a read, "
                f"{1000 * (clear - at) if clear else -1:.1f} ms before a clear"
            )
    return {
        "rate": rate,
        "seconds": seconds,
        "fed": len(received),
        "fed_s": fed_s,
        "stored": len(stored_ids & set(received)),
        "stored_at_stop": len(stored_ids - stored_before_stop),
        "lost": len(lost),
        "duplicates": len(rows) - len(stored_ids),
        "left_in_jet": len(jet_filter["logs"]),
        "reads": len(reads),
        "cleared_unread": jet_filter["cleared_unread"],
        "window_p50_ms": statistics.median(windows) if windows else float("nan"),
        "window_max_ms": windows[-1] if windows else float("nan"),
        "window_jet_p50_ms": statistics.median(jet_parts) if jet_parts else float("nan"),
        "p50_ms": statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": latencies[-1] if latencies else float("nan"),
        "wall_s": wall_s,
        "cpu_server_s": cpu_server,
        "cpu_bench_s": cpu_self,
        "load": (load_before[0], os.getloadavg()[0]),
    }


async def run_db(kind: str, runs: list[tuple[float, float]], args: argparse.Namespace) -> list:
    workdir = Path(tempfile.mkdtemp(prefix=f"tm-bench-jet-{kind}-"))
    port = free_port()
    env = database_env(kind, workdir, f"tm_bench_jet_{os.getpid()}") | {
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": "bench",
        "POLL_INTERVAL_S": str(args.poll_interval),
        "REALTIME_LIMIT": "3600",
    }
    settings = load_settings(env, env_file=None)
    results = []
    jet = FakeJet()
    async with fresh_database(kind, settings), jet.serve():
        env["JET_URL"] = jet.url
        jet_project = jet.add_project("bench")
        opened = await Database.open(settings)
        try:
            ids = await seed(settings, jet_project["id"])
            async with (
                trackmaster_process(env, port) as server,
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
            ):
                for rate, seconds in runs:
                    result = await one_run(
                        http, jet, ids, rate, seconds, args.poll_interval,
                        args.probe_ms / 1000, args.drain_s, server.pid,
                    )  # fmt: skip
                    results.append(result)
                    print(format_result(kind, args.poll_interval, result), flush=True)
        finally:
            await opened.close()
    return results


def format_result(kind: str, poll_s: float, r: dict) -> str:
    share = 100 * r["lost"] / r["fed"] if r["fed"] else 0.0
    return (
        f"{kind:8} poll {poll_s:g} s  {r['rate']:5.0f} logs/s x {r['seconds']:g} s: "
        f"fed {r['fed']}, stored {r['stored']}, lost {r['lost']} ({share:.2f}%), "
        f"duplicates {r['duplicates']}, left in Jet {r['left_in_jet']}, "
        f"stored by the stop's read {r['stored_at_stop']}, reads {r['reads']}, "
        f"deleted unread by Jet's clear {r['cleared_unread']}; "
        f"read-to-clear window p50 {r['window_p50_ms']:.1f} ms (Jet building the answer "
        f"{r['window_jet_p50_ms']:.1f} ms), max {r['window_max_ms']:.1f} ms; "
        f"latency p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms, max {r['max_ms']:.0f} ms; "
        f"wall {r['wall_s']:.1f} s, CPU server {r['cpu_server_s']:.2f} s, "
        f"bench {r['cpu_bench_s']:.2f} s; load {r['load'][0]:.2f} -> {r['load'][1]:.2f}"
    )


def parse_runs(text: str) -> list[tuple[float, float]]:
    runs = []
    for part in text.split(","):
        rate, _, seconds = part.partition(":")
        runs.append((float(rate), float(seconds or 10)))
    if any(rate <= 0 or not 0 < seconds <= 600 for rate, seconds in runs):
        raise SystemExit("--runs: RATE:SECONDS with RATE > 0 and 0 < SECONDS <= 600")
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "mariadb", "both"], default="sqlite")
    parser.add_argument("--runs", default=DEFAULT_RUNS, help="RATE:SECONDS,... logs/s and length")
    parser.add_argument("--poll-interval", type=float, default=1.0, help="POLL_INTERVAL_S")
    parser.add_argument("--probe-ms", type=float, default=20.0, help="event_log probe interval")
    parser.add_argument("--drain-s", type=float, default=15.0, help="longest wait after feeding")
    args = parser.parse_args()
    runs = parse_runs(args.runs)
    kinds = ["sqlite", "mariadb"] if args.db == "both" else [args.db]
    started, cpu = time.perf_counter(), time.process_time()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    for kind in kinds:
        asyncio.run(run_db(kind, runs, args))
    print(
        f"total wall {time.perf_counter() - started:.1f} s, bench CPU "
        f"{time.process_time() - cpu:.2f} s; load average at end: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
