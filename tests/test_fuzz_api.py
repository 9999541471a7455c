"""Fuzzing over real HTTP: no input, however broken, gets a server error.

- schemathesis generates requests from the app's own OpenAPI documents
  (/api/v3/openapi.json, and the original's /api/v2/openapi.json), valid and
  invalid, for every operation, and checks
  each answer: never a 5xx, and status, content type and body as documented.
- hypothesis posts arbitrary JSON to the ingest endpoints with a valid write
  key: never a 5xx, and a 4xx stores nothing.

The server is a real `trackmaster serve` process (login required: a user
exists), seeded with the demo plan, an admin and an API token.
The tests are synchronous (schemathesis and hypothesis drive a blocking
client), so the server must not live in the test's event loop.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup

from tests.support.json_strategies import json_values
from tests.support.process_server import server_process

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
MAX_EXAMPLES_PER_OPERATION = int(os.environ.get("TM_FUZZ_EXAMPLES", "25"))
MAX_BODY_EXAMPLES_PER_ROUTE = int(os.environ.get("TM_FUZZ_BODY_EXAMPLES", "15"))
SECURITY_HEADERS = ("content-security-policy", "x-content-type-options", "x-frame-options")


@dataclass
class FuzzServer:
    url: str
    token: str
    write_key: str
    project_id: int
    database: Path

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def stored_events(self) -> int:
        with sqlite3.connect(self.database) as connection:
            logs = connection.execute("SELECT COUNT(*) FROM event_log").fetchone()[0]
            unmatched = connection.execute("SELECT COUNT(*) FROM unmatched_event").fetchone()[0]
            binned = connection.execute("SELECT SUM(unmatched_count) FROM project").fetchone()[0]
        return int(logs) + int(unmatched) + int(binned or 0)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzServer]:
    with server_process(
        tmp_path_factory.mktemp("fuzz"),
        demo=True,
        # Fuzzing sends thousands of events; the rate limit has its own test.
        INGEST_RATE_PER_S="1000000",
        INGEST_BURST="10000000",
    ) as server:
        token = server.cli("create-token", "ada", "--name", "fuzz").strip()
        [(project_id, write_key)] = server.sql(
            "SELECT id, write_key FROM project ORDER BY id LIMIT 1"
        )
        yield FuzzServer(server.url, token, write_key, int(project_id), server.database)
    # Every unhandled exception is logged by the app with its traceback: none may have happened.
    output = server.log()
    errors = sorted(
        {line for line in output.splitlines() if re.match(r"^\w+(Error|Exception)\b", line)}
    )
    assert "Traceback" not in output, f"unhandled exceptions ({server.log_path}): {errors}"


@pytest.mark.parametrize(("version", "least_operations"), [("v3", 20), ("v2", 18)])
def test_openapi_operations_never_answer_a_server_error(
    fuzz_server: FuzzServer, version: str, least_operations: int
) -> None:
    schema = schemathesis.openapi.from_url(
        f"{fuzz_server.url}/api/{version}/openapi.json", headers=fuzz_server.auth
    ).exclude(
        # Its generated ids soon include the fuzzing token's own (1): revoked, every later
        # request would be a 401. tests/test_api_tokens.py sends it bad ids over HTTP.
        path="/api/v3/tokens/{id}",
        method="DELETE",
    )
    strategy = st.one_of(
        schema.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE),
        schema.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE),
    )
    operations = len(list(schema.get_all_operations()))
    assert operations >= least_operations, f"the document lists only {operations} operations"
    failures: list[str] = []
    session = __import__("requests").Session()

    @settings(
        max_examples=MAX_EXAMPLES_PER_OPERATION * operations,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    @given(case=strategy)
    def fuzz(case: schemathesis.Case) -> None:
        response = case.call(base_url=fuzz_server.url, headers=fuzz_server.auth, session=session)
        checks = [not_a_server_error, status_code_conformance, content_type_conformance]
        # Plan files (YAML, CSV) are documented as text; schemathesis would parse the YAML.
        if (response.headers.get("content-type") or [""])[0].startswith("application/json"):
            checks.append(response_schema_conformance)
        if 400 <= response.status_code < 500:
            missing = [name for name in SECURITY_HEADERS if name not in response.headers]
            if missing:
                failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: "
                    f"no {', '.join(missing)}"
                )
        try:
            case.validate_response(response, checks=checks)
        except FailureGroup as group:  # collect them all, then fail with the list
            for failure in group.exceptions:
                title = getattr(failure, "title", type(failure).__name__)
                failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: {title}"
                    f" ({str(getattr(failure, 'message', '')).strip()[:160]})"
                )

    fuzz()
    unique = sorted(set(failures))
    assert not unique, f"{len(unique)} kinds of failure:\n" + "\n".join(unique[:60])


# --- hypothesis on the ingest endpoints --------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(["<script>alert(1)</script>", "iOS", "Android", "play_click", "", "0"]),
)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=25,
)
_event_like = st.fixed_dictionaries(
    {},
    optional={
        "event": st.one_of(st.sampled_from(["play_click", "search_submit"]), _json),
        "type": st.one_of(st.just("track"), _json),
        "userId": st.one_of(st.sampled_from(["alice-42", "demo-ios"]), _json),
        "anonymousId": _json,
        "messageId": _json,
        "timestamp": st.one_of(st.just("2026-01-01T00:00:00Z"), _json),
        "properties": _json,
        "context": st.one_of(st.just({"os": {"name": "iOS"}}), _json),
        "$os": _json,
        "event_info": _json,
        "user_id": _json,
    },
)
_bodies = st.one_of(
    _json,
    _event_like,
    st.lists(_event_like, max_size=4),
    st.fixed_dictionaries({"batch": st.one_of(st.lists(_event_like, max_size=4), _json)}),
    st.fixed_dictionaries({"api_key": _json, "events": st.one_of(st.lists(_json), _json)}),
    # Snowplow payload_data, GA4, Mixpanel and PostHog shapes, with hostile members.
    st.fixed_dictionaries({"schema": _json, "data": st.lists(st.fixed_dictionaries(
        {"e": st.sampled_from(["ue", "se", "pv"])}, optional={"ue_pr": _json, "ue_px": _json,
        "uid": _json, "co": _json, "cx": _json, "se_ac": _json, "p": _json}), max_size=3)}),
    st.fixed_dictionaries({"client_id": _json, "events": st.lists(st.fixed_dictionaries(
        {"name": _json}, optional={"params": _json}), max_size=3)}),
    st.lists(st.fixed_dictionaries({"event": _json}, optional={"properties": _json,
        "distinct_id": _json, "uuid": _json}), max_size=3),
)  # fmt: skip


# Where each protocol's refusal says what is wrong: TrackMaster's and Segment's msg,
# Amplitude's and Mixpanel's error, PostHog's detail, GA4's validationMessages.
REFUSAL_TEXT = ("msg", "error", "detail", "validationMessages")
INGEST_PATHS = [
    "/collect", "/v1/batch", "/v1/track", "/v1/p", "/v1/s", "/2/httpapi", "/batch",
    "/com.snowplowanalytics.snowplow/tp2", "/track", "/import", "/capture/", "/batch/", "/e/",
    "/mp/collect", "/debug/mp/collect",
]  # fmt: skip


@pytest.mark.parametrize("path", INGEST_PATHS)
def test_ingest_takes_any_json_without_a_server_error(fuzz_server: FuzzServer, path: str) -> None:
    with httpx.Client(base_url=fuzz_server.url, timeout=10) as http:

        @settings(
            max_examples=int(os.environ.get("TM_FUZZ_INGEST_EXAMPLES", "150")),
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(body=_bodies)
        def post(body: object) -> None:
            before = fuzz_server.stored_events()
            answer = http.post(
                path, content=json.dumps(body), headers={"X-Write-Key": fuzz_server.write_key}
            )
            assert answer.status_code < 500, (body, answer.text)
            if answer.status_code >= 400:  # each protocol's own error shape, never empty
                refusal = answer.json()
                assert any(refusal.get(k) for k in REFUSAL_TEXT), answer.text
                assert fuzz_server.stored_events() == before, (body, answer.text)

        post()


# --- hypothesis on every body and form the app takes ---------------------------------------


def _write_routes() -> list[tuple[str, str]]:
    """(method, concrete path) of every route that takes a body, ingest aside (tested above)."""
    from starlette.routing import Route

    from web.app import build_routes

    found = []
    for route in build_routes():
        if not isinstance(route, Route) or route.path.startswith(("/collect", "/v1/", "/2/")):
            continue
        for method in sorted((route.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"}):
            found.append((method, re.sub(r"\{[^}]+\}", "1", route.path)))
    return found


_hostile_text = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["\ud800", "\x00", "NaN", "-1", "9" * 40, "<script>", "=1+1", "a" * 5000]),
)
_form_fields = st.lists(st.tuples(st.text(max_size=16), _hostile_text), max_size=30)
_json_bodies = st.one_of(
    json_values(),
    st.sampled_from(
        [b"[" * 5000 + b"]" * 5000, b'{"a": NaN}', b'{"a": "\\ud800"}', b"\xff", b"", b"{"]
    ),
)


def _check_answer(answer: httpx.Response, where: str, failures: list[str]) -> None:
    if answer.status_code >= 500:
        failures.append(f"{where} -> {answer.status_code}: {answer.text[:120]}")
    elif answer.status_code >= 400:
        missing = [name for name in SECURITY_HEADERS if name not in answer.headers]
        if missing:
            failures.append(f"{where} -> {answer.status_code}: no {', '.join(missing)}")


@pytest.mark.parametrize("kind", ["form", "multipart", "json"])
def test_every_body_and_form_is_answered_without_a_server_error(
    fuzz_server: FuzzServer, kind: str
) -> None:
    """Every write route, with arbitrary forms (urlencoded, multipart) or hostile JSON, as
    an admin (API token: no CSRF in the way): never a 5xx, every 4xx with the headers."""
    routes = _write_routes()
    assert len(routes) >= 30, routes
    failures: list[str] = []
    with httpx.Client(base_url=fuzz_server.url, timeout=30, headers=fuzz_server.auth) as http:

        @settings(
            max_examples=MAX_BODY_EXAMPLES_PER_ROUTE * len(routes),
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        @given(
            route=st.sampled_from(routes),
            fields=_form_fields,
            body=_json_bodies,
        )
        def post(route: tuple[str, str], fields: list[tuple[str, str]], body: object) -> None:
            method, path = route
            if path in ("/logout", "/account/signout-all"):
                return  # they end the caller's own login, which a token does not have
            pairs = [(k.encode("utf-8", "surrogatepass"), v.encode("utf-8", "surrogatepass"))
                     for k, v in fields]  # fmt: skip
            if kind == "form":
                from urllib.parse import urlencode

                content = urlencode(pairs).encode()
                headers = {"Content-Type": "application/x-www-form-urlencoded"}
                answer = http.request(method, path, content=content, headers=headers)
            elif kind == "multipart":
                answer = http.request(
                    method, path, files=[(k.decode("latin-1"), (None, v)) for k, v in pairs]
                )
            else:
                content = body if isinstance(body, bytes) else json.dumps(body).encode()
                headers = {"Content-Type": "application/json"}
                answer = http.request(method, path, content=content, headers=headers)
            _check_answer(answer, f"{kind} {method} {path}", failures)

        post()
    unique = sorted(set(failures))
    assert not unique, f"{len(unique)} kinds of failure:\n" + "\n".join(unique[:60])
