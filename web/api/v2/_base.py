"""What every /api/v2 endpoint shares: the original's errors, request parsing, paging and ids.

The original was a Go (gin) service, and its clients were written against how
it behaved, so this layer speaks like it:

- Errors are `{"code", "msg", "details"?}` with `details` a list of strings.
  The original answered a missing or malformed parameter with code 5 (bad
  request), not 2: code 2 was only its body validator's (POST /accounts). A
  failing Jet call was its code 1 (500).
- Bodies are read as Go's encoding/json reads them: keys match exactly or,
  failing that, ignoring case (`"Record"` binds to `record`).
- `page` and `pageSize` that are missing, not numbers or below 1 fall back to
  1 and DEFAULT_PAGE_SIZE; a page size over MAX_PAGE_SIZE is clamped to it.
- Ids are strings: a plan row that came from Jet is named by its Jet id, one
  made from a file by its number as text; a record (test session) by 32 hex
  digits, which are its number in hex (see `record_id`).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from tortoise.expressions import Q

from trackmaster.errors import AppError, BadRequest, InvalidParams, UpstreamError
from trackmaster.models import TestSession
from web.limits import json_body
from web.pager import Page

GO_ZERO_TIME = "0001-01-01T00:00:00Z"  # how Go writes a time.Time that was never set
_MAX_ROW_ID = 2**31 - 1  # ids are 32-bit columns
_DIGITS = re.compile(r"[+-]?[0-9]+")
_RECORD = re.compile(r"[0-9a-fA-F]{32}")

Handler = Callable[[Request], Awaitable[Response]]


# --- errors ------------------------------------------------------------------------------


class ServerError(AppError):
    """The original's code 1: what it answered when Jet (or anything behind it) failed."""

    status, code, title = 500, 1, "Server error"


def _detail_strings(details: Any) -> list[str]:
    if details is None:
        return []
    if isinstance(details, dict):
        return [f"{key}: {value}" for key, value in details.items()]
    if isinstance(details, list):
        out = []
        for item in details:
            if isinstance(item, dict) and "field" in item:
                out.append(f"{item['field']}: {item.get('error', '')}")
            else:
                out.append(item if isinstance(item, str) else json.dumps(item, default=str))
        return out
    return [str(details)]


def original_error(exc: AppError, invalid_params_code: int) -> AppError:
    """The same failure as the original would have coded it."""
    if isinstance(exc, InvalidParams) and invalid_params_code == 5:
        return BadRequest(exc.msg, exc.details)
    if isinstance(exc, UpstreamError):
        return ServerError(exc.msg, exc.details)
    return exc


def error_response(exc: AppError) -> JSONResponse:
    body: dict[str, Any] = {"code": exc.code, "msg": exc.msg}
    details = _detail_strings(exc.details)
    if details:  # the original left `details` out when there were none
        body["details"] = details
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


def endpoint(invalid_params_code: int = 5) -> Callable[[Handler], Handler]:
    """Answer the core's errors in the original's codes and shape (docstring kept for OpenAPI)."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except AppError as exc:
                return error_response(original_error(exc, invalid_params_code))

        return answer

    return wrap


def ok(body: Any = None) -> JSONResponse:
    """A 200; no body is `{}`, as the original wrote it."""
    return JSONResponse({} if body is None else body)


# --- request bodies and query parameters --------------------------------------------------


async def go_body(request: Request, error: type[AppError] = BadRequest) -> dict[str, Any]:
    """The body as a JSON object; anything else is `error` (code 5, as the original's binding)."""
    body = await json_body(request, error)
    if not isinstance(body, dict):
        raise error(f"the body must be a JSON object, got {type(body).__name__}")
    return body


def go_get(body: dict[str, Any], name: str) -> Any:
    """`body[name]`, else the first key equal to it ignoring case (Go's encoding/json)."""
    if name in body:
        return body[name]
    folded = name.casefold()
    for key, value in body.items():
        if isinstance(key, str) and key.casefold() == folded:
            return value
    return None


def text_field(
    body: dict[str, Any], name: str, *, required: bool, error: type[AppError] = BadRequest
) -> str:
    value = go_get(body, name)
    if value is None:
        if required:
            raise error(f"{name} is required")
        return ""
    if not isinstance(value, str):
        raise error(f"{name} must be a string, got {json.dumps(value)[:40]}")
    if required and not value:
        raise error(f"{name} is required")
    return value


def text_list(body: dict[str, Any], name: str, *, required: bool) -> list[str] | None:
    """A list of strings; None when absent or null (the original's `required` refused that)."""
    value = go_get(body, name)
    if value is None:
        if required:
            raise BadRequest(f"{name} is required (a list of ids)")
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadRequest(f"{name} must be a list of string ids")
    return list(dict.fromkeys(value))


def query_text(request: Request, name: str, missing: str) -> str:
    """A required query parameter; missing or empty is code 5 with the original's message."""
    value = request.query_params.get(name, "")
    if not value:
        raise BadRequest(missing)
    return value


def _atoi(raw: str | None) -> int:
    """Go's strconv.Atoi, with its failures read as 0 (the original's MustInt)."""
    if raw is None or not _DIGITS.fullmatch(raw):
        return 0
    value = int(raw)
    return value if -(2**63) <= value < 2**63 else 0


def original_page(request: Request) -> Page:
    """`page`, `pageSize` as the original read them: lenient, and clamped to MAX_PAGE_SIZE."""
    settings = request.app.state.settings
    page = _atoi(request.query_params.get("page"))
    size = _atoi(request.query_params.get("pageSize"))
    if size <= 0:
        size = settings.default_page_size
    # Pages past any real one only need to be empty; the cap keeps offsets within 64 bits.
    return Page(min(max(page, 1), _MAX_ROW_ID), min(size, settings.max_page_size))


# --- ids ---------------------------------------------------------------------------------


def plan_id(jet_id: str | None, row_id: int) -> str:
    """The id the original used for a plan row: Jet's, or our number as text for file plans."""
    return jet_id or str(row_id)


def _row_number(raw: str) -> int | None:
    """Our row id written in `raw` (plain ASCII digits only: '²' is a digit to str.isdigit)."""
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= _MAX_ROW_ID:
        return None
    return int(raw)


def by_plan_id(raw: str) -> Q:
    """Rows whose original id is `raw`: their Jet id, or (made from files) their number."""
    match = Q(jet_id=raw)
    number = _row_number(raw)
    if number is not None:
        match |= Q(jet_id__isnull=True, id=number)
    return match


def by_plan_ids(raws: list[str]) -> Q:
    """Rows whose original id is any of `raws` (see by_plan_id)."""
    numbers = [n for n in map(_row_number, raws) if n is not None]
    match = Q(jet_id__in=raws)
    if numbers:
        match |= Q(jet_id__isnull=True, id__in=numbers)
    return match


def record_id(session_id: int) -> str:
    """A session's id as the original's 32-hex record id.

    Derived, not stored: every session has one, sessions made before this layer
    included, with no backfill, and it maps back without a lookup table.
    """
    return f"{session_id:032x}"


async def find_record(raw: str) -> TestSession | None:
    """The session a record id names, or None (an unknown or malformed id)."""
    if not _RECORD.fullmatch(raw):
        return None
    session_id = int(raw, 16)
    if not 1 <= session_id <= _MAX_ROW_ID:
        return None
    return await TestSession.get_or_none(id=session_id)


def go_time(value: datetime | str | None) -> str:
    if value is None:
        return GO_ZERO_TIME
    return value if isinstance(value, str) else value.isoformat()
