"""Ingest hardening (issue 15, finding 10) over real HTTP: CORS, keys before bodies, logs.

- CORS on the ingest endpoints only: a preflight is answered without credentials,
  the write key is still required, and other paths get no CORS headers at all.
- A key in a header or the query is checked before the body is read or parsed.
- Missing and unknown keys are rate-limited per client address (429 unread).
- NaN and Infinity are refused (400), nothing stored.
- The write key never reaches the access log of a real `trackmaster serve`.
"""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import running_app
from tests.support.html import parse_tree
from tests.support.protocols import start_session
from tests.support.realtime import make_plan
from tests.support.servers import free_port
from trackmaster.models import EventLog, UnmatchedEvent
from web.logredact import RedactWriteKeys, redact

ROOT = Path(__file__).resolve().parent.parent
TRACK = {"type": "track", "event": "play_click", "userId": "alice-42"}


@pytest.fixture
async def live(db, client):
    return await start_session(client)


async def _nothing_stored() -> None:
    assert await EventLog.all().count() == 0
    assert await UnmatchedEvent.all().count() == 0


async def test_a_preflight_to_an_ingest_path_is_answered_without_credentials(live, client):
    answer = await client.options(
        "/v1/batch",
        headers={
            "Origin": "http://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization, x-write-key",
        },
    )
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "POST" in answer.headers["access-control-allow-methods"]
    assert (
        answer.headers["access-control-allow-headers"] == "content-type, authorization, x-write-key"
    )
    assert "access-control-allow-credentials" not in answer.headers


async def test_cross_origin_posts_get_cors_headers_and_still_need_the_key(live, client):
    origin = {"Origin": "http://shop.example"}
    refused = await client.post("/v1/batch", json={"batch": [TRACK]}, headers=origin)
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == "*"
    await _nothing_stored()
    stored = await client.post(
        "/v1/batch",
        json={"batch": [TRACK]},
        headers={**origin, "X-Write-Key": live.project.write_key},
    )
    assert stored.status_code == 200, stored.text
    assert stored.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in stored.headers


async def test_pages_and_the_api_get_no_cors(live, client):
    for path in ("/", "/api/v2/projects"):
        answer = await client.get(path, headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in answer.headers, path
    preflight = await client.options(
        "/api/v3/realTime/start",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


async def test_an_unknown_header_key_is_refused_before_the_body_is_parsed(live, client):
    # Malformed JSON would be a 400 if it were parsed: the 401 says it was not.
    for headers in ({"X-Write-Key": "wrong"}, {"Authorization": "Basic d3Jvbmc6"}):
        answer = await client.post("/v1/batch", content=b'{"batch": [', headers=headers)
        assert answer.status_code == 401, answer.text
        assert "unknown write key" in answer.json()["msg"]
    answer = await client.post("/collect?writeKey=wrong", content=b"[{")
    assert answer.status_code == 401
    await _nothing_stored()


async def test_an_unknown_key_is_refused_before_a_big_body_is_read(live, live_server):
    # Declare 900 KB but send only the headers: a server that read the body would wait.
    port = live_server.port
    reader, writer = await __import__("asyncio").open_connection("127.0.0.1", port)
    writer.write(
        b"POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Write-Key: wrong\r\n"
        b"Content-Type: application/json\r\nContent-Length: 900000\r\n\r\n"
    )
    await writer.drain()
    status = await __import__("asyncio").wait_for(reader.readline(), timeout=5)
    writer.close()
    assert status.startswith(b"HTTP/1.1 401"), status


async def test_unknown_keys_are_rate_limited_per_address(db, settings):
    plan = await make_plan()
    strict = settings.replace(ingest_unknown_key_burst=3, ingest_unknown_key_rate_per_s=0.1)
    async with running_app(strict) as server, httpx.AsyncClient(base_url=server.url) as http:
        statuses = []
        for _ in range(5):
            answer = await http.post("/v1/t", json=TRACK, headers={"X-Write-Key": "guess"})
            statuses.append(answer.status_code)
        assert statuses == [401, 401, 401, 429, 429]
        assert int(answer.headers["retry-after"]) >= 1
        assert "unknown write key" in answer.json()["msg"]
        # Blocked means blocked: even the right key waits (the address is over its budget).
        right = await http.post(
            "/v1/t", json=TRACK, headers={"X-Write-Key": plan.project.write_key}
        )
        assert right.status_code == 429
    await _nothing_stored()


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
async def test_nan_and_infinity_are_refused(live, client, constant):
    body = b'{"event": "play_click", "userId": "alice-42", "n": %s}' % constant.encode()
    answer = await client.post(
        "/collect", content=body, headers={"X-Write-Key": live.project.write_key}
    )
    assert answer.status_code == 400
    assert constant.lstrip("-") in answer.json()["msg"]
    await _nothing_stored()


def test_redaction_of_every_place_a_key_travels():
    assert redact("/collect?writeKey=s3cr3t&x=1") == "/collect?writeKey=***&x=1"
    assert redact("/mp/collect?measurement_id=G-1&api_secret=s3cr3t") == (
        "/mp/collect?measurement_id=G-1&api_secret=***"
    )
    assert redact("/i?e=pv&aid=s3cr3t") == "/i?e=pv&aid=***"
    assert redact("/v1/projects/s3cr3t/settings") == "/v1/projects/***/settings"
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/sourceConfig?writeKey=s3cr3t", "1.1", 200), None,
    )  # fmt: skip
    assert RedactWriteKeys().filter(record)
    assert "s3cr3t" not in record.getMessage()


def test_the_access_log_of_a_real_server_never_shows_the_key(tmp_path):
    port = free_port()
    env = {"SQLITE_PATH": str(tmp_path / "tm.sqlite3"), "PATH": "/usr/bin:/bin"}
    subprocess.run([str(ROOT / ".venv/bin/trackmaster"), "migrate"], env=env, check=True,
                   capture_output=True, cwd=tmp_path, timeout=60)  # fmt: skip
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log_file:
        server = subprocess.Popen(
            [str(ROOT / ".venv/bin/trackmaster"), "serve", "--port", str(port)],
            env=env, cwd=tmp_path, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    httpx.get(url + "/ping", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.05)
            answer = httpx.post(url + "/collect?writeKey=TOPSECRETKEY", json=TRACK, timeout=5)
            assert answer.status_code == 401
            httpx.get(url + "/v1/projects/TOPSECRETKEY/settings", timeout=5)
        finally:
            server.terminate()
            server.wait(timeout=20)
    text = log_path.read_text()
    assert "/collect?writeKey=***" in text, text[-2000:]
    assert "TOPSECRETKEY" not in text


async def test_the_ingest_document_lists_every_ingest_route_with_an_example(live, client):
    from web.app import build_routes

    answer = await client.get("/ingest/openapi.json")
    assert answer.status_code == 200
    paths = answer.json()["paths"]
    routes = [r for r in build_routes() if (getattr(r, "name", "") or "").startswith("ingest:")]
    missing, without_example = [], []
    for route in routes:
        for method in route.methods - {"HEAD"}:
            operation = paths.get(route.path, {}).get(method.lower())
            if operation is None:
                missing.append(f"{method} {route.path}")
            elif method == "POST":
                content = operation.get("requestBody", {}).get("content", {})
                if not any("example" in media for media in content.values()):
                    without_example.append(f"{method} {route.path}")
    assert not missing and not without_example, (missing, without_example)


def test_serve_listens_on_https_too_with_a_self_made_certificate(tmp_path):
    import signal
    import ssl

    port, https_port = free_port(), free_port()
    env = {"SQLITE_PATH": str(tmp_path / "tm.sqlite3"), "PATH": "/usr/bin:/bin"}
    subprocess.run([str(ROOT / ".venv/bin/trackmaster"), "migrate"], env=env, check=True,
                   capture_output=True, cwd=tmp_path, timeout=60)  # fmt: skip
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/trackmaster"), "serve", "--port", str(port),
         "--https-port", str(https_port)],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    cert = tmp_path / "tls" / "trackmaster.crt"

    def trusting() -> ssl.SSLContext:  # the self-made certificate, and nothing else
        return ssl.create_default_context(cafile=str(cert))

    try:
        for _ in range(300):
            try:
                if cert.exists():
                    answer = httpx.get(f"https://127.0.0.1:{https_port}/ping", verify=trusting(),
                                       timeout=1)  # fmt: skip
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        else:
            raise AssertionError("no https answer")
        assert answer.status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/ping", timeout=2).status_code == 200
        refused = httpx.post(f"https://localhost:{https_port}/v1/t", json=TRACK,
                             verify=trusting(), timeout=5)  # fmt: skip
        assert refused.status_code == 401  # the same app: ingest over https
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=30)[0].decode()
    # uvicorn ends by re-raising the SIGTERM it handled (as a lone server does): -15 after
    # both servers shut down and the one lifespan completed.
    assert server.returncode in (0, -signal.SIGTERM), output[-2000:]
    assert output.count("Finished server process") == 2
    assert "Application shutdown complete" in output
    assert "self-made certificate" in output


async def test_the_project_page_shows_the_ingest_url_key_and_a_qr_code(live, client):
    answer = await client.get(f"/projects/{live.project.id}", headers={"Accept": "text/html"})
    assert answer.status_code == 200
    page = parse_tree(answer.text)
    assert page.by_id("ingest-url").text() == str(client.base_url).rstrip("/")
    assert page.by_id("write-key-value").text() == live.project.write_key
    assert page.find("svg") is not None and page.find(id="ingest-qr") is not None


async def test_no_key_anywhere_is_a_401_whatever_the_body(live, client):
    # The key may travel in the body (Segment's writeKey), so a body is read for it; but a body
    # that cannot be read while no key came with the request is a 401 first, the body's fault
    # said after it (it was a 400 about the body: the missing key looked like the smaller issue).
    for path, body in (
        ("/collect", b'{"user_id": "u", "$os": "iOS"}'),  # no event name
        ("/collect", b"[{"),  # not JSON
        ("/v1/batch", b'{"batch": [{"type": "track"}]}'),  # no event, no key
    ):
        answer = await client.post(path, content=body, headers={"Content-Type": "application/json"})
        assert answer.status_code == 401, (path, answer.text)
        assert "write key is needed" in answer.text and "the body was refused" in answer.text
    # A key in the body still reaches the body's own complaint.
    keyed = f'{{"writeKey": "{live.project.write_key}", "batch": [{{"type": "track"}}]}}'
    answer = await client.post("/v1/batch", content=keyed.encode())
    assert answer.status_code == 400, answer.text
    await _nothing_stored()
