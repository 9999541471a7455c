"""What every door reads from a request besides its own parameters: who is asking, and
the process's Runtime (opened by the lifespan, web/app.py)."""

from __future__ import annotations

from starlette.requests import Request

from trackmaster.runtime import Runtime


def runtime_of(request: Request) -> Runtime:
    """The Runtime the app's lifespan opened: database, Redis, bus, realtime services."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def actor(request: Request) -> str:
    """Who is asking, for `started_by` and the audit log ("" lets the audit decide)."""
    return str(getattr(request.scope.get("user"), "username", "") or "")
