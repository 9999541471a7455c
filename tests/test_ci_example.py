"""docs/ci.md's example runs as is: examples/ci_example.py as a process against a real
server with the demo project, the real Segment SDK, and `trackmaster check`."""

from __future__ import annotations

import asyncio
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from trackmaster.plan.demo import ensure_demo

ROOT = Path(__file__).resolve().parent.parent


async def test_the_ci_example_fails_on_the_wrong_value(db, live_server, tmp_path) -> None:
    await ensure_demo()
    junit = tmp_path / "junit.xml"
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "examples" / "ci_example.py"), "--url", live_server.url,
        "--junit", str(junit),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    text = out.decode()
    assert process.returncode == 1, (text, err.decode())
    assert "trackmaster check exited 1" in text and "FAILED" in text
    assert "search_submit / Android: FAILED" in text
    assert "search.source" in text and "play_click / iOS: ok" in text
    failure = next(
        f for f in ET.parse(junit).getroot().iter("failure") if "search.source" in f.get("message")
    )
    assert '"voice"' in failure.text
    assert "docs/ci.md" in (ROOT / "examples" / "ci_example.py").read_text()
