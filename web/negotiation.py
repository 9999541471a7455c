"""Who is asking: a program (JSON), a browser (a page) or HTMX (a fragment)."""

from __future__ import annotations

from starlette.requests import Request

from web.policy import decide


def wants_json(request: Request) -> bool:
    # Paths only programs call (the API, ingest, health) always get JSON, whatever Accept
    # says: the URL table (web/policy.py) marks them.
    if decide(request.method, request.url.path).program:
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept
