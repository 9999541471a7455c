"""Every route x every role (anonymous, viewer, tester, admin): who gets in, over real HTTP.

EXPECTED is the requirement, written independently of the policy: who may
call each route of the app. A route the app has but EXPECTED lacks fails the
first test, so a new endpoint cannot ship without someone deciding who may
use it; the policy must then agree with EXPECTED, and the live server must
behave as both say for each persona, logged in for real.

The app's HOST setting is a non-loopback address, so login is required (the
test server itself still listens on 127.0.0.1; the rule reads the setting).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from starlette.routing import BaseRoute, Mount, Route

from tests.conftest import running_app
from tests.support.access import (
    PERSONAS,
    api_token_for,
    browser_for,
    create_personas,
    login,
    secured,
)
from tests.support.servers import RunningServer
from trackmaster.auth.roles import Role
from trackmaster.settings import Settings
from web.app import create_app
from web.policy import Access, decide

PUBLIC, KEY, VIEWER, TESTER, ADMIN = "public", "write-key", "viewer", "tester", "admin"

EXPECTED: dict[tuple[str, str], str] = {
    # health, assets, signing in and out
    ("GET", "/ping"): PUBLIC,
    ("GET", "/api/v2/ping"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/healthz/live"): PUBLIC,
    ("GET", "/healthz/ready"): PUBLIC,
    ("GET", "/static/{path}"): PUBLIC,
    ("GET", "/favicon.ico"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): VIEWER,
    ("GET", "/"): VIEWER,
    # one's own account: password, sign out everywhere
    ("GET", "/account"): VIEWER,
    ("POST", "/account/password"): VIEWER,
    ("POST", "/account/signout-all"): VIEWER,
    # one's own API tokens (web/api/tokens.py checks whose)
    ("GET", "/api/v3/tokens"): VIEWER,
    ("POST", "/api/v3/tokens"): VIEWER,
    ("DELETE", "/api/v3/tokens/{id}"): VIEWER,
    # administration
    ("GET", "/admin/users"): ADMIN,
    ("POST", "/admin/users"): ADMIN,
    ("POST", "/admin/users/{user_id}"): ADMIN,
    ("GET", "/admin/tokens"): ADMIN,
    ("POST", "/admin/tokens"): ADMIN,
    ("POST", "/admin/tokens/{token_id}/revoke"): ADMIN,
    ("GET", "/admin/audit"): ADMIN,
    ("POST", "/projects/{project_id}/write-key/rotate"): ADMIN,
    ("POST", "/api/v3/projects/{project_id}/writeKey/rotate"): ADMIN,
    # ingest: the project's write key, whoever the caller is
    ("POST", "/collect"): KEY,
    ("POST", "/v1/track"): KEY,
    ("POST", "/v1/t"): KEY,
    ("POST", "/v1/batch"): KEY,
    ("POST", "/v1/b"): KEY,
    ("POST", "/2/httpapi"): KEY,
    ("POST", "/batch"): KEY,
    **{
        ("POST", f"/v1/{call}"): KEY
        for call in ("page", "p", "screen", "s", "identify", "i", "group", "g", "alias", "a")
    },
    ("GET", "/v1/projects/{write_key}/settings"): KEY,
    ("GET", "/projects/{write_key}/settings"): KEY,
    ("GET", "/sourceConfig"): KEY,
    ("GET", "/sourceConfig/"): KEY,
    ("POST", "/com.snowplowanalytics.snowplow/tp2"): KEY,
    ("GET", "/i"): KEY,
    **{(method, path): KEY for path in ("/track", "/track/") for method in ("GET", "POST")},
    ("POST", "/import"): KEY,
    ("POST", "/import/"): KEY,
    **{
        ("POST", path): KEY
        for path in ("/capture/", "/capture", "/batch/", "/e/", "/e", "/i/v0/e/", "/i/v0/e")
    },
    ("POST", "/mp/collect"): KEY,
    ("POST", "/debug/mp/collect"): KEY,
    ("GET", "/ingest/openapi.json"): VIEWER,
    # realtime API: testers run sessions, viewers read them
    ("POST", "/api/v3/realTime/start"): TESTER,
    ("POST", "/api/v3/realTime/stop"): TESTER,
    ("POST", "/api/v3/realTime/update"): TESTER,
    ("GET", "/api/v3/realTime/getLog"): VIEWER,
    ("POST", "/api/v3/realTime/clearLog"): TESTER,
    ("POST", "/api/v3/realTime/updateResult"): TESTER,
    ("GET", "/api/v3/realTime/getResult"): VIEWER,
    ("GET", "/api/v3/realTime/sessions"): VIEWER,
    ("GET", "/api/v3/realTime/session"): VIEWER,
    ("GET", "/api/v3/projects/{project_id:int}/unmatched"): VIEWER,
    # live session pages
    ("GET", "/sessions"): VIEWER,
    ("GET", "/projects/{project_id:int}/sessions/new"): VIEWER,
    ("POST", "/projects/{project_id:int}/sessions"): TESTER,
    ("GET", "/sessions/{session_id:int}"): VIEWER,
    ("GET", "/sessions/{session_id:int}/edit"): VIEWER,
    ("POST", "/sessions/{session_id:int}/edit"): TESTER,
    ("GET", "/sessions/{session_id:int}/logs"): VIEWER,
    ("GET", "/sessions/{session_id:int}/logs/{log_id:int}"): VIEWER,
    ("GET", "/sessions/{session_id:int}/logs/gap"): VIEWER,
    ("GET", "/sessions/{session_id:int}/cells/{event_id:int}/{field_id:int}/{platform}"): VIEWER,
    ("POST", "/sessions/{session_id:int}/stop"): TESTER,
    ("POST", "/sessions/{session_id:int}/clear"): TESTER,
    ("POST", "/sessions/{session_id:int}/rejudge"): TESTER,
    ("GET", "/sessions/{session_id:int}/rejudge/{run_id:int}"): VIEWER,
    ("POST", "/sessions/{session_id:int}/unmatched/watch"): TESTER,
    ("POST", "/sessions/{session_id:int}/unmatched/account"): TESTER,
    ("GET", "/sessions/{session_id:int}/unmatched/{row_id:int}/draft"): VIEWER,
    ("POST", "/sessions/{session_id:int}/unmatched/{row_id:int}/draft"): ADMIN,
    ("POST", "/sessions/{session_id:int}/unplanned/expected"): TESTER,
    ("POST", "/sessions/{session_id:int}/unplanned/unexpected"): TESTER,
    ("POST", "/sessions/{session_id:int}/override"): TESTER,
    ("POST", "/sessions/{session_id:int}/events/{event_id:int}/reset"): TESTER,
    ("GET", "/sessions/{session_id:int}/stream"): VIEWER,
    # session reports: whoever reads the session reads its report
    ("GET", "/sessions/{session_id:int}/report"): VIEWER,
    ("GET", "/sessions/{session_id:int}/report.csv"): VIEWER,
    ("GET", "/sessions/{session_id:int}/report.xml"): VIEWER,
    # share links: testers make and revoke them; the link itself needs nobody (its token)
    ("GET", "/sessions/{session_id:int}/share"): VIEWER,
    ("POST", "/sessions/{session_id:int}/share"): TESTER,
    ("POST", "/sessions/{session_id:int}/share/{link_id:int}/revoke"): TESTER,
    ("GET", "/share/{token}"): PUBLIC,
    ("GET", "/share/{token}/report.csv"): PUBLIC,
    ("GET", "/share/{token}/report.xml"): PUBLIC,
    # the CI API: testers start and reset sessions, viewers read them
    ("POST", "/api/v3/sessions"): TESTER,
    ("GET", "/api/v3/sessions/{session_id:int}/counts"): VIEWER,
    ("GET", "/api/v3/sessions/{session_id:int}/events"): VIEWER,
    ("POST", "/api/v3/sessions/{session_id:int}/reset"): TESTER,
    ("GET", "/api/v3/sessions/{session_id:int}/cells/{event_id:int}/{field_id:int}/{platform}"): (
        VIEWER
    ),
    ("POST", "/api/v3/sessions/{session_id:int}/rejudge"): TESTER,
    ("POST", "/api/v3/sessions/{session_id:int}/expected-properties"): TESTER,
    ("DELETE", "/api/v3/sessions/{session_id:int}/expected-properties"): TESTER,
    ("GET", "/api/v3/sessions/{session_id:int}/rejudge/{run_id:int}"): VIEWER,
    ("GET", "/api/v3/sessions/{session_id:int}/report"): VIEWER,
    ("GET", "/api/v3/sessions/{session_id:int}/report.csv"): VIEWER,
    ("GET", "/api/v3/sessions/{session_id:int}/report.xml"): VIEWER,
    # plans: admins sync and import, testers manage test accounts, everyone reads
    ("POST", "/api/v3/projects/sync"): ADMIN,
    ("GET", "/api/v3/projects"): VIEWER,
    ("GET", "/api/v3/projects/{id}"): VIEWER,
    ("GET", "/api/v3/projects/{id}/syncRuns"): VIEWER,
    ("PUT", "/api/v3/projects/{id}/plan"): ADMIN,
    ("GET", "/api/v3/projects/{id}/plan"): VIEWER,
    ("POST", "/api/v3/accounts"): TESTER,
    ("GET", "/api/v3/accounts"): VIEWER,
    ("DELETE", "/api/v3/accounts/{id}"): TESTER,
    ("POST", "/api/v3/stories/sync"): ADMIN,
    ("GET", "/api/v3/stories"): VIEWER,
    ("GET", "/api/v3/stories/{id}"): VIEWER,
    ("PUT", "/api/v3/fields/{id}/rules"): ADMIN,
    ("GET", "/api/v3/openapi.json"): VIEWER,
    ("GET", "/api/docs"): VIEWER,
    ("GET", "/projects"): VIEWER,
    ("POST", "/projects/new"): ADMIN,
    ("POST", "/projects/{id}/rename"): ADMIN,
    ("POST", "/projects/sync"): ADMIN,
    ("GET", "/projects/{id}"): VIEWER,
    ("GET", "/projects/{id}/stories"): VIEWER,
    ("POST", "/projects/{id}/sync"): ADMIN,
    ("GET", "/projects/{id}/sync/{run}"): VIEWER,
    ("POST", "/projects/{id}/plan"): ADMIN,
    ("GET", "/projects/{id}/accounts"): VIEWER,
    ("POST", "/projects/{id}/accounts"): TESTER,
    ("POST", "/projects/{id}/accounts/{account}/delete"): TESTER,
    ("GET", "/stories/{id}"): VIEWER,
    # Scheduled plan sync: anyone reads it; changing it changes what runs against Jet.
    ("GET", "/api/v3/schedules"): VIEWER,
    ("POST", "/api/v3/schedules/on"): ADMIN,
    ("POST", "/api/v3/schedules/off"): ADMIN,
    ("POST", "/api/v3/schedules/interval"): ADMIN,
    ("GET", "/projects/{id}/schedule"): VIEWER,
    # The original's API (/api/v2): the same rules as its /api/v3 twins.
    ("POST", "/api/v2/projects/sync"): ADMIN,
    ("GET", "/api/v2/projects"): VIEWER,
    ("POST", "/api/v2/accounts"): TESTER,
    ("GET", "/api/v2/accounts"): VIEWER,
    ("DELETE", "/api/v2/accounts/{id}"): TESTER,
    ("POST", "/api/v2/stories/sync"): ADMIN,
    ("GET", "/api/v2/stories"): VIEWER,
    ("GET", "/api/v2/stories/{id}"): VIEWER,
    ("POST", "/api/v2/realTime/start"): TESTER,
    ("POST", "/api/v2/realTime/test"): TESTER,
    ("POST", "/api/v2/realTime/stop"): TESTER,
    ("POST", "/api/v2/realTime/update"): TESTER,
    ("GET", "/api/v2/realTime/getLog"): VIEWER,
    ("POST", "/api/v2/realTime/clearLog"): TESTER,
    ("POST", "/api/v2/realTime/updateResult"): TESTER,
    ("GET", "/api/v2/realTime/getResult"): VIEWER,
    ("POST", "/api/v2/schedules/on"): ADMIN,
    ("POST", "/api/v2/schedules/off"): ADMIN,
    ("GET", "/api/v2/openapi.json"): VIEWER,
    ("GET", "/swagger/doc.json"): VIEWER,
    ("GET", "/swagger/index.html"): VIEWER,
    ("GET", "/swagger"): VIEWER,
    ("POST", "/projects/{id}/schedule"): ADMIN,
}

ROLES = ("anonymous", "viewer", "tester", "admin")
# Answers that look like refusals but are the handler's own result for the probe's body.
OWN_ANSWERS = {
    ("POST", "/login"): 401,  # the probe sends no password: "wrong username or password"
    ("POST", "/logout"): 303,  # signed out, sent to the login page
    ("POST", "/account/signout-all"): 303,  # signed out everywhere, sent to the login page
}
# A request signed in with a token may not make tokens (web/api/tokens.py): the handler's
# own 403 with this message, not the policy's.
TOKEN_OWN_ANSWERS = {("POST", "/api/v3/tokens"): "cannot make tokens"}
# Routes that end the caller's login: called last.
_SIGNING_OUT = ("/logout", "/account/signout-all")
_PARAM = re.compile(r"\{[^}]+\}")


def app_routes(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path template) of every endpoint, through mounts; HEAD goes with GET."""
    for route in routes:
        if isinstance(route, Mount):
            if route.routes:
                yield from app_routes(list(route.routes), prefix + route.path)
            else:  # an ASGI app such as StaticFiles: it answers GET below its path
                yield ("GET", prefix + route.path + "/{path}")
        elif isinstance(route, Route):
            for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
                yield (method, prefix + route.path)
        else:
            raise AssertionError(f"a route of an unexpected kind: {route!r}; decide its access")


def concrete(template: str) -> str:
    if template == "/static/{path}":
        return "/static/app.css"
    if template == "/api/v3/tokens/{id}":
        return "/api/v3/tokens/999999"  # token 1 may be the caller's own: never revoke it
    return _PARAM.sub("1", template)


def routes_of_the_app(settings: Settings) -> set[tuple[str, str]]:
    return set(app_routes(create_app(settings).routes))


def test_every_route_has_a_decided_access(tmp_path) -> None:
    from tests.conftest import base_settings

    found = routes_of_the_app(base_settings(tmp_path))
    undecided = sorted(found - EXPECTED.keys())
    assert not undecided, (
        "routes nobody decided the access of; add them to EXPECTED in this file (and to the "
        f"policy in web/policy.py if its default is wrong): {undecided}"
    )
    stale = sorted(EXPECTED.keys() - found)
    assert not stale, f"EXPECTED names routes the app no longer has: {stale}"


@pytest.mark.parametrize(("method", "template"), sorted(EXPECTED))
def test_the_policy_agrees_with_the_table(method: str, template: str) -> None:
    access = decide(method, concrete(template)).access
    wanted = {
        PUBLIC: Access.PUBLIC,
        KEY: Access.WRITE_KEY,
        VIEWER: Access.VIEWER,
        TESTER: Access.TESTER,
        ADMIN: Access.ADMIN,
    }[EXPECTED[(method, template)]]
    assert access is wanted, f"{method} {template}: policy says {access.value}"


def test_unlisted_writes_are_denied_by_default() -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        for path in ("/anything/new", "/api/v3/brand-new", "/projects/1/something"):
            assert decide(method, path).access is Access.ADMIN, (method, path)
    assert decide("GET", "/admin/whatever").access is Access.ADMIN
    # Ingest prefixes match whole segments only.
    assert decide("POST", "/collector").access is Access.ADMIN
    assert decide("POST", "/v10/x").access is Access.ADMIN
    # Any character may reach the policy (%0A is a newline): still decided, never an error.
    assert decide("PUT", "/api/v3/projects/a\nb/plan").access is Access.ADMIN
    assert decide("GET", "/projects/a\nb").access is Access.VIEWER
    assert decide("GET", "/admin/\n").access is Access.ADMIN


@dataclass
class Caller:
    role: str
    http: httpx.AsyncClient
    headers: dict[str, str]


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    # Every ingest route is probed without a key, by every role: more than one address's
    # budget of unknown-key refusals (tested in test_protocol_hardening.py).
    probing = secured(settings).replace(ingest_unknown_key_burst=10_000)
    async with running_app(probing) as running:
        yield running


@pytest.fixture
async def callers(db, server: RunningServer) -> AsyncIterator[dict[str, Caller]]:
    names = await create_personas()
    opened: dict[str, Caller] = {}
    async with (
        browser_for(server, None) as anonymous,
        browser_for(server, names["viewer"]) as viewer,
        browser_for(server, names["tester"]) as tester,
        browser_for(server, names["admin"]) as admin,
    ):
        for role, browser in zip(ROLES, (anonymous, viewer, tester, admin), strict=True):
            opened[role] = Caller(role, browser.http, browser.headers())
        yield opened


async def call(caller: Caller, method: str, path: str) -> httpx.Response:
    headers = dict(caller.headers)
    kwargs: dict = {}
    if method != "GET":
        if path.startswith("/api/") or path.startswith(("/collect", "/v1/", "/2/")):
            kwargs["json"] = {}
        else:
            kwargs["data"] = {"probe": "1"}
    # Streams (SSE) never end by themselves: the status line is all we need.
    async with caller.http.stream(method, path, headers=headers, **kwargs) as response:
        if "text/event-stream" not in response.headers.get("content-type", ""):
            await response.aread()
        return response


def verdict(status: int, location: str, role: str, needed: str) -> str | None:
    """What is wrong with `status` for `role` on a route needing `needed`; None if right."""
    if status >= 500:
        return f"server error {status}"
    to_login = status in (302, 303, 307) and location.startswith("/login")
    if needed == PUBLIC or (role != "anonymous" and Role[role.upper()] >= Role[needed.upper()]):
        if status in (401, 403) or to_login:
            return f"refused ({status}) though allowed"
        return None
    if role == "anonymous":
        return None if status == 401 or to_login else f"anonymous got {status}, not 401/login"
    return None if status == 403 else f"got {status}, not 403"


async def test_every_route_for_every_role_over_http(callers: dict[str, Caller]) -> None:
    problems: list[str] = []
    # /logout and "sign out everywhere" last: they end the caller's session.
    ordered = sorted(
        EXPECTED,
        key=lambda key: (_SIGNING_OUT.index(key[1]) + 1 if key[1] in _SIGNING_OUT else 0, key),
    )
    signed_out = False
    for method, template in ordered:
        needed = EXPECTED[(method, template)]
        path = concrete(template)
        if template in _SIGNING_OUT:
            if signed_out:  # the previous one ended every login of these users
                await _sign_in_again(callers)
            signed_out = True
        statuses = {}
        for role in ROLES:
            response = await call(callers[role], method, path)
            statuses[role] = response.status_code
            if needed == KEY or OWN_ANSWERS.get((method, template)) == response.status_code:
                continue
            problem = verdict(
                response.status_code, response.headers.get("location", ""), role, needed
            )
            if problem:
                problems.append(f"{method} {template} as {role}: {problem}")
        # Who the user is does not matter to ingest: same answer for everyone, no 5xx.
        if needed == KEY and (len(set(statuses.values())) != 1 or max(statuses.values()) >= 500):
            problems.append(f"{method} {template}: answers differ by user {statuses}")
    assert not problems, "\n".join(problems)


async def _sign_in_again(callers: dict[str, Caller]) -> None:
    for role, name in PERSONAS.items():
        caller = callers[role]
        token = await login(caller.http, name)
        caller.headers = {**caller.headers, "X-CSRF-Token": token}


async def test_api_tokens_get_the_same_answers(callers: dict[str, Caller], server) -> None:
    """A token acts exactly as its user's role (spot-check on the JSON API)."""
    problems = []
    async with httpx.AsyncClient(base_url=server.url) as http:
        for role, name in (("viewer", "vera"), ("tester", "tess"), ("admin", "ada")):
            caller = Caller(role, http, {"Authorization": f"Bearer {await api_token_for(name)}"})
            for (method, template), needed in sorted(EXPECTED.items()):
                if not template.startswith("/api/v3/") or needed in (PUBLIC, KEY):
                    continue
                response = await call(caller, method, concrete(template))
                own = TOKEN_OWN_ANSWERS.get((method, template))
                if own and response.status_code == 403 and own in response.json()["msg"]:
                    continue
                problem = verdict(response.status_code, "", role, needed)
                if problem:
                    problems.append(f"{method} {template} with {role} token: {problem}")
    assert not problems, "\n".join(problems)


def test_docs_show_the_current_policy() -> None:
    from pathlib import Path

    from web.policy import markdown_table

    text = (Path(__file__).resolve().parent.parent / "docs" / "security.md").read_text()
    shown = text.split("<!-- policy:start -->\n", 1)[1].split("<!-- policy:end -->", 1)[0]
    assert shown == markdown_table(), (
        "docs/security.md shows an old permission table; paste the output of "
        "`python -c 'from web.policy import markdown_table as t; print(t())'`"
    )
