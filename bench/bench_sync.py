"""Benchmark (not a test): a full sync of a 1,000-story plan from the fake Jet, per database.

    python bench/bench_sync.py [STORIES] [--only sqlite|mariadb]

The plan: STORIES stories (default 1,000) of 10 events of 10 fields each
(100,000 fields; a third enumerated, a third with `|` alternatives, a third
free). For SQLite (a fresh file) and MariaDB (a fresh database on the
services of scripts/services, TEST_DB_* to point elsewhere) it prints the
time of the first sync (everything created), of a second sync (nothing
changes) and of a sync after 50 stories changed, as wall time and as this
process's CPU time (the fake Jet runs in a process of its own, as a real Jet
would). Target: under 10 s for the first sync on each. The figures go in
docs/plans.md and bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import MARIADB, _mysql_admin
from tests.fakes.jet import FakeJet, seed_big_plan
from tests.support.servers import free_port
from trackmaster import db as database
from trackmaster.db import Database
from trackmaster.models import Field, Project
from trackmaster.plan.jet import JetClient
from trackmaster.plan.sync import sync_project_from_jet
from trackmaster.settings import Settings, load_settings


async def _timed_sync(project: Project, jet: JetClient) -> tuple[str, str]:
    started, cpu = time.perf_counter(), time.process_time()
    run = await sync_project_from_jet(project, jet, trigger="bench", full=True)
    # Wall time, and this process's CPU time: on a busy machine the second is the steadier.
    elapsed = f"{time.perf_counter() - started:6.2f} s (cpu {time.process_time() - cpu:5.2f} s)"
    if run.status != "ok":
        raise SystemExit(f"sync failed: {run.error}")
    created = run.diff.get("created", {})
    updated = run.diff.get("updated", {})
    return elapsed, f"created {created or '-'}, updated {updated or '-'}"


async def bench(name: str, settings: Settings, url: str, project_jet_id: str) -> None:
    import httpx

    await database.migrate(settings)
    opened = await Database.open(settings)
    try:
        project = await Project.create(name="Big plan", jet_id=project_jet_id)
        async with JetClient(url, 30.0, 1, story_page_size=100, concurrency=8) as jet:
            first, first_diff = await _timed_sync(project, jet)
            fields = await Field.filter(event__story__project_id=project.id).count()
            second, second_diff = await _timed_sync(project, jet)
            async with httpx.AsyncClient(base_url=url) as http:
                await http.post("/_bench/touch", params={"n": 50})
            third, third_diff = await _timed_sync(project, jet)
        print(f"{name:8} first sync   {first}  ({fields} fields; {first_diff})")
        print(f"{name:8} second sync  {second}  ({second_diff})")
        print(f"{name:8} 50 changed   {third}  ({third_diff})")
    finally:
        await opened.close()


def _serve_fake_jet(port: int, stories: int) -> None:
    """The fake Jet in its own process, as a real Jet is: its CPU is not the sync's."""
    import uvicorn
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    fake = FakeJet()
    seed_big_plan(fake, stories=stories)

    async def touch(request: Request) -> JSONResponse:
        # Not Jet's contract: lets the benchmark change N stories between syncs.
        count = int(request.query_params.get("n", "50"))
        for story_id in list(fake.stories)[:count]:
            fake.edit_story(story_id, name=fake.stories[story_id]["name"] + " (v2)")
        return JSONResponse({"touched": count})

    app = fake.app
    app.router.routes.append(Route("/_bench/touch", touch, methods=["POST"]))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


async def _wait_for(url: str) -> None:
    import httpx

    async with httpx.AsyncClient() as http:
        for _ in range(600):
            try:
                await http.get(url + "/v1/internals/project")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise SystemExit(f"the fake Jet did not start at {url}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stories", nargs="?", type=int, default=1000)
    parser.add_argument("--only", choices=["sqlite", "mariadb"])
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    child = multiprocessing.get_context("spawn").Process(
        target=_serve_fake_jet, args=(port, args.stories), daemon=True
    )
    child.start()
    try:
        await _wait_for(url)
        async with JetClient(url, 30.0) as jet:
            project_jet_id = (await jet.projects())[0].id
        base = load_settings({}, env_file=None)
        if args.only in (None, "sqlite"):
            with tempfile.TemporaryDirectory() as tmp:
                sqlite = base.replace(sqlite_path=str(Path(tmp) / "bench.sqlite3"))
                await bench("sqlite", sqlite, url, project_jet_id)
        if args.only in (None, "mariadb"):
            name = f"tm_bench_{uuid.uuid4().hex[:8]}"
            await _mysql_admin(
                f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            )
            try:
                mariadb = base.replace(
                    db_host=MARIADB["host"],
                    db_port=MARIADB["port"],
                    db_user=MARIADB["user"],
                    db_password=MARIADB["password"],
                    db_name=name,
                )
                await bench("mariadb", mariadb, url, project_jet_id)
            finally:
                await _mysql_admin(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        child.terminate()
        child.join(5)


if __name__ == "__main__":
    asyncio.run(main())
