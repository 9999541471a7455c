"""A web process holds ONE Redis client: every Redis connection it opens carries the name
its Runtime gave that client (trackmaster/runtime.py), whichever part used it.

Issue 11 counted five clients in one web process (bus, locks, guard, heartbeat, one per
/healthz call). Here a real `trackmaster serve` runs against the real Redis; after every
part that talks to Redis has worked (the bus subscribes at start, /healthz pings, a
login is throttled, an ingest with an unknown key is rate limited), the process's own
TCP connections to Redis (read from /proc) are matched with CLIENT LIST: a second
client, made anywhere without the Runtime, would show as a connection with another name.
A client that never connected shows in no list, so the server also counts every Redis
client object made in it (a wrapper installed before `serve` starts, read on a route).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx
import redis

from tests.support.process_server import server_process

# Run in the server process before `trackmaster serve`: count every Redis client made.
COUNT_CLIENTS = """
import redis.asyncio
from starlette.responses import JSONResponse
from starlette.routing import Route
import web.app

_made = []
_serving = []
_init = redis.asyncio.Redis.__init__

def _counted(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    if _serving:  # not the start-up probe of `serve` (closed before the app is made)
        _made.append(self)

redis.asyncio.Redis.__init__ = _counted
_create_app = web.app.create_app

def _create_counted(*args, **kwargs):
    _serving.append(True)
    return _create_app(*args, **kwargs)

web.app.create_app = _create_counted

async def _clients(request):
    names = [c.connection_pool.connection_kwargs.get("client_name") for c in _made]
    return JSONResponse({"names": names})

_routes = web.app._all_routes
web.app._all_routes = lambda: [Route("/test/redis-clients", _clients), *_routes()]
"""


def _sockets_of(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed while we looked
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def local_ports_to(pid: int, remote_port: int) -> set[int]:
    """Local ports of the process's established TCP connections to `remote_port`."""
    inodes = _sockets_of(pid)
    ports = set()
    for table in ("tcp", "tcp6"):
        lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        for line in lines:
            columns = line.split()
            local, remote, state, inode = columns[1], columns[2], columns[3], columns[9]
            if (
                inode in inodes
                and state == "01"
                and int(remote.rsplit(":", 1)[1], 16) == remote_port
            ):
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


def _exercise(url: str) -> None:
    with httpx.Client(base_url=url, timeout=10) as http:
        for _ in range(3):
            assert http.get("/healthz").status_code in (200, 503)
        # The login throttle counts the failure in Redis.
        wrong = {"username": "ada", "password": "not the password"}
        assert http.post("/login", data=wrong).status_code in (400, 401, 403, 429)
        # The ingest rate limit and the unknown-key limiter run before the key is refused.
        refused = http.post("/collect", json=[{"event": "x"}], headers={"X-Write-Key": "nope"})
        assert refused.status_code in (401, 403, 429)


def test_a_web_process_opens_one_redis_client(tmp_path, redis_url, redis_prefix) -> None:
    redis_port = urlparse(redis_url).port or 6379
    with server_process(
        tmp_path, admin=None, prelude=COUNT_CLIENTS, REDIS=redis_url, REDIS_PREFIX=redis_prefix
    ) as server:
        _exercise(server.url)
        expected = f"{redis_prefix}web:{server.pid}"
        answer = httpx.get(server.url + "/test/redis-clients")
        assert answer.status_code == 200, answer.text[:300]
        made = answer.json()["names"]
        client = redis.Redis.from_url(redis_url)
        try:
            deadline = time.monotonic() + 10
            while True:
                ports = local_ports_to(server.pid, redis_port)
                listed = {
                    int(entry["addr"].rsplit(":", 1)[1]): entry.get("name", "")
                    for entry in client.client_list()
                }
                names = {listed[port] for port in ports if port in listed}
                # A connection that opened or closed between the two reads: look again.
                if (ports and ports <= listed.keys()) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        finally:
            client.close()
    assert made == [expected], f"Redis clients made in the web process: {made}"
    assert ports, "the web process holds no connection to Redis: nothing was counted"
    assert ports <= listed.keys(), (ports, sorted(listed))
    assert names == {expected}, f"connections named {names}, not only {expected!r}"
