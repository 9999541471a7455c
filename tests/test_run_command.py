"""`scripts/run`, the README's first command, serves the demo with nothing else running.

It runs as a newcomer runs it: the script itself, with the bare system PATH, no database
server, Redis or Kafka configured, and the settings' own defaults but for where the SQLite
file goes and which port it listens on.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.support.schedule import BARE_PATH, ROOT, Proc
from tests.support.servers import free_port

pytestmark = pytest.mark.slow


def test_scripts_run_serves_the_demo_project_and_session(tmp_path: Path) -> None:
    port = free_port()
    env = {"PATH": BARE_PATH, "HOME": str(tmp_path), "SQLITE_PATH": str(tmp_path / "tm.db")}
    run = Proc(
        [str(ROOT / "scripts" / "run"), "--port", str(port)], env, ROOT, tmp_path / "run.log"
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # a first bootstrap installs the venv
        while True:
            try:
                if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert run.popen.poll() is None, run.output
            assert time.monotonic() < deadline, run.output
            time.sleep(0.3)
        home = httpx.get(url, timeout=10)
        assert home.status_code == 200 and "Demo app" in home.text, home.text[:500]
        session = httpx.get(f"{url}/sessions/1", timeout=10)
        assert session.status_code == 200, session.text[:500]
        assert "Demo: playback and search" in session.text
        assert 'data-verdict="FAIL"' in session.text  # the demo's mistakes are there to see
        run.popen.send_signal(signal.SIGTERM)
        run.popen.wait(timeout=30)
    finally:
        run.kill()
    assert "Traceback" not in run.output, run.output
