"""A demo test session with caught events, so a first run has verdicts to look at.

`trackmaster demo` (trackmaster/cli/demo.py) calls it after importing the demo plan. It starts one
session on the demo project (only when the project has none yet) and feeds it
a few events from an iPhone and an Android phone through the real ingest path,
so every verdict on the page was produced the way a tester's would be.
"""

from __future__ import annotations

from typing import Any

from trackmaster.models import Project, TestSession
from trackmaster.sessions.service import Realtime
from trackmaster.sources.collect import parse_collect

DEMO_SESSION_NAME = "Demo: playback and search"


def _log(os: str, user: str, event: str, page: str, **sections: Any) -> dict[str, Any]:
    return {
        "$os": os,
        "$app_version": "2.31.0",
        "user_id": user,
        "event_info": {"event": event, "current_page_name": page},
        **sections,
    }


def demo_events() -> list[dict[str, Any]]:
    """A morning of testing: mostly right, a few mistakes a tester should catch."""
    ios, android = "tester-ios-1", "tester-android-1"
    episode = {"id": "63a1f0c2", "type": "EPISODE"}
    return [
        _log("iOS", ios, "play_click", "home", content_info=episode,
             page_info={"id": "ep-1041"}, player={"quality": "hd"},
             share={"url": "https://example.com/watch"}),
        _log("iOS", ios, "play_stop", "player", player={"position_s": 312}),
        _log("iOS", ios, "search_submit", "search",
             search={"keyword": "nature", "source": "typed"}),
        _log("Android", android, "play_click", "search",
             content_info={"id": "7c22", "type": "episode"},
             page_info={"id": "ep-2210"}, player={"quality": "4k"}),
        _log("Android", android, "play_stop", "home", player={"position_s": 40}),
        _log("Android", android, "search_submit", "search",
             search={"keyword": "<b>docs</b>", "source": "suggestion"}),
    ]  # fmt: skip


async def ensure_demo_session(realtime: Realtime, project: Project) -> TestSession | None:
    """Start the demo session and feed it, unless the project already has a session."""
    if await TestSession.filter(project=project).exists():
        return None
    accounts = [account.user_id async for account in project.accounts.all()]
    stories = [story.id async for story in project.stories.filter(removed_at=None)]
    session = await realtime.lifecycle.start(
        project.id, accounts, stories=stories, name=DEMO_SESSION_NAME, created_by="demo"
    )
    await realtime.ingestor.ingest(project.id, parse_collect(demo_events()))
    return session
