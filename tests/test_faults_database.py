"""Database outages on a private MariaDB: killed, and frozen (a hung server), then back.

While the database is away ingest answers 503 with Retry-After (never 500,
never a hang past DB_TIMEOUT_S), the outage is logged once and notified once,
/healthz/ready says not ready, every acknowledged event is stored exactly
once, and the first event is accepted again within 2 s of the server being back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.conftest import base_settings, running_app
from tests.support.faults import Traffic, assert_all_stored_once, running
from tests.support.private_services import DB_PASSWORD, DB_USER, PrivateMariaDB
from tests.support.realtime import make_plan
from tests.support.schedule import ROOT, Proc, eventually, process_env
from tests.support.servers import free_port, serve
from trackmaster import db as database
from trackmaster.db import Database
from trackmaster.db_outage import OUTAGE

pytestmark = [pytest.mark.faults, pytest.mark.services]

DB_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
async def private_mariadb() -> AsyncIterator[PrivateMariaDB]:
    server = PrivateMariaDB()
    try:
        await server.install()
        yield server
    finally:
        server.close()


@pytest.fixture
async def faulty_settings(private_mariadb: PrivateMariaDB, tmp_path):
    """Settings on the private MariaDB, its schema migrated and emptied, the ORM open on it."""
    if private_mariadb.process is None:
        await private_mariadb.start()
    name = f"tm_faults_{int(time.time() * 1000)}"
    settings = base_settings(
        tmp_path, db_host="127.0.0.1", db_port=private_mariadb.port, db_user=DB_USER,
        db_password=DB_PASSWORD, db_name=name, db_timeout_s=DB_TIMEOUT_S,
    )  # fmt: skip
    import aiomysql

    admin = await aiomysql.connect(
        host="127.0.0.1", port=private_mariadb.port, user=DB_USER, password=DB_PASSWORD
    )
    async with admin.cursor() as cursor:
        await cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    admin.close()
    await database.migrate(settings)
    opened = await Database.open(settings)
    try:
        yield settings
    finally:
        await opened.close()


@contextlib.asynccontextmanager
async def webhook() -> AsyncIterator[tuple[str, list[dict]]]:
    received: list[dict] = []

    async def hook(request: Request) -> Response:
        received.append(await request.json())
        return Response(status_code=204)

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    async with serve(app, lifespan="off") as server:
        yield f"{server.url}/hook", received


async def _start_session(http: httpx.AsyncClient, plan) -> int:
    answer = await http.post(
        "/api/v3/realTime/start",
        json={"project": plan.project.id, "accounts": ["alice-42"], "events": [plan.play.id]},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


async def _outage(kind: str, server: PrivateMariaDB, settings, caplog) -> dict:
    """Run traffic, take the database away for a few seconds in `kind` way, bring it back."""
    plan = await make_plan()
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.WARNING, logger="httpx")
    async with webhook() as (hook_url, notified):
        noisy = settings.replace(notify_webhook_url=hook_url)
        async with (
            running_app(noisy) as web,
            httpx.AsyncClient(base_url=web.url, timeout=10) as http,
        ):
            session_id = await _start_session(http, plan)
            traffic = Traffic(http, plan.project.write_key, senders=4)
            async with running(traffic):
                await asyncio.sleep(1.0)
                away_at = time.monotonic()
                if kind == "kill":
                    server.kill()
                else:
                    server.freeze()
                await asyncio.sleep(3.0)
                ready = await http.get("/healthz/ready")
                ready_s = time.monotonic()
                live = await http.get("/healthz/live")
                ready_took_s = time.monotonic() - ready_s
                # The window "while away" ends here, before the database is started again:
                # `back_at` is stamped when the port is seen open, up to a poll (50 ms) and
                # a loop turn after it was, and answers of that gap are rightly 200.
                restarted_at = time.monotonic()
                if kind == "kill":
                    await server.start()
                else:
                    server.thaw()
                back_at = time.monotonic()
                await asyncio.sleep(2.5)
            during = traffic.statuses(away_at + DB_TIMEOUT_S + 0.5, restarted_at)
            traffic.assert_clean()
            await assert_all_stored_once(traffic, session_id)
            recovered_s = traffic.first_ok_after(back_at)
            slowest_s = max(a.took_s for a in traffic.answers)
            await asyncio.sleep(0.2)  # the one notification is sent from a task
    warnings = [r for r in caplog.records if r.getMessage().startswith("database unavailable")]
    return {
        "during": during,
        "ready": ready,
        "live": live,
        "ready_took_s": ready_took_s,
        "recovered_s": recovered_s,
        "slowest_s": slowest_s,
        "warnings": warnings,
        "notified": [n for n in notified if n["title"] == "database unavailable"],
        "job_failed": [n for n in notified if n["title"] == "job failed"],
        "acked": len(traffic.acked),
        "tracebacks": [r for r in caplog.records if r.exc_info and r.levelno >= logging.ERROR],
    }


@pytest.mark.parametrize("kind", ["kill", "freeze"])
async def test_a_database_outage_answers_503_and_recovers_within_2_s(
    kind: str, private_mariadb: PrivateMariaDB, faulty_settings, caplog
) -> None:
    seen = await _outage(kind, private_mariadb, faulty_settings, caplog)
    print(
        f"database {kind}: {seen['acked']} acked, answers during {dict(seen['during'])}, "
        f"recovered in {seen['recovered_s']} s, slowest answer {seen['slowest_s']:.2f} s"
    )
    assert seen["during"].get(503, 0) > 0, seen["during"]
    assert set(seen["during"]) <= {503}, seen["during"]
    assert seen["ready"].status_code == 503 and seen["ready"].headers["retry-after"]
    assert seen["live"].status_code == 200
    assert seen["ready_took_s"] < 3, "readiness must not hang on a hung database"
    # Bounded by the deadline (plus a connect attempt), never the client's 10 s timeout.
    assert seen["slowest_s"] < 4 * DB_TIMEOUT_S + 1, seen["slowest_s"]
    assert seen["recovered_s"] is not None and seen["recovered_s"] < 2.0, seen["recovered_s"]
    assert len(seen["warnings"]) == 1, [r.getMessage() for r in seen["warnings"]]
    assert len(seen["notified"]) == 1 and not seen["job_failed"], seen["notified"]
    assert not seen["tracebacks"], [r.getMessage() for r in seen["tracebacks"]]
    assert not OUTAGE.down


def _web_process(settings, tmp_path, name: str) -> tuple[Proc, str]:
    """`trackmaster serve` as an operator starts it, on `settings`' database."""
    port = free_port()
    env = process_env(settings, REDIS="", JET_URL="", DB_TIMEOUT_S=str(DB_TIMEOUT_S))
    command = [str(ROOT / ".venv/bin/trackmaster"), "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port)]
    return Proc(command, env, ROOT, tmp_path / f"{name}.log"), f"http://127.0.0.1:{port}"


async def _answers_live(url: str, web: Proc) -> bool:
    assert web.popen.poll() is None, f"the web exited:\n{web.output}"
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            return (await http.get(f"{url}/healthz/live")).status_code == 200
    except httpx.HTTPError:
        return False


async def test_a_web_started_while_the_database_is_away_takes_events_once_it_is_back(
    private_mariadb: PrivateMariaDB, faulty_settings, tmp_path
) -> None:
    """Issue 14: an outage already there when the web starts degrades too (503 with
    Retry-After, ready says not ready) and the first event is accepted within 2 s of the
    database being back, with no restart; every acknowledged event stored once."""
    plan = await make_plan()
    async with (
        running_app(faulty_settings) as sibling,
        httpx.AsyncClient(base_url=sibling.url, timeout=10) as http,
    ):
        session_id = await _start_session(http, plan)
    private_mariadb.kill()
    web, url = _web_process(faulty_settings, tmp_path, "web")
    try:
        await eventually(lambda: _answers_live(url, web), timeout_s=60, every_s=0.2, what="live")
        output = web.output
        assert f"cannot connect to MySQL at 127.0.0.1:{private_mariadb.port}" in output, output
        assert "Starting degraded" in output and "Traceback" not in output, output
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            ready = await client.get("/healthz/ready")
            assert ready.status_code == 503 and ready.headers["retry-after"], ready.text
            assert "has not answered since TrackMaster started" in ready.text
            page = await client.get("/sessions", headers={"Accept": "text/html"})
            assert page.status_code == 503 and page.headers["retry-after"]
            assert "text/html" in page.headers["content-type"]
            traffic = Traffic(client, plan.project.write_key, senders=2)
            async with running(traffic):
                await asyncio.sleep(1.0)
                refused = traffic.statuses()
                await private_mariadb.start()
                back_at = time.monotonic()
                await asyncio.sleep(2.5)
            traffic.assert_clean()
            assert set(refused) == {503}, refused
            recovered_s = traffic.first_ok_after(back_at)
            assert recovered_s is not None and recovered_s < 2.0, recovered_s
            assert (await client.get("/healthz/ready")).status_code == 200
        await assert_all_stored_once(traffic, session_id)
        assert len(traffic.acked) > 0
        assert "its schema is current: taking traffic" in web.output, web.output
    finally:
        web.signal(signal.SIGTERM)
        await web.wait_exit(30)


async def test_a_database_back_without_its_migrations_is_refused_until_they_are_applied(
    private_mariadb: PrivateMariaDB, faulty_settings, tmp_path
) -> None:
    """A database that comes back lacking migrations is never queried: 503 saying what to
    run, said once in the log; after `trackmaster migrate` the same process takes events."""
    import aiomysql

    name = f"{faulty_settings.db_name}_new"
    admin = await aiomysql.connect(
        host="127.0.0.1", port=private_mariadb.port, user=DB_USER, password=DB_PASSWORD
    )
    async with admin.cursor() as cursor:
        await cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    admin.close()
    empty = faulty_settings.replace(db_name=name)
    private_mariadb.kill()
    web, url = _web_process(empty, tmp_path, "web")
    try:
        await eventually(lambda: _answers_live(url, web), timeout_s=60, every_s=0.2, what="live")
        await private_mariadb.start()
        await web.wait_for_line("run `trackmaster migrate` first", timeout_s=10)
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            answer = await client.post("/collect", json=[], headers={"X-Write-Key": "k"})
            assert answer.status_code == 503 and answer.headers["retry-after"], answer.text
            assert "run `trackmaster migrate` first" in answer.json()["msg"], answer.text
            ready = await client.get("/healthz/ready")
            assert ready.status_code == 503 and "migrate" in ready.text
            await database.migrate(empty)

            async def ready_now() -> bool:
                return (await client.get("/healthz/ready")).status_code == 200

            await eventually(ready_now, timeout_s=5, every_s=0.1, what="ready after migrate")
        assert web.output.count("run `trackmaster migrate` first") == 1, web.output
    finally:
        web.signal(signal.SIGTERM)
        await web.wait_exit(30)


async def test_the_producer_started_while_the_database_is_away_runs_once_it_is_back(
    private_mariadb: PrivateMariaDB, faulty_settings, tmp_path, unique_topic: str
) -> None:
    """A worker waits through a database away at its start (said once) and starts its
    work when the database is back, with no restart."""
    private_mariadb.kill()
    env = process_env(
        faulty_settings, BROKER="127.0.0.1:9092", TOPIC=unique_topic, REDIS="",
        SCHEDULE_SCAN_INTERVAL_S="1",
    )  # fmt: skip
    command = [str(ROOT / ".venv/bin/python"), "-m", "workers.producer"]
    producer = Proc(command, env, ROOT, tmp_path / "producer.log")
    try:
        await producer.wait_for_line("Waiting for it", timeout_s=30)
        await asyncio.sleep(2.5)  # retries meanwhile say nothing more
        await private_mariadb.start()
        await producer.wait_for_line("scan done", timeout_s=30)
        output = producer.output
        assert output.count(f"cannot connect to MySQL at 127.0.0.1:{private_mariadb.port}") == 1
        assert "producer up" in output and "Traceback" not in output, output
    finally:
        producer.signal(signal.SIGTERM)
        await producer.wait_exit(30)


async def test_a_schema_watch_says_each_trouble_once_and_opens_when_current(caplog) -> None:
    """Back but refusing the user: the reason it gives, said once; then current: open."""
    from trackmaster.reachability import Away, Unreachable
    from trackmaster.schema_watch import AWAY_SINCE_START, SchemaWatch

    refused = "MySQL refused user 'tm'"
    answers: list[BaseException | list[str]] = [
        Away("away"), Unreachable(refused), Unreachable(refused),
        ["models.0010"], ["models.0010"], [],
    ]  # fmt: skip
    seen: list[str | None] = []

    async def pending() -> list[str]:
        seen.append(watch.closed_because)
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    watch = SchemaWatch(pending, lambda missing: f"missing {missing}", interval_s=0.01)
    caplog.set_level(logging.INFO, logger="trackmaster.schema_watch")
    watch.start()
    async with asyncio.timeout(5):
        await watch.opened.wait()
    await watch.close()
    assert seen == [
        AWAY_SINCE_START, AWAY_SINCE_START, "MySQL refused user 'tm'", "MySQL refused user 'tm'",
        "missing ['models.0010']", "missing ['models.0010']",
    ]  # fmt: skip
    assert watch.closed_because is None
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == ["MySQL refused user 'tm' Answering 503 until then.",
                      "missing ['models.0010']; answering 503 until then"]  # fmt: skip
