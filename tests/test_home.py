"""The home page: each project with its counts and links, and the live sessions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.support.html import parse_tree
from trackmaster.models import Account, Project, SessionStatus, Story, TestSession


async def test_home_lists_projects_with_counts_and_live_sessions(
    db, client: httpx.AsyncClient
) -> None:
    video = await Project.create(name="Video <app>")
    await Project.create(name="Shop")
    await Story.create(project=video, name="Player")
    await Story.create(project=video, name="Search")
    await Story.create(project=video, name="Gone", removed_at=datetime.now(UTC))
    await Account.create(project=video, user_id="qa-1", description="Alice")
    live = await TestSession.create(
        project=video, name="regression", expires_at=datetime.now(UTC) + timedelta(hours=1)
    )
    await TestSession.create(project=video, status=SessionStatus.OFF, expires_at=datetime.now(UTC))

    response = await client.get("/")
    assert response.status_code == 200
    tree = parse_tree(response.text)
    table = tree.by_id("projects")
    rows = [
        [" ".join(td.text().split()) for td in tr.find_all("td")] for tr in table.find_all("tr")
    ]
    by_name = {row[0]: row for row in rows if row}
    links = [a.get("href") for a in tree.find_all("a")]
    assert by_name["Video <app>"][1:4] == ["2", "1", "1 live"]
    assert by_name["Shop"][1:4] == ["0", "0", "none"]
    assert f"/projects/{video.id}" in links
    assert f"/projects/{video.id}/sessions/new" in links
    assert f"/sessions/{live.id}" in links
