"""Every link, htmx GET and form of every page, as each role: a page, never JSON or a 5xx,
and no console error on any page (tests/support/walk.py says how the walk goes).

Also: route names cannot collide (a page's url_for once resolved to the API's
`sessions`, so "Sessions of this project" opened raw JSON).
"""

from __future__ import annotations

import httpx
import pytest
from starlette.routing import Route

from tests.conftest import running_app
from tests.support.access import create_personas, secured, sign_in_page
from tests.support.walk import walk
from trackmaster.auth import tokens
from trackmaster.models import Event, User
from trackmaster.plan.demo import ensure_demo
from web.app import build_routes, check_unique_names

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_page_and_api_route_names_cannot_collide() -> None:
    routes = build_routes()
    names = {route.name: route.path for route in routes if isinstance(route, Route)}
    assert names["sessions"] == "/sessions"
    assert names["api:v3:realtime.sessions"] == "/api/v3/realTime/sessions"
    for route in routes:
        if isinstance(route, Route) and route.path.startswith("/api/v"):
            assert route.name.startswith(f"api:{route.path.split('/')[2]}:"), route.path

    async def one(request):  # pragma: no cover - never called
        return None

    async def other(request):  # pragma: no cover - never called
        return None

    with pytest.raises(RuntimeError, match="shared by different handlers"):
        check_unique_names([Route("/a", one, name="x"), Route("/b", other, name="x")])


async def seed(base_url: str) -> None:
    """A demo plan with accounts, a live session with a caught event, a sync run; the session
    page has something in each of its panels."""
    project, _ = await ensure_demo()
    events = await Event.filter(story__project=project).limit(3).values_list("id", flat=True)
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        started = await http.post(
            "/api/v3/realTime/start",
            json={"project": project.id, "accounts": ["tester-ios-1"], "events": list(events)},
        )
        assert started.status_code == 201, started.text
        name = (await Event.get(id=events[0])).name
        # Besides a caught event: a property the plan lacks (the unplanned panel), a near
        # miss and an event of another account (the not-matched panel, with its buttons).
        sent = await http.post(
            "/collect",
            json=[
                {"event": name, "userId": "tester-ios-1", "$os": "iOS", "properties": {"dpi": 460}},
                {"event": name.title(), "userId": "tester-ios-1", "$os": "iOS"},
                {"event": name, "userId": "tester-android-9", "$os": "Android"},
            ],
            headers={"X-Write-Key": project.write_key},
        )
        assert sent.status_code == 200, sent.text


def assert_walked(found, at_least: int) -> None:
    assert not found.problems, "\n".join(found.problems)
    assert len(found.visited) >= at_least, found.visited


async def test_walk_as_local_admin(page, live_server) -> None:
    await seed(live_server.url)
    found = await walk(page, live_server.url)
    assert_walked(found, 12)
    shapes = {found.shape(url) for url in found.visited}
    # The pages a tester lives in were all reached by following links alone.
    for wanted in ("/sessions/N?", "/projects/N?", "/stories/N?", "/admin/audit?", "/sessions?"):
        assert wanted in shapes, sorted(shapes)
    assert found.posted and found.downloads


@pytest.mark.parametrize("role", ["viewer", "tester", "admin"])
async def test_walk_as_each_role(browser, settings, role) -> None:
    async with running_app(settings) as local:
        await seed(local.url)
    names = await create_personas()
    await tokens.create_token(await User.get(username=names["admin"]), "ci", actor="test")
    async with running_app(secured(settings)) as server:
        context = await browser.new_context()
        page = await context.new_page()
        try:
            await sign_in_page(page, server.url, names[role])
            found = await walk(page, server.url)
        finally:
            await context.close()
    assert_walked(found, 10)
    admin_pages = [url for url in found.visited if "/admin/" in url]
    assert bool(admin_pages) == (role == "admin"), admin_pages
