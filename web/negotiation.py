"""Who is asking: a program (JSON), a browser (a page) or HTMX (a fragment)."""

from __future__ import annotations

from starlette.requests import Request

# Paths that only programs call: they always get JSON, whatever Accept says.
_JSON_PREFIXES = ("/api/", "/collect", "/v1/", "/2/", "/healthz", "/ping")


def wants_json(request: Request) -> bool:
    path = request.url.path
    if path.startswith(_JSON_PREFIXES):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept
