"""One error handler for the whole app: JSON for programs, a page for people, a
fragment for HTMX. Unexpected exceptions become a 500 without leaking internals."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from trackmaster.db_outage import DatabaseUnavailable, is_unreachable
from trackmaster.errors import (
    AppError,
    InvalidParams,
    NotFound,
    PoolBusy,
    PoolClosed,
    ServiceUnavailable,
    TooManyRequests,
)
from web.negotiation import wants_json
from web.security import SECURITY_HEADERS
from web.templating import for_htmx, render

log = logging.getLogger(__name__)

ERROR_SECURITY_HEADERS = {name.decode(): value.decode() for name, value in SECURITY_HEADERS.items()}


def _as_app_error(exc: Exception) -> AppError:
    if isinstance(exc, AppError):
        return exc
    if isinstance(exc, PoolBusy):
        return TooManyRequests(
            "TrackMaster is busy checking events; retry after the delay in Retry-After",
            retry_after_s=exc.retry_after_s,
        )
    if isinstance(exc, PoolClosed):
        return ServiceUnavailable("TrackMaster is shutting down; retry in a moment")
    if is_unreachable(exc):
        # A connection failure on a path without its own guard (MariaDB calls have one,
        # trackmaster/db_mysql.py): a 503 to retry and a line, not a traceback.
        log.warning("a dependency is unreachable: %s: %s", type(exc).__name__, exc)
        return DatabaseUnavailable()
    if isinstance(exc, OverflowError) and "SQLite INTEGER" in str(exc):
        # A client's number beyond 64 bits reached a query (ids, page numbers): its mistake.
        # MariaDB compares such literals and finds nothing; SQLite refuses to bind them.
        return InvalidParams("a number in the request is too large (at most 9223372036854775807)")
    if isinstance(exc, HTTPException):
        if exc.status_code == 404:
            return NotFound("no such page or endpoint")
        error = AppError(exc.detail or "request failed", headers=dict(exc.headers or {}))
        error.status = exc.status_code
        error.code = 5 if 400 <= exc.status_code < 500 else 1
        error.title = exc.detail or "Error"
        return error
    return AppError("internal server error; the error was logged")


def render_error(request: Request, exc: Exception) -> Response:
    error = _as_app_error(exc)
    if error.status >= 500 and not isinstance(exc, AppError | PoolClosed):
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    # An unexpected exception is answered by Starlette's outermost middleware, outside
    # the one that adds the security headers: every error carries them itself.
    headers = {**ERROR_SECURITY_HEADERS, **error.headers}
    if wants_json(request):
        return JSONResponse(error.body(), status_code=error.status, headers=headers)
    template = for_htmx(request, "errors/_error.html", "errors/error.html")
    return render(request, template, {"error": error}, status_code=error.status, headers=headers)


async def handle_exception(request: Request, exc: Exception) -> Response:
    return render_error(request, exc)


EXCEPTION_HANDLERS = {
    Exception: handle_exception,
    HTTPException: handle_exception,
    AppError: handle_exception,
    PoolBusy: handle_exception,
    PoolClosed: handle_exception,
    # Listed so that it is answered inside the app (Exception alone goes to the outer
    # ServerErrorMiddleware, which re-raises even after answering).
    OverflowError: handle_exception,
}
