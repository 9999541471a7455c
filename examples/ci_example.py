"""TrackMaster in a pipeline, end to end (docs/ci.md): start a session, send events with
the real Segment SDK, gate on `trackmaster check`, read the JUnit file.

    .venv/bin/python examples/ci_example.py --url http://127.0.0.1:8000 [--token tm_...]

Uses the "Demo app" project (`trackmaster demo`, which `scripts/run` runs). One
play_click is right; one search_submit says `search.source: voice`, which the plan does
not allow, so the check fails (exit 1) and the JUnit file names the field and the value.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
from segment.analytics.client import Client

TRACKMASTER = Path(sys.executable).parent / "trackmaster"  # the venv's own command


def main() -> int:
    parser = argparse.ArgumentParser(description="TrackMaster in a pipeline, end to end")
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", default="", help="an API token (when login is required)")
    parser.add_argument("--junit", default="trackmaster-junit.xml")
    args = parser.parse_args()
    auth = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    api = httpx.Client(base_url=args.url, headers=auth, timeout=10)

    # 1. Start a session for a CI account and two events, in one call.
    projects = api.get("/api/v3/projects").raise_for_status().json()["data"]
    demo = next(p for p in projects if p["name"] == "Demo app")
    started = (
        api.post(
            "/api/v3/sessions",
            json={
                "project": demo["id"],
                "accounts": ["ci-runner"],
                "createAccounts": True,
                "events": ["play_click", "search_submit"],
                "name": "ci example",
            },
        )
        .raise_for_status()
        .json()
    )
    print(f"session {started['id']} started")

    # 2. The app under test sends its events; here the real segment-analytics-python SDK.
    sdk = Client(started["writeKey"], host=args.url, sync_mode=True, max_retries=0)
    sdk.track(
        user_id="ci-runner",
        event="play_click",
        properties={
            "event_info": {"current_page_name": "home"},
            "content_info": {"type": "EPISODE"},
            "page_info": {"id": "ep-1"},
            "player": {"quality": "hd"},
            "share": {"url": "https://example.com/watch"},
        },
        context={"os": {"name": "iOS"}},
    )
    sdk.track(
        user_id="ci-runner",
        event="search_submit",
        properties={
            "event_info": {"current_page_name": "search"},
            "search": {"keyword": "cats", "source": "voice"},
        },
        context={"os": {"name": "Android"}},
    )
    sdk.flush()

    # 3. Gate: wait for both events, print the summary, write JUnit, exit non-zero on failure.
    command = [str(TRACKMASTER), "check", "--url", args.url, "--session", str(started["id"]),
               "--wait-s", "30", "--junit", args.junit]  # fmt: skip
    if args.token:
        command += ["--token", args.token]
    check = subprocess.run(command, check=False)
    print(f"trackmaster check exited {check.returncode}")

    # 4. What a CI server shows: one test case per event x platform, a failure per field.
    for suite in ET.parse(args.junit).getroot().iter("testsuite"):
        for case in suite.iter("testcase"):
            failures = case.findall("failure")
            state = "skipped" if case.find("skipped") is not None else "ok"
            print(f"{suite.get('name')} / {case.get('name')}: {'FAILED' if failures else state}")
            for failure in failures:
                print(f"    {failure.get('message')}")
    return check.returncode


if __name__ == "__main__":
    sys.exit(main())
