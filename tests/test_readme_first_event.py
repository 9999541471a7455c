"""The README's "Send your first event" works as printed, against the demo, with a real SDK.

The blocks are read from README.md and run by bash as they stand; only the URL changes,
to this test's own `trackmaster serve` process.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.schedule import BARE_PATH, ROOT, Proc
from tests.support.servers import free_port

pytestmark = pytest.mark.slow

README_URL = "http://127.0.0.1:8000"
VENV = Path(sys.prefix)


def readme_block(name: str) -> str:
    text = (ROOT / "README.md").read_text()
    found = re.search(rf"<!-- {name}:start -->\n```sh\n(.*?)```\n<!-- {name}:end -->", text, re.S)
    assert found, f"README.md has no {name} block"
    return found.group(1)


def verdicts_of(results: Any, event: str, key: str, platform: str) -> list[str]:
    """Every verdict under `platform` of field `key` of `event`, whatever the nesting."""
    found: list[str] = []

    def walk(node: Any, in_event: bool, in_field: bool) -> None:
        if isinstance(node, dict):
            in_event = in_event or node.get("name") == event
            in_field = in_field or (in_event and node.get("key") == key)
            for name, value in node.items():
                if in_field and name == platform and isinstance(value, dict):
                    found.extend(str(v) for k, v in value.items() if k == "verdict")
                walk(value, in_event, in_field)
        elif isinstance(node, list):
            for item in node:
                walk(item, in_event, in_field)

    walk(results, False, False)
    return found


def test_the_readme_first_event_and_sdk_example_reach_the_demo_session(tmp_path: Path) -> None:
    env = {
        "PATH": BARE_PATH,
        "HOME": str(tmp_path),
        "SQLITE_PATH": str(tmp_path / "tm.sqlite3"),
        "LOG_LEVEL": "WARNING",
    }
    trackmaster = str(VENV / "bin" / "trackmaster")
    demo = subprocess.run(
        [trackmaster, "demo"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert demo.returncode == 0, demo.stderr
    assert "write-key" in demo.stdout  # the demo points to this example
    port = free_port()
    server = Proc([trackmaster, "serve", "--port", str(port)], env, tmp_path, tmp_path / "web.log")
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, server.output
            time.sleep(0.2)

        def run_block(*names: str) -> str:
            # From the repository root, where README's `.venv/bin/...` is.
            script = "".join(readme_block(name) for name in names).replace(README_URL, url)
            if VENV != ROOT / ".venv":  # a suite run from another venv uses that one
                script = script.replace(".venv/bin/", f"{VENV}/bin/")
            ran = subprocess.run(
                ["/bin/bash", "-euo", "pipefail", "-c", script],
                env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert ran.returncode == 0, ran.stdout + ran.stderr + server.output
            return ran.stdout

        def caught_sources() -> list[str]:
            logs = httpx.get(f"{url}/api/v3/realTime/getLog", params={"record": 1}, timeout=10)
            assert logs.status_code == 200, logs.text
            return re.findall(r'"source":\s*"(\w+)"', logs.text)

        out = run_block("first-event")
        assert '"stored":1' in out.replace(" ", ""), out
        results = httpx.get(f"{url}/api/v3/realTime/getResult", params={"record": 1}, timeout=10)
        assert results.status_code == 200, results.text
        # curl's iOS event: `settings` is not an allowed page of play_click.
        ios = verdicts_of(results.json(), "play_click", "event_info.current_page_name", "iOS")
        assert "FAIL" in ios, results.text

        before = caught_sources()
        run_block("first-event", "first-event-sdk")  # the SDK block reads $KEY from the first
        after = caught_sources()
        assert after.count("segment") == before.count("segment") + 1, (before, after)
    finally:
        server.kill()
    assert "Traceback" not in server.output, server.output
