"""The home page: each project with its counts and links, and the live sessions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import httpx

from trackmaster.models import Account, Project, SessionStatus, Story, TestSession


class _Rows(HTMLParser):
    """Collects the text of each table row of #projects and every link."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.links: list[str] = []
        self._in_projects = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs) -> None:
        attributes = dict(attrs)
        if tag == "table" and attributes.get("id") == "projects":
            self._in_projects = True
        elif self._in_projects and tag == "tr":
            self.rows.append([])
        elif self._in_projects and tag == "td":
            self._cell = []
        if tag == "a":
            self.links.append(attributes.get("href", ""))

    def handle_endtag(self, tag) -> None:
        if tag == "table":
            self._in_projects = False
        elif tag == "td" and self._cell is not None:
            self.rows[-1].append(" ".join(" ".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data) -> None:
        if self._cell is not None:
            self._cell.append(data)


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
    page = _Rows()
    page.feed(response.text)
    body = [row for row in page.rows if row]
    by_name = {row[0]: row for row in body}
    assert by_name["Video <app>"][1:4] == ["2", "1", "1 live"]
    assert by_name["Shop"][1:4] == ["0", "0", "none"]
    assert f"/projects/{video.id}" in page.links
    assert f"/projects/{video.id}/sessions/new" in page.links
    assert f"/sessions/{live.id}" in page.links
