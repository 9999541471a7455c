"""Issue 15, finding 1: DNS rebinding and proxies must not reach local-admin mode.

A real `trackmaster serve` on 127.0.0.1 with no user yet is a local admin
for requests from this machine. A page on an attacker's domain rebound to
127.0.0.1 sends its own name in Host; a proxy in front adds one of many
"forwarded" headers. Neither may act as local admin.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.access import PASSWORD
from tests.support.process_server import ServerProcess, server_process


@pytest.fixture(scope="module")
def no_user_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with server_process(Path(tmp_path_factory.mktemp("local-admin")), admin=None) as server:
        yield server


def _as(server: ServerProcess, **headers: str) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        return http.get("/admin/users", headers=headers)


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}"])
def test_loopback_names_with_our_port_are_local_admin(
    no_user_server: ServerProcess, host: str
) -> None:
    answer = _as(no_user_server, Host=host.format(port=no_user_server.port))
    assert answer.status_code == 200, answer.text[:300]
    assert "local · admin" in answer.text


@pytest.mark.parametrize(
    "host",
    [
        "rebind.attacker.example:{port}",
        "rebind.attacker.example",
        "127.0.0.1.attacker.example:{port}",
        "localhost:1",  # another port: another origin
        "127.0.0.1",  # no port: an origin on port 80, not ours
    ],
)
def test_a_rebound_host_name_is_not_local_admin(no_user_server: ServerProcess, host: str) -> None:
    answer = _as(no_user_server, Host=host.format(port=no_user_server.port))
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login"), (
        answer.status_code,
        answer.text[:300],
    )


def test_a_rebound_page_cannot_create_an_admin(no_user_server: ServerProcess) -> None:
    host = f"rebind.attacker.example:{no_user_server.port}"
    origin = f"http://{host}"
    with httpx.Client(base_url=no_user_server.url, timeout=10, headers={"Host": host}) as http:
        page = http.get("/admin/users")
        made = http.post(
            "/admin/users",
            data={"username": "mallory", "password": PASSWORD, "role": "admin"},
            headers={"Origin": origin},
        )
    assert page.status_code == 303
    assert made.status_code in (401, 403), made.text[:300]
    assert no_user_server.sql("SELECT username FROM user WHERE username = 'mallory'") == []


@pytest.mark.parametrize(
    "header",
    [
        "Via",
        "CF-Connecting-IP",
        "True-Client-IP",
        "X-Client-IP",
        "X-Real-IP",
        "X-Forwarded-Host",
        "X-Forwarded-Proto",
        "Forwarded",
        "X-Cluster-Client-IP",
        "Fastly-Client-IP",
    ],
)
def test_a_forwarded_request_is_not_local_admin(no_user_server: ServerProcess, header: str) -> None:
    value = "1.1 proxy" if header == "Via" else "203.0.113.9"
    answer = _as(no_user_server, **{header: value})
    assert answer.status_code == 303, (header, answer.status_code, answer.text[:200])
