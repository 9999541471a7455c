"""Settings: every one documented, typed, defaulted, and a bad value named at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from trackmaster import settings_docs
from trackmaster.settings import SETTINGS, SettingsError, load_settings

ROOT = Path(__file__).resolve().parent.parent
ORIGINAL_NAMES = [
    "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD", "REDIS", "BROKER", "TOPIC",
    "REALTIME_LIMIT", "DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "PORT",
]  # fmt: skip


def test_env_example_lists_every_setting_with_its_default() -> None:
    committed = (ROOT / ".env.example").read_text()
    assert committed == settings_docs.env_example(), (
        ".env.example is out of date: run `trackmaster settings --write-docs`"
    )


@pytest.mark.parametrize("doc", ["README.md", "docs/settings.md"])
def test_the_docs_show_the_whole_settings_table(doc: str) -> None:
    assert settings_docs.markdown_table() in (ROOT / doc).read_text(), (
        f"the settings table in {doc} is out of date: run `trackmaster settings --write-docs`"
    )


def test_original_names_keep_working() -> None:
    names = {setting.name for setting in SETTINGS}
    assert set(ORIGINAL_NAMES) <= names


def test_no_settings_means_embedded_defaults() -> None:
    settings = load_settings({}, env_file=None)
    assert settings.uses_mysql is False
    assert settings.sqlite_path == "var/trackmaster.sqlite3"
    assert settings.redis == "" and settings.broker == ""
    assert settings.port == 8000


def test_environment_wins_over_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=9001\nTOPIC='from-file'\n# comment\nDB_NAME=filedb\n")
    settings = load_settings({"PORT": "9002"}, env_file=env_file)
    assert settings.port == 9002
    assert settings.topic == "from-file"
    assert settings.db_name == "filedb"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("PORT", "eighty", "PORT"),
        ("PORT", "70000", "between 1 and 65535"),
        ("REALTIME_LIMIT", "5", "REALTIME_LIMIT"),
        ("JET_URL", "jet.example", "http://"),
        ("LOG_LEVEL", "chatty", "LOG_LEVEL"),
        ("REDIS", "memcached://x", "redis://"),
    ],
)
def test_a_bad_value_names_the_setting(name: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError, match=expected) as raised:
        load_settings({name: value}, env_file=None)
    assert name in str(raised.value)


def test_page_size_default_cannot_exceed_the_maximum() -> None:
    with pytest.raises(SettingsError, match="DEFAULT_PAGE_SIZE"):
        load_settings({"DEFAULT_PAGE_SIZE": "50", "MAX_PAGE_SIZE": "10"}, env_file=None)


def test_secrets_are_not_shown_in_errors_or_dumps() -> None:
    settings = load_settings({"DB_PASSWORD": "hunter2"}, env_file=None)
    assert settings.db_password == "hunter2"
    assert settings.as_dict()["DB_PASSWORD"] == "***"


def test_original_redis_host_port_form_is_accepted() -> None:
    assert (
        load_settings({"REDIS": "127.0.0.1:6379"}, env_file=None).redis == "redis://127.0.0.1:6379"
    )


def test_cli_reports_a_bad_setting_without_a_traceback(monkeypatch, capsys) -> None:
    from trackmaster.cli import main

    monkeypatch.setenv("PORT", "not-a-port")
    assert main(["migrate"]) == 2
    assert "PORT" in capsys.readouterr().err
