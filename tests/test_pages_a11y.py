"""Accessibility in Chromium: axe-core (vendored, tests/vendor/VENDOR.md) finds no serious
or critical violation on any page reachable by links from `/`, light and dark."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.walk import walk
from tests.test_pages_walk import seed

pytestmark = [pytest.mark.browser, pytest.mark.slow]

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")

_RUN = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ") + " :: " + n.failureSummary),
  }));
}"""


async def violations(page, url: str) -> list[str]:
    await page.goto(url)
    await page.add_script_tag(path=str(AXE))
    found = await page.evaluate(_RUN)
    return [
        f"{url}: {v['impact']} {v['id']} ({v['help']}): {v['nodes']}"
        for v in found
        if v["impact"] in BLOCKING
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_no_serious_or_critical_violation_on_any_page(
    browser, live_server, db, scheme
) -> None:
    await seed(live_server.url)
    # The app's CSP admits only its own /static scripts; axe is injected by the test.
    context = await browser.new_context(bypass_csp=True, color_scheme=scheme)
    page = await context.new_page()
    try:
        found = await walk(page, live_server.url)
        assert not found.problems, found.problems
        pages = {found.shape(url): url for url in found.visited}
        assert len(pages) >= 12, sorted(pages)
        problems = []
        for url in pages.values():
            problems += await violations(page, url)
    finally:
        await context.close()
    assert not problems, "\n".join(problems)
