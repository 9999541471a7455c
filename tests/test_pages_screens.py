"""Every page the link walk reaches, signed in as an admin, at a phone's (390 px) and a
laptop's (1366 px) width in Chromium: no 5xx, no console error, no sideways page scroll,
and a full-page screenshot of each, as the walk first loads it (before it posts that
page's forms), in `var/test-artifacts/screens/walk-*` (or $TEST_ARTIFACTS/screens) to
look at. A share link's page is added by hand: its address is shown once, as text, so no
link leads to it.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import running_app
from tests.support.access import create_personas, secured, sign_in_page
from tests.support.walk import Walk, walk
from tests.test_pages_layout import WIDTHS, no_sideways_scroll, shoot
from tests.test_pages_walk import seed
from trackmaster.auth import tokens
from trackmaster.models import TestSession, User
from trackmaster.reports import share

pytestmark = [pytest.mark.browser, pytest.mark.slow]
WAIT_MS = 10_000


def slug(shape: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", shape.lower()).strip("-") or "home"


@pytest.mark.parametrize("device", ["phone", "laptop"])
async def test_every_page_at_a_phone_and_a_laptop_width(browser, settings, device) -> None:
    async with running_app(settings) as local:
        await seed(local.url)
    names = await create_personas()
    await tokens.create_token(await User.get(username=names["admin"]), "ci", actor="test")
    session = await TestSession.first()
    link = await share.create_link(session, days=7, note="for the Android team", by="ada")
    width, height = WIDTHS[device]
    async with running_app(secured(settings)) as server:
        context = await browser.new_context(viewport={"width": width, "height": height})
        page = await context.new_page()
        errors: list[str] = []
        page.on(
            "console",
            lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda exc: errors.append(f"{page.url}: uncaught {exc}"))
        page.on(
            "response",
            lambda r: errors.append(f"{r.status} on {r.url}") if r.status >= 500 else None,
        )
        problems: list[str] = []

        async def look(url: str) -> None:
            await page.wait_for_timeout(150)  # the stream's first message
            try:
                await no_sideways_scroll(page)
            except AssertionError as exc:
                problems.append(str(exc))
            await shoot(page, f"walk-{device}-{slug(found.shape(url))}")

        found = Walk(server.url)  # only its shape() until the walk returns
        try:
            await sign_in_page(page, server.url, names["admin"])
            found = await walk(page, server.url, on_page=look)
            assert not found.problems, "\n".join(found.problems)
            pages = {found.shape(url) for url in found.visited}
            assert len(pages) >= 20, "\n".join(sorted(pages))
            # The share link's page: no link leads there (its address is shown once).
            answer = await page.goto(f"{server.url}/share/{link.token}")
            assert answer is not None and answer.status == 200
            await look(f"{server.url}/share/TOKEN")
        finally:
            await context.close()
    assert not problems, "\n".join(problems)
    assert not errors, "\n".join(errors)
