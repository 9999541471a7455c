"""Issue 15, findings 2 and 8: no body, form or JSON can exhaust memory or give a 500.

Against a real `trackmaster serve` process (memory from its RSS in /proc):
- anonymous `POST /login` with hundreds of 1 MB multipart fields, sent
  chunked by two clients at once, is refused early and the process does not
  grow; an urlencoded form with too many fields is a 413;
- a declared 150 MB body is refused before it is sent; a 200 MB chunked plan
  upload is cut off once past MAX_UPLOAD_BYTES, not buffered first;
- JSON bodies of the APIs (/api/v3 and the original's /api/v2): 100,000-deep
  arrays, NaN, lone surrogates are 400/413, never 500, and carry the security
  headers; so does a 500 itself.
Every attacker loop is bounded in bytes and in time; loopback only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.process_server import ServerProcess, machine_load, server_process

SECURITY_HEADERS = ("content-security-policy", "x-content-type-options", "x-frame-options")
MIB = 1024 * 1024
ATTACK_LIMIT_S = 60.0

FAILING_ROUTE = """
from starlette.routing import Route
import web.app

async def _boom(request):
    raise RuntimeError("a bug, on purpose")

_routes = web.app._all_routes
web.app._all_routes = lambda: [Route("/boom", _boom, name="boom"), *_routes()]
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with server_process(
        Path(tmp_path_factory.mktemp("bodies")), demo=True, prelude=FAILING_ROUTE
    ) as running:
        yield running


@pytest.fixture(scope="module")
def bearer(server: ServerProcess) -> dict[str, str]:
    return {"Authorization": "Bearer " + server.cli("create-token", "ada", "--name", "t").strip()}


def _has_security_headers(answer: httpx.Response) -> bool:
    return all(name in answer.headers for name in SECURITY_HEADERS)


async def _chunked_upload(
    port: int, head: bytes, chunks: Iterator[bytes], max_bytes: int
) -> tuple[int, bytes]:
    """Send a chunked body until the server answers or hangs up: (bytes sent, answer)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answer = asyncio.create_task(reader.read(65536))
    sent = 0
    started = time.monotonic()
    try:
        writer.write(head)
        for chunk in chunks:
            if answer.done() or sent > max_bytes or time.monotonic() - started > ATTACK_LIMIT_S:
                break
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            try:
                await writer.drain()
            except (ConnectionError, OSError):
                break
            sent += len(chunk)
        else:
            writer.write(b"0\r\n\r\n")
        try:
            data = await asyncio.wait_for(answer, 30)
        except (ConnectionError, OSError, TimeoutError):
            data = b""
        return sent, data
    finally:
        answer.cancel()
        writer.close()


def _multipart_fields(boundary: bytes, fields: int, field_bytes: int) -> Iterator[bytes]:
    value = b"x" * field_bytes
    for i in range(fields):
        yield (
            b'--%s\r\nContent-Disposition: form-data; name="f%d"\r\n\r\n%s\r\n'
            % (boundary, i, value)
        )
    yield b"--%s--\r\n" % boundary


@pytest.mark.slow
async def test_anonymous_login_with_huge_forms_does_not_grow_memory(
    server: ServerProcess,
) -> None:
    boundary = b"tmattackboundary"
    head = (
        b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: multipart/form-data; boundary=" + boundary + b"\r\n\r\n"
    )
    before_mib, cpu_before = server.rss_mib(), server.cpu_s()
    results = await asyncio.gather(
        *(
            _chunked_upload(
                server.port, head, _multipart_fields(boundary, 200, 1_000_000), 250 * MIB
            )
            for _ in range(2)
        )
    )
    peak_mib = server.rss_mib()
    await asyncio.sleep(1)
    after_mib = server.rss_mib()
    figures = (
        f"RSS {before_mib:.0f} -> {peak_mib:.0f} MiB (1 s later {after_mib:.0f}); sent "
        f"{[round(sent / MIB) for sent, _ in results]} MiB; server CPU "
        f"{server.cpu_s() - cpu_before:.2f} s; {machine_load()}"
    )
    print(figures)
    assert all(answer.startswith(b"HTTP/1.1 413") for _, answer in results), figures
    assert max(peak_mib, after_mib) - before_mib < 64, figures
    assert all(sent < 64 * MIB for sent, _ in results), figures


async def test_a_form_with_too_many_fields_is_a_413(server: ServerProcess) -> None:
    body = "&".join(f"f{i}=" for i in range(5000)) + "&username=a&password=b"
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        answer = await http.post(
            "/login",
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert answer.status_code == 413, answer.text[:200]
    assert "MAX_FORM_FIELDS" in answer.text
    assert _has_security_headers(answer)


async def test_a_declared_huge_body_is_refused_before_it_is_sent(
    server: ServerProcess, bearer: dict[str, str]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(
            b"POST /api/v3/realTime/start HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: " + bearer["Authorization"].encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 150000000\r\n\r\n{"
        )
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()
    assert status.startswith(b"HTTP/1.1 413"), status


@pytest.mark.slow
async def test_a_huge_chunked_plan_upload_is_cut_off(
    server: ServerProcess, bearer: dict[str, str]
) -> None:
    [(project_id,)] = server.sql("SELECT id FROM project ORDER BY id LIMIT 1")
    head = (
        b"PUT /api/v3/projects/%d/plan?format=yaml HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: %s\r\nContent-Type: application/yaml\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" % (project_id, bearer["Authorization"].encode())
    )
    line = b"# " + b"x" * 1020 + b"\n"
    before_mib = server.rss_mib()
    sent, answer = await _chunked_upload(
        server.port, head, iter([line * 1024] * 200), max_bytes=200 * MIB
    )
    grown_mib = server.rss_mib() - before_mib
    figures = f"sent {sent / MIB:.0f} MiB of 200 before the answer; RSS +{grown_mib:.0f} MiB"
    print(figures)
    assert answer.startswith(b"HTTP/1.1 413"), (answer[:200], figures)
    # MAX_UPLOAD_BYTES is 20 MiB; what is read past it is drained, not kept.
    assert sent < 80 * MIB, figures
    assert grown_mib < 100, figures


HOSTILE_JSON = {
    "100,000-deep arrays": (b"[" * 100_000 + b"]" * 100_000, {400, 413}),
    "NaN": (b'{"project": NaN, "accounts": ["a"]}', {400}),
    "Infinity": (b'{"project": 1, "accounts": [Infinity]}', {400}),
    "a lone surrogate": (b'{"project": 1, "accounts": ["\\ud800"]}', {400}),
    "a lone surrogate key": (b'{"\\udfff": 1}', {400}),
    "invalid UTF-8": (b'{"project": "\xff\xfe"}', {400}),
}


@pytest.mark.parametrize("path", ["/api/v3/realTime/start", "/api/v2/realTime/start"])
@pytest.mark.parametrize("kind", sorted(HOSTILE_JSON))
async def test_hostile_json_bodies_are_refused_with_security_headers(
    server: ServerProcess, bearer: dict[str, str], path: str, kind: str
) -> None:
    body, allowed = HOSTILE_JSON[kind]
    async with httpx.AsyncClient(base_url=server.url, timeout=30, headers=bearer) as http:
        answer = await http.post(path, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code in allowed, (kind, answer.status_code, answer.text[:300])
    assert answer.json()["msg"]
    assert _has_security_headers(answer), answer.headers


async def test_a_server_error_carries_the_security_headers(
    server: ServerProcess, bearer: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30, headers=bearer) as http:
        answer = await http.get("/boom", headers={"Accept": "application/json"})
    assert answer.status_code == 500
    assert answer.json()["code"] == 1
    assert "a bug" not in answer.text  # no internals leak
    assert _has_security_headers(answer), answer.headers
