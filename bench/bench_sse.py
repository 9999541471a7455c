"""Live page benchmark: many browsers watching one session while events stream in.

    python bench/bench_sse.py                       # 200 watchers, 50 events/s, 25 s
    python bench/bench_sse.py --watchers 200 --rate 50 --seconds 25 --client-procs 2

Starts TrackMaster (uvicorn, one web process, in a subprocess, on a fresh
SQLite database) with a session watching 10 events of 20 fields (600 cells),
then --client-procs processes open --watchers SSE streams in all on the
session page's stream, exactly as the page does. One event a request is then
posted to /collect at --rate per second for --seconds.

Each event carries a sequence number in its payload, which comes back inside
the log row of the update that shows it. For each event: latency = the time
from sending its POST (so: its arrival, plus the client's HTTP time) to the
moment the LAST watcher received it. Reports p50/p99/max of that, whether
every watcher received every event, and whether any watcher fell behind (got
a full refresh instead of the updates), plus the server's CPU use.

A frame lists only the newest LIVE_LOG_ROWS rows of a burst (web/streams.py), so at
a high rate most events' own rows are never sent live, by design: the measure is
"current within" (the watcher shows that event or a newer one), not the second
line's "row of that event at every watcher".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._server import cpu_s, free_port, start_session, trackmaster_process  # noqa: E402
from trackmaster import db as database  # noqa: E402
from trackmaster.db import Database  # noqa: E402
from trackmaster.settings import load_settings  # noqa: E402

EVENTS = 10
FIELDS_PER_EVENT = 20
PAGES = ["home", "player", "search", "profile"]
# The sequence number as it appears, escaped, in the pretty-printed payload of a log row.
SEQ = re.compile(rb"bench_seq&#34;: (\d+)")
REFRESH = b'hx-target="#matrix"'


async def seed(settings) -> dict:
    """A project with EVENTS events of FIELDS_PER_EVENT fields each, and one account."""
    from trackmaster.models import Account, Event, Field, Project, Story

    opened = await Database.open(settings)
    try:
        project = await Project.create(name="bench")
        story = await Story.create(project=project, name="bench story")
        events = []
        for n in range(EVENTS):
            event = await Event.create(story=story, name=f"event_{n}")
            events.append(event.id)
            for i in range(FIELDS_PER_EVENT):
                values = PAGES if i % 4 == 0 else (["fixed"] if i % 4 == 1 else [])
                await Field.create(event=event, key=f"group.f{i}", values=values, raw_values=values)
        await Account.create(project=project, user_id="bench-user", description="bench")
        return {"project": project.id, "events": events, "key": project.write_key}
    finally:
        await opened.close()


def event_body(seq: int) -> dict:
    """Event number `seq`: rotates the event, platform and values, so cells keep changing."""
    group = {}
    for i in range(FIELDS_PER_EVENT):
        if i % 4 == 0:
            group[f"f{i}"] = PAGES[(seq + i) % len(PAGES)]
        elif i % 4 == 1:
            group[f"f{i}"] = "fixed" if seq % 5 else "wrong"
        elif i % 4 == 2:
            group[f"f{i}"] = f"id-{seq}"
    return {
        "event": f"event_{seq % EVENTS}",
        "userId": "bench-user",
        "platform": ("iOS", "Android", "web")[seq % 3],
        "messageId": f"bench-{seq}",
        "properties": {"group": group, "bench_seq": seq},
    }


# --- the watcher processes -------------------------------------------------------------


class Dechunk:
    """The body of a chunked HTTP/1.1 response, fed as it comes off the socket."""

    def __init__(self) -> None:
        self.buffer = b""
        self.remaining = 0  # bytes of the current chunk still to come
        self.skip = 0  # the CRLF after a chunk

    def feed(self, data: bytes) -> bytes:
        self.buffer += data
        out = []
        while self.buffer:
            if self.skip:
                cut = min(self.skip, len(self.buffer))
                self.buffer, self.skip = self.buffer[cut:], self.skip - cut
            elif self.remaining:
                piece = self.buffer[: self.remaining]
                out.append(piece)
                self.buffer = self.buffer[len(piece) :]
                self.remaining -= len(piece)
                self.skip = 0 if self.remaining else 2
            else:
                end = self.buffer.find(b"\r\n")
                if end < 0:
                    break
                self.remaining = int(self.buffer[:end].split(b";")[0], 16)
                self.buffer = self.buffer[end + 2 :]
                if not self.remaining:
                    break  # the last chunk
        return b"".join(out)


def own_cpu_s() -> float:
    """CPU seconds (user + system) this process has used: the clients' cost, apart."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def watch(url: str, session_id: int, since: int, count: int, deflate: bool) -> dict:
    """`count` SSE streams, until a line comes on stdin. Times are time.monotonic (system-wide).

    Raw sockets and a bytes search, not an HTTP library: 100 streams in one Python
    process must read as fast as one server writes, or the clients measure themselves.
    """
    first_seen: list[dict[int, float]] = [{} for _ in range(count)]
    # Per watcher, each time its newest event so far moved on: (time, newest seq). A page
    # that shows event n (or a newer one: a frame carries at most the page's window of
    # rows, and a refresh shows the newest) is current as of n.
    progress: list[list[tuple[float, int]]] = [[] for _ in range(count)]
    received = [0] * count
    dropped = [False] * count
    refreshes = [0] * count
    frames = [0] * count  # messages with an id: frames, refreshes, gaps (not pings)
    connected = 0
    all_connected = asyncio.Event()
    host, port = url.removeprefix("http://").split(":")
    # A browser asks for deflate (and gets it: web/sse_wire.py); --plain measures without.
    accept = "Accept-Encoding: deflate\r\n" if deflate else ""
    request = (
        f"GET /sessions/{session_id}/stream?since={since} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Accept: text/event-stream\r\n{accept}\r\n"
    ).encode()
    wire_bytes = [0] * count

    async def one(n: int) -> None:
        nonlocal connected
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(request)
        tail = b""
        hello = False
        inflate = None
        body = Dechunk()
        try:
            while chunk := await reader.read(1 << 16):
                now = time.monotonic()
                wire_bytes[n] += len(chunk)
                if inflate is None and deflate:
                    head, _, chunk = chunk.partition(b"\r\n\r\n")  # the response's head
                    assert b"content-encoding: deflate" in head.lower(), head
                    assert b"transfer-encoding: chunked" in head.lower(), head
                    inflate = zlib.decompressobj(-zlib.MAX_WBITS)
                if inflate is not None:
                    chunk = inflate.decompress(body.feed(chunk))
                text = tail + chunk
                if not hello and b"data:" in text:
                    hello = True
                    connected += 1
                    if connected == count:
                        all_connected.set()
                received[n] += len(chunk)
                # "\r\nid: " opens an id line after the message before it (its last byte
                # may be in the read before), or after `retry:`.
                frames[n] += (tail[-1:] + chunk).count(b"\nid: ")
                if REFRESH in text:
                    refreshes[n] += 1
                seqs = [int(seq) for seq in SEQ.findall(text)]
                for seq in seqs:
                    first_seen[n].setdefault(seq, now)
                if seqs and (not progress[n] or max(seqs) > progress[n][-1][1]):
                    progress[n].append((now, max(seqs)))
                tail = text[-64:]  # a marker cut by a read boundary is found next time
            dropped[n] = True  # the server closed the stream before the end
        except ConnectionError:
            dropped[n] = True
        finally:
            writer.close()

    tasks = [asyncio.create_task(one(n)) for n in range(count)]
    await all_connected.wait()
    print("READY", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    # Per event: the last watcher's time and how many watchers got it.
    merged: dict[int, list] = {}
    for seen in first_seen:
        for seq, at in seen.items():
            slot = merged.setdefault(seq, [at, 0])
            slot[0] = max(slot[0], at)
            slot[1] += 1
    return {
        "events": merged,
        "progress": progress,
        "refreshes": sum(1 for r in refreshes if r),
        "frames": max(frames, default=0),
        "dropped": sum(dropped),
        "bytes": sum(received),
        "wire_bytes": sum(wire_bytes),
        "watchers": count,
        "cpu_s": own_cpu_s(),
    }


# --- the orchestrator ------------------------------------------------------------------


async def post_events(
    url: str,
    key: str,
    rate: float,
    seconds: float,
    acked: list[float],
    refused: list[int],
    batch: int = 1,
) -> dict[int, float]:
    """Post `batch` events a request, `rate` events a second; returns when each was sent.

    Fills `acked` with each request's time to its answer (ms).
    """
    sent: dict[int, float] = {}
    tasks = []
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
        await http.get("/ping")

        async def one(first: int) -> None:
            seqs = range(first, first + batch)
            events = [event_body(seq) for seq in seqs]
            body = json.dumps(events[0] if batch == 1 else events)
            now = time.monotonic()
            for seq in seqs:
                sent[seq] = now
            give_up_at = time.monotonic() + 60
            while True:
                try:
                    answer = await http.post(
                        "/collect", content=body,
                        headers={"X-Write-Key": key, "Content-Type": "application/json"},
                    )  # fmt: skip
                except httpx.TransportError:
                    # A kept-alive connection the server closed as we reused it: send again
                    # (the message-less event may then be stored twice; it is not counted twice).
                    refused.append(0)
                    if time.monotonic() > give_up_at:
                        raise
                    continue
                if answer.status_code not in (429, 503) or time.monotonic() > give_up_at:
                    break
                refused.append(answer.status_code)  # shed: sent again, as an SDK would
                await asyncio.sleep(min(2.0, float(answer.headers.get("retry-after", 1))))
            if answer.status_code in (429, 503):
                # Refused for a minute: an SDK would drop or keep it; the run counts it apart.
                for seq in seqs:
                    sent.pop(seq, None)
                refused.append(-answer.status_code)
                return
            if answer.status_code != 200 or answer.json()["stored"] != batch:
                raise RuntimeError(f"{answer.status_code}: {answer.text[:300]}")
            acked.append((time.monotonic() - now) * 1000)

        start = time.monotonic()
        seq = 0
        while time.monotonic() - start < seconds:
            tasks.append(asyncio.create_task(one(seq)))
            seq += batch
            await asyncio.sleep(max(0.0, start + seq / rate - time.monotonic()))
        await asyncio.gather(*tasks)
    return sent


async def run(args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="tm-bench-sse-"))
    port = free_port()
    env = {
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "SQLITE_PATH": str(workdir / "bench.sqlite3"),
        "SECRET_KEY": "bench",
        "INGEST_RATE_PER_S": "1000000",
        "INGEST_BURST": "10000000",
        # Every watcher is the same local admin: the per-user cap would refuse past 8.
        "SSE_STREAMS_PER_USER": "1000",
    }
    settings = load_settings(env, env_file=None)
    await database.migrate(settings)
    ids = await seed(settings)
    url = f"http://127.0.0.1:{port}"
    watchers: list[asyncio.subprocess.Process] = []
    async with trackmaster_process(env, port) as server:
        try:
            session = await start_session(url, ids["project"], ["bench-user"], ids["events"])
            print(f"server pid {server.pid} on port {port}", flush=True)  # for a profiler
            per_proc = [args.watchers // args.client_procs] * args.client_procs
            per_proc[0] += args.watchers - sum(per_proc)
            for count in per_proc:
                watchers.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        __file__,
                        "--watch",
                        url,
                        str(session["id"]),
                        str(session["revision"]),
                        str(count),
                        "plain" if args.plain else "deflate",
                        stdin=asyncio.subprocess.PIPE,
                        stdout=asyncio.subprocess.PIPE,
                        cwd=ROOT,
                    )
                )
            for proc in watchers:
                line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
                assert line.strip() == b"READY", line
            cpu_before, started = cpu_s(server.pid), time.monotonic()
            poster_cpu_before = own_cpu_s()
            acked: list[float] = []
            refused: list[int] = []
            load_before = os.getloadavg()
            sent = await post_events(
                url, ids["key"], args.rate, args.seconds, acked, refused, args.batch
            )
            posting_s = time.monotonic() - started
            await asyncio.sleep(3)
            cpu_used = cpu_s(server.pid) - cpu_before
            poster_cpu = own_cpu_s() - poster_cpu_before
            results = []
            for proc in watchers:  # the watchers stop and report
                out, _ = await proc.communicate(b"STOP\n")
                results.append(json.loads(out))
        finally:
            for proc in watchers:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()

    total_watchers = sum(r["watchers"] for r in results)
    # Current within: per event and watcher, from its POST to the watcher showing it or a
    # newer event; the worst watcher per event, then percentiles over events.
    current: list[float] = []
    never_current = 0
    for seq, sent_at in sent.items():
        worst = 0.0
        for result in results:
            for steps in result["progress"]:
                at = next((t for t, newest in steps if newest >= seq), None)
                if at is None:
                    worst = float("inf")
                    break
                worst = max(worst, at - sent_at)
            if worst == float("inf"):
                break
        if worst == float("inf"):
            never_current += 1
        else:
            current.append(worst * 1000)
    current.sort()
    latencies, incomplete = [], 0
    for seq, sent_at in sent.items():
        last, count = sent_at, 0
        for result in results:
            got = result["events"].get(str(seq))
            if got:
                last, count = max(last, got[0]), count + got[1]
        if count < total_watchers:
            incomplete += 1
        else:
            latencies.append((last - sent_at) * 1000)
    latencies.sort()
    acked.sort()
    return {
        "stored_p50_ms": statistics.median(acked),
        "stored_p99_ms": acked[min(len(acked) - 1, int(len(acked) * 0.99))],
        "events": len(sent),
        "watchers": total_watchers,
        "rate": len(sent) / posting_s,
        "p50_ms": statistics.median(latencies) if latencies else None,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        if latencies
        else None,
        "max_ms": latencies[-1] if latencies else None,
        "events_not_at_every_watcher": incomplete,
        "watchers_that_fell_behind": sum(r["refreshes"] for r in results),
        "server_cpu_percent": 100 * cpu_used / (posting_s + 3),
        "server_cpu_s": cpu_used,
        "current_p50_ms": statistics.median(current) if current else None,
        "current_p99_ms": current[min(len(current) - 1, int(len(current) * 0.99))]
        if current
        else None,
        "current_max_ms": current[-1] if current else None,
        "never_current": never_current,
        "dropped": sum(r["dropped"] for r in results),
        "kb_per_watcher_s": sum(r["bytes"] for r in results) / total_watchers / posting_s / 1024,
        "wire_kb_per_watcher_s": sum(r["wire_bytes"] for r in results)
        / total_watchers
        / posting_s
        / 1024,
        # The watchers' whole lives (connecting too), and the poster's while it posted.
        "watchers_cpu_s": sum(r["cpu_s"] for r in results),
        "frames": max(r["frames"] for r in results),
        "poster_cpu_s": poster_cpu,
        "wall_s": posting_s,
        "refused": sum(1 for code in refused if code >= 0),
        "gave_up": sum(1 for code in refused if code < 0),
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--watch":
        url, session_id, since, count, encoding = sys.argv[2:7]
        result = asyncio.run(
            watch(url, int(session_id), int(since), int(count), encoding == "deflate")
        )
        print(json.dumps(result), flush=True)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watchers", type=int, default=200, help="SSE streams in all")
    parser.add_argument("--rate", type=float, default=50.0, help="events posted per second")
    parser.add_argument("--seconds", type=float, default=25.0, help="how long to post")
    parser.add_argument("--client-procs", type=int, default=2, help="processes for the watchers")
    parser.add_argument(
        "--batch", type=int, default=1, help="events a POST (SDKs batch); the rate is events"
    )
    parser.add_argument(
        "--plain", action="store_true", help="watchers do not accept deflate (as before it)"
    )
    args = parser.parse_args()
    result = asyncio.run(run(args))

    def ms(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1f} ms"

    print(
        f"{result['watchers']} watchers, {result['events']} events at {result['rate']:.1f}/s: "
        f"every watcher current within p50 {ms(result['current_p50_ms'])}, "
        f"p99 {ms(result['current_p99_ms'])}, max {ms(result['current_max_ms'])}; "
        f"never current: {result['never_current']}; dropped: {result['dropped']}; "
        f"{result['kb_per_watcher_s']:.1f} KB/s per watcher ({result['wire_kb_per_watcher_s']:.1f}"
        f" on the wire); CPU s over {result['wall_s']:.1f} s: server "
        f"{result['server_cpu_s']:.1f}, watchers {result['watchers_cpu_s']:.1f}, poster "
        f"{result['poster_cpu_s']:.1f}; frames a watcher got: {result['frames']} (server CPU "
        f"{1000 * result['server_cpu_s'] / max(1, result['events']):.2f} ms an event); load "
        f"{result['load_before'][0]:.1f} -> "
        f"{result['load_after'][0]:.1f}; refused and resent: {result['refused']}; "
        f"POSTs given up after a minute of refusals: {result['gave_up']}",
        flush=True,
    )
    print(
        f"{result['watchers']} watchers, {result['events']} events at {result['rate']:.1f}/s: "
        f"row of that event at every watcher p50 {ms(result['p50_ms'])}, "
        f"p99 {ms(result['p99_ms'])}, max {ms(result['max_ms'])}; events not at every watcher: "
        f"{result['events_not_at_every_watcher']}; watchers that fell behind: "
        f"{result['watchers_that_fell_behind']}; server CPU {result['server_cpu_percent']:.0f}%; "
        f"POST answered (stored) p50 {result['stored_p50_ms']:.1f} ms, "
        f"p99 {result['stored_p99_ms']:.1f} ms",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
