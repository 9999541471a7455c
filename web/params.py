"""What every door reads from a request besides its own parameters: who is asking."""

from __future__ import annotations

from starlette.requests import Request


def actor(request: Request) -> str:
    """Who is asking, for `started_by` and the audit log ("" lets the audit decide)."""
    return str(getattr(request.scope.get("user"), "username", "") or "")
