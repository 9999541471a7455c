"""Shared fixtures: real databases (SQLite and MariaDB), Redis, Kafka, live servers, a browser.

Every test that asks for `db` runs twice, once per database backend. The
MariaDB, Redis and Kafka of `scripts/services` must be running (the test
command starts them); when one cannot be reached the tests that need it
fail, naming the service: nothing is skipped silently.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.servers import RunningServer, serve
from trackmaster import db as database
from trackmaster.db import Database
from trackmaster.settings import Settings, load_settings

# Fakes of third parties, as fixtures (fake_jet, ...).
pytest_plugins = ["tests.fakes.jet"]

# The MariaDB half of every `db` test carries the `mariadb` mark: `-m "not mariadb"` runs SQLite.
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("mariadb", id="mariadb", marks=[pytest.mark.mariadb, pytest.mark.services]),
]
RUN_ID = uuid.uuid4().hex[:8]

MARIADB = {
    "host": os.environ.get("TEST_DB_HOST", "127.0.0.1"),
    "port": int(os.environ.get("TEST_DB_PORT", "3306")),
    "user": os.environ.get("TEST_DB_USER", "trackmaster"),
    "password": os.environ.get("TEST_DB_PASSWORD", "trackmaster"),
}
REDIS_URL = os.environ.get("TEST_REDIS", "redis://127.0.0.1:6379/0")
KAFKA_BOOTSTRAP = os.environ.get("TEST_BROKER", "127.0.0.1:9092")
CHROMIUM = os.environ.get("TEST_CHROMIUM", "/usr/bin/chromium")


# Marks that follow from the fixtures a test uses, so that they cannot be forgotten:
# `scripts/test -m "not browser and not kafka"` and the like select by what a test needs.
MARKS_BY_FIXTURE = {
    "page": ("browser",),
    "browser": ("browser",),
    "chromium_path": ("browser",),
    "kafka_bootstrap": ("kafka", "services"),
    "redis_url": ("redis", "services"),
}


# `slow` is measured: scripts/slow-tests writes the tests over 0.3 s from a JUnit report.
SLOW_TESTS = {
    line.strip()
    for line in (Path(__file__).parent / "slow_tests.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid in SLOW_TESTS:
            item.add_marker("slow")
        names = set(getattr(item, "fixturenames", ()))
        for fixture, marks in MARKS_BY_FIXTURE.items():
            if fixture in names:
                for mark in marks:
                    item.add_marker(mark)


def require_service(name: str, host: str, port: int, hint: str = "run scripts/services up") -> None:
    """Fail (never skip) when a service the test needs does not answer."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return
    except OSError as exc:
        pytest.fail(f"{name} is not reachable on {host}:{port} ({exc}); {hint}", pytrace=False)


def base_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings as a fresh install would have them, with no .env file read."""
    settings = load_settings({"SQLITE_PATH": str(tmp_path / "tm.sqlite3")}, env_file=None)
    return settings.replace(**overrides) if overrides else settings


# --- databases -------------------------------------------------------------------------


async def _mysql_admin(sql: str) -> None:
    import aiomysql

    connection = await aiomysql.connect(**MARIADB, autocommit=True)
    try:
        async with connection.cursor() as cursor:
            await cursor.execute(sql)
    finally:
        connection.close()


@pytest.fixture(scope="session", params=BACKENDS)
async def migrated_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Settings]:
    """A migrated, empty database of one backend, for the whole test session."""
    tmp = tmp_path_factory.mktemp(f"db-{request.param}")
    if request.param == "sqlite":
        settings = base_settings(tmp)
        await database.migrate(settings)
        yield settings
        return
    async with empty_mariadb(tmp, f"tm_test_{RUN_ID}_{os.getpid()}") as settings:
        await database.migrate(settings)
        yield settings


@contextlib.asynccontextmanager
async def empty_mariadb(tmp: Path, name: str) -> AsyncIterator[Settings]:
    """Settings of a new, empty MariaDB database `name`, dropped on the way out."""
    require_service("MariaDB", MARIADB["host"], MARIADB["port"])
    await _mysql_admin(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    try:
        yield base_settings(
            tmp,
            db_host=MARIADB["host"],
            db_port=MARIADB["port"],
            db_user=MARIADB["user"],
            db_password=MARIADB["password"],
            db_name=name,
        )
    finally:
        await _mysql_admin(f"DROP DATABASE IF EXISTS `{name}`")


async def _empty_all_tables(db: Database, mysql: bool) -> None:
    connection = db.context.db("default")
    tables = [
        model._meta.db_table
        for model in db.context.apps.get_models_iterable()  # type: ignore[union-attr]
    ]
    quote = "`" if mysql else '"'
    if mysql:
        await connection.execute_script(
            "SET FOREIGN_KEY_CHECKS=0;"
            + "".join(f"DELETE FROM {quote}{table}{quote};" for table in tables)
            + "SET FOREIGN_KEY_CHECKS=1;"
        )
    else:
        await connection.execute_script(
            "PRAGMA foreign_keys=OFF;"
            + "".join(f"DELETE FROM {quote}{table}{quote};" for table in tables)
            + "PRAGMA foreign_keys=ON;"
        )


@pytest.fixture
async def db(migrated_settings: Settings) -> AsyncIterator[Database]:
    """The ORM open on an empty database of the current backend."""
    opened = await Database.open(migrated_settings)
    await _empty_all_tables(opened, migrated_settings.uses_mysql)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def settings(migrated_settings: Settings, db: Database) -> Settings:
    """Settings of the current backend's test database (opened by `db`)."""
    return migrated_settings


# --- Redis and Kafka -----------------------------------------------------------------


@pytest.fixture
def redis_url() -> str:
    from urllib.parse import urlparse

    parsed = urlparse(REDIS_URL)
    require_service("Redis", parsed.hostname or "127.0.0.1", parsed.port or 6379)
    return REDIS_URL


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix of this test alone, so parallel runs never see each other's keys."""
    return f"tmtest:{uuid.uuid4().hex[:10]}:"


@pytest.fixture
def kafka_bootstrap() -> str:
    host, _, port = KAFKA_BOOTSTRAP.partition(":")
    require_service("Kafka", host, int(port or 9092))
    return KAFKA_BOOTSTRAP


@pytest.fixture
def unique_topic() -> str:
    return f"tm-test-{uuid.uuid4().hex[:10]}"


# --- live servers ----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[RunningServer]:
    from web.app import create_app

    async with serve(create_app(settings)) as server:
        yield server


@pytest.fixture
async def live_server(settings: Settings) -> AsyncIterator[RunningServer]:
    """TrackMaster itself on a real loopback port, lifespan included."""
    async with running_app(settings) as server:
        yield server


@pytest.fixture
async def client(live_server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client pointed at the live server (real sockets, no ASGI shortcut)."""
    async with httpx.AsyncClient(base_url=live_server.url, timeout=10) as http:
        yield http


# --- the browser -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}; run scripts/services up", pytrace=False
        )
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium_path: str) -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium_path,
            headless=True,
            # Without these Chromium keeps calling home; this machine's network refuses it.
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser) -> AsyncIterator[object]:
    context = await browser.new_context()
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    await context.close()
    # A page that threw in the browser failed, whatever the test saw.
    assert not errors, f"JavaScript errors on the page: {errors}"
