"""The schema: one migration history for SQLite and MariaDB, matching the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from tortoise.exceptions import IntegrityError

from trackmaster import db as database
from trackmaster.db import Database, SchemaOutOfDate
from trackmaster.models import Account, Event, EventLog, Platform, Project, Story, TestSession
from trackmaster.settings import load_settings


async def test_migrations_build_exactly_the_models() -> None:
    assert await database.detect_model_changes(write=False) == []


async def test_an_unmigrated_database_is_refused_with_what_to_run(tmp_path: Path) -> None:
    settings = load_settings({"SQLITE_PATH": str(tmp_path / "old.sqlite3")}, env_file=None)
    with pytest.raises(SchemaOutOfDate, match="trackmaster migrate"):
        await Database.open(settings)


async def test_migrate_applies_once_then_reports_up_to_date(tmp_path: Path) -> None:
    settings = load_settings({"SQLITE_PATH": str(tmp_path / "new.sqlite3")}, env_file=None)
    assert await database.pending_migrations(settings) != []
    assert await database.migrate(settings) != []
    assert await database.pending_migrations(settings) == []
    assert await database.migrate(settings) == []


async def test_round_trip_on_each_backend(db: Database) -> None:
    project = await Project.create(name="Fußball 🎉 <b>app</b>")
    await Account.create(project=project, user_id="u-1", description="Alice's iPhone")
    story = await Story.create(project=project, name="Player")
    event = await Event.create(story=story, name="play_click")
    session = await TestSession.create(project=project, expires_at=story.created_at)
    await EventLog.create(
        session=session,
        event=event,
        name="play_click",
        user_id="u-1",
        platform=Platform.IOS,
        source="collect",
        received_at=story.created_at,
        payload='{"a": "<script>"}',
        field_values={"1": "home"},
        verdicts={"1": ["SUCCESS", "equals home"]},
    )
    loaded = await Project.get(id=project.id)
    assert loaded.name == "Fußball 🎉 <b>app</b>"
    assert len(loaded.write_key) >= 32
    log = await EventLog.get(session=session)
    assert log.platform is Platform.IOS
    assert log.verdicts == {"1": ["SUCCESS", "equals home"]}
    assert log.payload == '{"a": "<script>"}'


async def test_account_ids_are_unique_within_a_project(db: Database) -> None:
    project = await Project.create(name="p")
    await Account.create(project=project, user_id="same", description="first")
    with pytest.raises(IntegrityError):
        await Account.create(project=project, user_id="same", description="second")
    other = await Project.create(name="q")
    await Account.create(project=other, user_id="same", description="other project is fine")


def test_only_aiomysql_is_installed_for_mysql() -> None:
    # Tortoise silently prefers asyncmy when both drivers are importable; the stack is aiomysql.
    import importlib.util

    assert importlib.util.find_spec("aiomysql") is not None
    assert importlib.util.find_spec("asyncmy") is None, "uninstall asyncmy: the stack is aiomysql"


async def test_mariadb_runs_on_aiomysql(db: Database, settings) -> None:
    client = db.context.db("default")
    await client.execute_query("SELECT 1")  # the pool exists once a query ran
    if settings.uses_mysql:
        # Tortoise's MySQL client, with a deadline on every call (trackmaster/db_mysql.py).
        from tortoise.backends.mysql.client import MySQLClient

        assert isinstance(client, MySQLClient) and client.deadline_s == settings.db_timeout_s
        assert type(client._pool).__module__.startswith("aiomysql")
    else:
        assert type(client).__module__ == "tortoise.backends.sqlite.client"
