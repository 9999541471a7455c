"""The web skeleton over real HTTP: ping, health, error pages for people and programs."""

from __future__ import annotations

import httpx

from tests.support.html import parse_tree


async def test_ping_answers_pong(client: httpx.AsyncClient) -> None:
    response = await client.get("/ping")
    assert response.status_code == 200
    assert response.json() == {"message": "pong"}
    assert (await client.get("/api/v2/ping")).json() == {"message": "pong"}


async def test_healthz_reports_each_dependency(client: httpx.AsyncClient) -> None:
    body = (await client.get("/healthz")).json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {
        "database", "redis", "bus", "ingest_rate_limit", "kafka", "worker_pool"
    }  # fmt: skip
    assert body["checks"]["database"]["ok"] is True and body["ready"] is True


async def test_liveness_and_readiness_answer_apart(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz/live")).json() == {"status": "ok"}
    answer = await client.get("/healthz/ready")
    assert answer.status_code == 200 and answer.json()["status"] == "ready"


async def test_unknown_api_path_answers_the_error_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v3/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"code": 3, "msg": "no such page or endpoint"}


async def test_unknown_page_renders_an_html_error_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/nothing-here", headers={"accept": "text/html"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    page = parse_tree(response.text)
    assert "404 · Not found" in [element.text().strip() for element in page.iter()]


async def test_htmx_requests_get_a_fragment_not_a_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/nothing-here", headers={"HX-Request": "true"})
    assert response.status_code == 404
    assert "html" not in parse_tree(response.text).tags()
    assert "no such page" in response.text


async def test_home_page_renders_with_security_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert (
        "script-src 'self'" in csp
        and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    )
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "/static/vendor/htmx/htmx.min.js" in response.text


async def test_vendored_htmx_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/static/vendor/htmx/htmx.min.js")
    assert response.status_code == 200
    assert len(response.content) > 10_000
