"""Hostile events: stored as text (or refused with a clear 4xx), never a 500, shown escaped,
never executed, in the HTML and in a real browser."""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx
import pytest

from tests.support.html import parse_tree
from tests.support.realtime import make_plan, play_log
from trackmaster.models import EventLog, UnmatchedEvent
from trackmaster.safejson import MAX_DEPTH

SCRIPT = "<script>alert('xss')</script>"
IMG = '<img src=x onerror="alert(1)">'
CLOSE = "</textarea></pre>\"'><svg onload=alert(2)>"


@pytest.fixture
async def live(db, client: httpx.AsyncClient):
    """A live session of alice on play_click (local admin: the app binds to loopback)."""
    plan = await make_plan()
    answer = await client.post(
        "/api/v3/realTime/start",
        json={"project": plan.project.id, "accounts": ["alice-42"], "events": [plan.play.id]},
    )
    assert answer.status_code == 201, answer.text
    plan.session_id = answer.json()["id"]
    plan.key = {"X-Write-Key": plan.project.write_key}
    return plan


@dataclass
class _Dom:
    """Every element and attribute of a page, and its text, as the browser's parser sees it."""

    scripts: list[dict[str, str | None]]
    handlers: list[tuple[str, str]]
    tags: list[str]
    text: str


def dom(html: str) -> _Dom:
    tree = parse_tree(html)
    elements = [e for e in tree.iter() if e.tag != "#document"]
    return _Dom(
        scripts=[e.attrs for e in elements if e.tag == "script"],
        handlers=[(e.tag, name) for e in elements for name in e.attrs if name.startswith("on")],
        # The project page's own QR code (segno's inline SVG) is the one svg the app renders;
        # an injected one would still show its handlers, and markup is escaped anyway.
        tags=[
            "svg.segno" if e.tag == "svg" and e.get("class") == "segno" else e.tag for e in elements
        ],
        text=tree.text(),
    )


def assert_inert(html: str) -> _Dom:
    page = dom(html)
    foreign = [s for s in page.scripts if not (s.get("src") or "").startswith("/static/")]
    assert not foreign, f"an injected <script> element: {foreign}"
    assert not page.handlers, f"an injected event handler attribute: {page.handlers}"
    assert "svg" not in page.tags and "img" not in page.tags
    return page


async def test_markup_in_fields_is_stored_as_text_and_shown_escaped(
    live, client: httpx.AsyncClient
) -> None:
    log = play_log(page=SCRIPT, kind=IMG, user_id="alice-42")
    log["page_info"] = {"id": CLOSE}
    answer = await client.post("/collect", json=log, headers=live.key)
    assert answer.status_code == 200, answer.text
    stored = await EventLog.get(session_id=live.session_id)
    payload = json.loads(stored.payload)
    assert payload["event_info"]["current_page_name"] == SCRIPT
    assert payload["page_info"]["id"] == CLOSE

    for path in (f"/sessions/{live.session_id}", f"/sessions/{live.session_id}/logs"):
        response = await client.get(path, headers={"accept": "text/html"})
        assert response.status_code == 200, path
        page = assert_inert(response.text)
        shown = page.text
        assert SCRIPT in shown, path  # shown as text on both pages, never as markup
    logs_text = dom((await client.get(f"/sessions/{live.session_id}/logs")).text).text
    assert SCRIPT in logs_text and IMG in logs_text  # visible, as text
    api = await client.get(f"/api/v3/realTime/getLog?record={live.session_id}")
    assert SCRIPT in api.text.encode().decode("unicode_escape") or SCRIPT in api.text


async def test_markup_in_event_names_and_user_ids_never_breaks_anything(
    live, client: httpx.AsyncClient
) -> None:
    body = [
        {"event": SCRIPT, "userId": IMG, "properties": {"x": CLOSE}},
        {"event": "play_click", "userId": SCRIPT},
    ]
    answer = await client.post("/collect", json=body, headers=live.key)
    assert answer.status_code in (200, 400), answer.text
    if answer.status_code == 200:
        assert await UnmatchedEvent.filter(project_id=live.project.id).exists()
    for path in ("/", "/sessions", f"/sessions/{live.session_id}", f"/projects/{live.project.id}"):
        response = await client.get(path, headers={"accept": "text/html"})
        assert response.status_code < 500, path
        assert_inert(response.text)


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("huge string", None),
        ("nesting 10,000 deep", "[" * 10_000 + "]" * 10_000),
        ("nesting 10,000 deep in an object", '{"a":' * 10_000 + "1" + "}" * 10_000),
        ("invalid UTF-8", b'{"event": "play_click", "userId": "alice-42", "x": "\xff\xfe\xc3"}'),
        ("lone surrogate", b'{"event": "play_click", "userId": "alice-42", "x": "\\ud800"}'),
        ("NUL bytes", b'{"event": "play\\u0000click", "userId": "alice-42\\u0000"}'),
        ("not JSON", b"<html><script>alert(1)</script></html>"),
        ("a bare number", b"12345678901234567890123456789"),
        ("null", b"null"),
        ("NaN", b'{"event": "play_click", "userId": "alice-42", "n": NaN}'),
    ],
)
async def test_broken_bodies_never_cause_a_server_error(
    live, client: httpx.AsyncClient, name: str, body: bytes | str | None
) -> None:
    if body is None:
        big = play_log(user_id="alice-42")
        big["page_info"] = {"id": "x" * 900_000}
        body = json.dumps(big)
    before = await EventLog.filter(session_id=live.session_id).count()
    for path in ("/collect", "/v1/batch", "/v1/track", "/2/httpapi"):
        answer = await client.post(
            path, content=body, headers={**live.key, "Content-Type": "application/json"}
        )
        assert answer.status_code < 500, (name, path, answer.text[:300])
        if answer.status_code >= 400:  # TrackMaster's {code, msg} or Amplitude's {code, error}
            refusal = answer.json()
            assert refusal.get("msg") or refusal.get("error"), (name, path)
    after = await EventLog.filter(session_id=live.session_id).count()
    assert after - before <= 4  # at most one stored per endpoint, none duplicated
    response = await client.get(f"/sessions/{live.session_id}/logs")
    assert response.status_code == 200
    assert_inert(response.text)


@pytest.mark.parametrize("depth", [10, 60, 100, 300, 1000, 2000])
async def test_deep_payloads_are_stored_or_refused_cleanly(
    live, client: httpx.AsyncClient, depth: int
) -> None:
    # Written by hand: json.dumps itself gives up on such depths.
    deep = '{"n":' * depth + '"deep"' + "}" * depth
    body = json.dumps(play_log(user_id="alice-42", deep="DEEP")).replace('"DEEP"', deep)
    answer = await client.post("/collect", content=body, headers=live.key)
    assert answer.status_code < 500, answer.text[:300]
    stored = await EventLog.filter(session_id=live.session_id).count()
    if depth <= MAX_DEPTH - 4:  # the log itself takes a few levels
        assert answer.status_code == 200 and stored == 1, answer.text
        page = await client.get(f"/sessions/{live.session_id}/logs")
        assert page.status_code == 200
    else:
        assert answer.status_code == 413 and stored == 0, answer.text
        assert f"nests deeper than {MAX_DEPTH} levels" in answer.json()["msg"]


async def test_numbers_as_strings_and_strings_as_numbers_are_kept_as_sent(
    live, client: httpx.AsyncClient
) -> None:
    log = play_log(page="123", kind=456, user_id="alice-42")
    log["page_info"] = {"id": 12345678901234567890123}
    answer = await client.post(
        "/collect", content=json.dumps(log), headers={**live.key, "Content-Type": "text/plain"}
    )
    assert answer.status_code == 200, answer.text
    payload = json.loads((await EventLog.get(session_id=live.session_id)).payload)
    assert payload["event_info"]["current_page_name"] == "123"
    assert payload["content_info"]["type"] == 456
    assert payload["page_info"]["id"] == 12345678901234567890123
    page = await client.get(f"/sessions/{live.session_id}")
    assert page.status_code == 200


@pytest.mark.browser
async def test_a_real_browser_runs_none_of_it(live, client: httpx.AsyncClient, page) -> None:
    log = play_log(page=SCRIPT, kind=IMG, user_id="alice-42")
    log["page_info"] = {"id": CLOSE}
    assert (await client.post("/collect", json=log, headers=live.key)).status_code == 200
    await client.post(
        "/collect", json={"event": SCRIPT, "userId": IMG}, headers=live.key
    )  # unmatched
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    base = str(client.base_url).rstrip("/")
    for path in (f"/sessions/{live.session_id}", f"/sessions/{live.session_id}/logs", "/"):
        await page.goto(base + path)
        await page.wait_for_load_state("load")
        injected = await page.evaluate(
            """() => ({
                scripts: [...document.scripts].filter(s => !s.src.includes('/static/')).length,
                handlers: document.querySelectorAll('[onerror],[onload],[onclick]').length,
                svg: document.querySelectorAll('svg').length,
            })"""
        )
        assert injected == {"scripts": 0, "handlers": 0, "svg": 0}, (path, injected)
    await page.goto(base + f"/sessions/{live.session_id}/logs")
    assert SCRIPT in await page.inner_text("body")
    assert not dialogs, f"a payload ran in the browser: {dialogs}"
