"""One test session with everything a report must show: failures hidden behind a later
success, an override, a reset, an event never seen, hostile text, several platforms.

Sessions are started and overridden through the core (the running app's own Realtime),
events arrive over HTTP at /collect as an app would send them.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from tests.support.realtime import Plan, make_plan, play_log
from tests.support.servers import RunningServer
from trackmaster.models import TestSession
from trackmaster.sessions import actions

# An unplanned key that is markup, sent beside a near miss of a planned object.
HOSTILE_KEY = "<img src=x onerror=alert(1)>"
HOSTILE_PROJECT = '=HYPERLINK("http://evil.example/","click")'
HOSTILE_SESSION = "+cmd|' /C calc'!A0 <script>alert(1)</script>"
SCRIPT_PAGE = "<script>alert('page')</script>\u0001"
OVERRIDE_REASON = "checked on the device <b>by hand</b>"


@dataclass
class Scenario:
    plan: Plan
    session: TestSession
    page_field: int
    type_field: int
    id_field: int


def realtime_of(server: RunningServer):
    return server.server.config.app.state.runtime.realtime  # type: ignore[attr-defined]


async def collect(server: RunningServer, plan: Plan, *logs: dict) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        answer = await http.post(
            "/collect", json=list(logs), headers={"X-Write-Key": plan.project.write_key}
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["stored"] == len(logs), answer.text


def alice(page: str = "home", os: str = "iOS", **extra) -> dict:
    return play_log(page=page, os=os, user_id="alice-42", **extra)


async def failing_session(server: RunningServer) -> Scenario:
    """play_click watched and caught (iOS: 3 failures then a success), share_click never;
    unplanned properties: `page_infos` twice on iOS (did you mean page_info), HOSTILE_KEY
    once on Android."""
    plan = await make_plan(name=HOSTILE_PROJECT)
    realtime = realtime_of(server)
    session = await realtime.lifecycle.start(
        plan.project.id, ["alice-42"], [plan.play.id, plan.share.id],
        name=HOSTILE_SESSION, created_by="tess",
    )  # fmt: skip
    page, kind, page_id = (
        plan.f("event_info.current_page_name"),
        plan.f("content_info.type"),
        plan.f("page_info.id"),
    )
    await collect(
        server, plan,
        alice("cart", page_infos={"id": "x"}), alice("cart", page_infos={"id": "y"}),
        alice(SCRIPT_PAGE, kind="=1+1"), alice("home"),
        alice("player", os="Android", **{HOSTILE_KEY: 1}),
    )  # fmt: skip
    # A tester vouches for the Android page id by hand.
    await actions.override_fields(
        realtime.bus, session,
        [{"id": page_id, "results": {"Android": "SUCCESS"}, "reason": OVERRIDE_REASON}], "tess",
    )  # fmt: skip
    await realtime.lifecycle.stop(session.id, "stopped by a tester", "tess")
    session = await TestSession.get(id=session.id)
    return Scenario(plan, session, page, kind, page_id)
