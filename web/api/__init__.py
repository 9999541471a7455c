"""The JSON APIs: /api/v3 (one module per area) and the original's /api/v2 (web/api/v2/),
and the helpers they share.

Parameters are checked here with the original's error envelope: a missing or
malformed parameter is code 2 (400) naming it, an unknown id code 3 (404).
"""

from __future__ import annotations

from typing import Any, Literal, overload

from starlette.requests import Request

from trackmaster.errors import BadRequest, field_error
from trackmaster.plan.jet import JetClient
from web.limits import json_body
from web.params import actor as actor  # the API modules import it from here


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 (413: too deep) saying why not."""
    body = await json_body(request)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


@overload
def query_int(request: Request, name: str, *, required: Literal[True] = True) -> int: ...
@overload
def query_int(request: Request, name: str, *, required: bool) -> int | None: ...
def query_int(request: Request, name: str, *, required: bool = True) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        if required:
            raise field_error(name, "is required")
        return None
    return as_id(raw, name)


def as_id(raw: Any, name: str) -> int:
    """A positive whole number from a path, query or JSON value, or a field error."""
    if isinstance(raw, bool):
        raise field_error(name, f"must be a whole number, got {raw!r}")
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise field_error(name, f"must be a whole number, got {raw!r}") from None
    if str(raw).strip() != str(value) and not isinstance(raw, int):
        raise field_error(name, f"must be a whole number, got {raw!r}")
    if not 1 <= value <= 2**31 - 1:
        raise field_error(name, f"must be between 1 and {2**31 - 1}, got {value}")
    return value


def jet_client(request: Request) -> JetClient:
    """A client for the configured Jet, or a 400 saying plans come from files here."""
    settings = request.app.state.settings
    if not settings.jet_url:
        raise BadRequest(
            "Jet is not configured (JET_URL is empty); import plans from files instead"
        )
    return JetClient.from_settings(settings)
