"""Who is asking: a program (JSON), a browser (a page) or HTMX (a fragment)."""

from __future__ import annotations

from starlette.requests import Request

from trackmaster.auth.policy import Access, decide

# Paths that only programs call: they always get JSON, whatever Accept says.
_JSON_PREFIXES = ("/api/", "/collect", "/v1/", "/2/", "/healthz", "/ping")


def wants_json(request: Request) -> bool:
    path = request.url.path
    if path.startswith(_JSON_PREFIXES):
        return True
    # Every ingest endpoint (Snowplow's /i, Mixpanel's /track...) is for SDKs, not people.
    if decide(request.method, path).access is Access.WRITE_KEY:
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept
