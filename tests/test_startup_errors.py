"""A setting that points nowhere stops a process with one line that names it and the fix.

Each command runs as a process, from the venv by path, as a newcomer would run it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import MARIADB
from tests.support.schedule import BARE_PATH
from tests.support.servers import free_port

VENV_BIN = Path(sys.prefix) / "bin"


def run(args: list[str], tmp_path: Path, stdin: str | None = None, **settings: str):
    env = {"PATH": BARE_PATH, "HOME": str(tmp_path), "SQLITE_PATH": str(tmp_path / "tm.db")}
    env.update(settings)
    return subprocess.run(
        args, env=env, cwd=tmp_path, input=stdin, capture_output=True, text=True, timeout=60
    )


def trackmaster(*args: str) -> list[str]:
    return [str(VENV_BIN / "trackmaster"), *args]


def worker(name: str, *args: str) -> list[str]:
    return [str(VENV_BIN / "python"), "-m", f"workers.{name}", *args]


def assert_one_clear_line(ran: subprocess.CompletedProcess, *expected: str, code: int = 2) -> None:
    output = ran.stdout + ran.stderr
    assert ran.returncode == code, output
    assert "Traceback" not in output, output
    for text in expected:
        assert text in output, output


def unreachable_mysql() -> dict[str, str]:
    return {"DB_HOST": "127.0.0.1", "DB_PORT": str(free_port()), "DB_PASSWORD": "x"}


@pytest.mark.parametrize("command", [["migrate"], ["serve", "--port", "0"]])
def test_a_command_names_an_unreachable_mysql(command: list[str], tmp_path: Path) -> None:
    settings = unreachable_mysql()
    ran = run(trackmaster(*command), tmp_path, **settings)
    assert_one_clear_line(
        ran,
        f"cannot connect to MySQL at 127.0.0.1:{settings['DB_PORT']} (DB_HOST, DB_PORT)",
        "connection refused",
    )
    # Not the misleading advice an unreachable database used to get.
    assert "migration" not in ran.stderr


@pytest.mark.parametrize("name", ["producer", "consumer"])
def test_a_worker_names_an_unreachable_mysql(name: str, tmp_path: Path) -> None:
    settings = unreachable_mysql()
    ran = run(worker(name), tmp_path, BROKER="127.0.0.1:9092", **settings)
    assert_one_clear_line(ran, "cannot connect to MySQL at 127.0.0.1", "(DB_HOST, DB_PORT)")


@pytest.mark.mariadb
def test_serve_names_mysql_credentials_that_are_refused(tmp_path: Path) -> None:
    ran = run(
        trackmaster("serve", "--port", "0"), tmp_path,
        DB_HOST=MARIADB["host"], DB_PORT=str(MARIADB["port"]), DB_USER=MARIADB["user"],
        DB_PASSWORD="not-the-password",
    )  # fmt: skip
    assert_one_clear_line(ran, "refused user 'trackmaster' (DB_USER, DB_PASSWORD): access denied")


def test_serve_refuses_a_redis_setting_that_is_no_address(tmp_path: Path) -> None:
    ran = run(trackmaster("serve", "--port", "0"), tmp_path, REDIS="notaurl")
    assert_one_clear_line(ran, "REDIS='notaurl' is not valid", "redis://host:port/db or host:port")


def test_serve_names_an_unreachable_redis_and_starts_degraded(tmp_path: Path) -> None:
    """Redis away is a degradation, not a stop (issue 14): one clear line, then the web runs."""
    redis_port, web_port = free_port(), free_port()
    env = {"PATH": BARE_PATH, "HOME": str(tmp_path), "SQLITE_PATH": str(tmp_path / "tm.db"),
           "REDIS": f"127.0.0.1:{redis_port}"}  # fmt: skip
    web = subprocess.Popen(
        trackmaster("serve", "--port", str(web_port)), env=env, cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        live = None
        while time.monotonic() < deadline and web.poll() is None:
            try:
                live = httpx.get(f"http://127.0.0.1:{web_port}/healthz/live", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert live is not None and live.status_code == 200
    finally:
        web.terminate()
        output, _ = web.communicate(timeout=30)
    assert f"cannot connect to Redis at 127.0.0.1:{redis_port} (REDIS)" in output, output
    assert "Starting degraded" in output and "Traceback" not in output, output


def test_the_producer_names_an_unreachable_broker(tmp_path: Path) -> None:
    port = free_port()
    ran = run(worker("producer", "--once"), tmp_path, BROKER=f"127.0.0.1:{port}")
    assert_one_clear_line(ran, f"cannot connect to Kafka at 127.0.0.1:{port} (BROKER)", code=1)


def test_create_user_without_a_terminal_says_how_to_give_the_password(tmp_path: Path) -> None:
    ran = run(trackmaster("create-user", "bob", "--role", "admin"), tmp_path, stdin="")
    assert_one_clear_line(ran, "no terminal", "--password-stdin", code=1)
    created = run(
        trackmaster("create-user", "bob", "--role", "admin", "--password-stdin"),
        tmp_path, stdin="correct horse battery\n",
    )  # fmt: skip
    assert created.returncode == 0 and "created admin bob" in created.stdout, created.stderr


def test_every_subcommand_says_what_it_does_and_every_option_has_help() -> None:
    from trackmaster.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    assert len(commands.choices) >= 10
    for name, sub in commands.choices.items():
        assert sub.description, f"`trackmaster {name} --help` has no description"
        for action in sub._actions:
            if action.dest != "help":
                assert action.help, f"`trackmaster {name}`: {action.option_strings or action.dest}"
