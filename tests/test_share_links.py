"""Share links over real HTTP with login required: made by a tester, read by anyone holding
the link, only for its own session, and dead once revoked or expired."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.conftest import running_app
from tests.support.access import browser_for, create_personas, secured
from tests.support.report_session import HOSTILE_SESSION, failing_session, realtime_of
from trackmaster.models import AuditEntry, ShareLink


@pytest.fixture
async def server(settings):
    async with running_app(secured(settings)) as running:
        yield running


async def _make_link(tester, session_id: int, days: str = "7") -> str:
    answer = await tester.http.post(
        f"/sessions/{session_id}/share",
        data={"days": days, "note": "for <the> Android team", "csrf_token": tester.token},
        headers=tester.origin,
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    found = re.search(r'id="new-link-url">([^<]+)<', answer.text)
    assert found, answer.text[:2000]
    return found.group(1)


async def test_a_link_shows_its_report_without_login_until_revoked(db, server) -> None:
    await create_personas()
    scenario = await failing_session(server)
    other = await realtime_of(server).lifecycle.start(
        scenario.plan.project.id, ["bob-7"], [scenario.plan.search.id], name="other session"
    )
    async with browser_for(server, "tess") as tester:
        url = await _make_link(tester, scenario.session.id)
        token = url.rsplit("/", 1)[1]
        assert url.startswith(server.url + "/share/tms_") and len(token) > 40
        # Shown once: the list shows the link, never its token again.
        listing = await tester.http.get(f"/sessions/{scenario.session.id}/share")
        assert token not in listing.text and "for &lt;the&gt; Android team" in listing.text

        async with httpx.AsyncClient(base_url=server.url, timeout=10) as anonymous:
            shown = await anonymous.get(f"/share/{token}")
            assert shown.status_code == 200, shown.text[:500]
            assert f"Session {scenario.session.id}" in shown.text
            assert "other session" not in shown.text
            assert shown.headers["cache-control"] == "no-store"
            csv_answer = await anonymous.get(f"/share/{token}/report.csv")
            assert csv_answer.status_code == 200 and "play_click" in csv_answer.text
            junit = await anonymous.get(f"/share/{token}/report.xml")
            assert junit.status_code == 200 and b"<testsuites" in junit.content
            # The link opens nothing else: not the session, not another report.
            for path in (
                f"/sessions/{scenario.session.id}/report", f"/sessions/{other.id}/report",
                f"/sessions/{scenario.session.id}", f"/share/{token}x", "/share/tms_guess",
            ):  # fmt: skip
                refused = await anonymous.get(path)
                assert refused.status_code in (303, 401, 404), (path, refused.status_code)
                assert HOSTILE_SESSION not in refused.text

            link = await ShareLink.get(session_id=scenario.session.id)
            revoke = f"/sessions/{scenario.session.id}/share/{link.id}/revoke"
            # Revoking asks first (a confirm page without JavaScript): the link still works.
            asked = await tester.http.post(
                revoke, data={"csrf_token": tester.token}, headers=tester.origin
            )
            assert asked.status_code == 200 and f"Revoke share link #{link.id}" in asked.text
            assert (await anonymous.get(f"/share/{token}")).status_code == 200
            revoked = await tester.http.post(
                revoke, data={"csrf_token": tester.token, "confirmed": "yes"}, headers=tester.origin
            )
            assert revoked.status_code == 303
            assert (await anonymous.get(f"/share/{token}")).status_code == 404
            assert (await anonymous.get(f"/share/{token}/report.csv")).status_code == 404

    actions = [
        (e.action, e.actor)
        for e in await AuditEntry.filter(action__startswith="share.").order_by("id")
    ]
    assert actions == [("share.create", "tess"), ("share.revoke", "tess")]
    for entry in await AuditEntry.filter(action__startswith="share."):
        assert token not in str(entry.details) and token not in entry.target


async def test_an_expired_link_stops_working(db, server) -> None:
    await create_personas()
    scenario = await failing_session(server)
    async with browser_for(server, "tess") as tester:
        token = (await _make_link(tester, scenario.session.id, days="1")).rsplit("/", 1)[1]
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as anonymous:
        assert (await anonymous.get(f"/share/{token}")).status_code == 200
        await ShareLink.filter(session_id=scenario.session.id).update(
            expires_at=datetime.now(UTC) - timedelta(seconds=1)
        )
        assert (await anonymous.get(f"/share/{token}")).status_code == 404


async def test_a_viewer_cannot_make_links_and_bad_days_change_nothing(db, server) -> None:
    await create_personas()
    scenario = await failing_session(server)
    async with browser_for(server, "vera") as viewer:
        answer = await viewer.http.post(
            f"/sessions/{scenario.session.id}/share",
            data={"days": "7", "csrf_token": viewer.token},
            headers=viewer.origin,
        )
        assert answer.status_code == 403
    async with browser_for(server, "tess") as tester:
        for days in ("0", "91", "soon"):
            answer = await tester.http.post(
                f"/sessions/{scenario.session.id}/share",
                data={"days": days, "csrf_token": tester.token},
                headers=tester.origin,
            )
            assert answer.status_code == 400 and "days" in answer.text, days
    assert await ShareLink.filter(session_id=scenario.session.id).count() == 0
