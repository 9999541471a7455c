"""The exception tree: each error carries its status and the API's error code.

Raised anywhere (domain, web, workers); rendered by one handler in web/ as
JSON (`{"code", "msg", "details"}` as the original API did), an HTML page, or
an HTMX fragment, by what the client asked for.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status: int = 500
    code: int = 1  # the original API's error codes: 1 server, 2 params, 3 not found, 4 busy, 5 bad
    title: str = "Server error"

    def __init__(self, msg: str, details: Any = None, *, headers: dict[str, str] | None = None):
        super().__init__(msg)
        self.msg = msg
        self.details = details
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "msg": self.msg}
        if self.details is not None:
            body["details"] = self.details
        return body


class InvalidParams(AppError):
    """The request's parameters are wrong; `details` lists each one and what to fix."""

    status, code, title = 400, 2, "Invalid parameters"


class NotFound(AppError):
    status, code, title = 404, 3, "Not found"


class TooManyRequests(AppError):
    """Busy or over a rate limit: the client should retry after `retry_after_s`."""

    status, code, title = 429, 4, "Too many requests"

    def __init__(self, msg: str, retry_after_s: int = 1, details: Any = None):
        super().__init__(msg, details, headers={"Retry-After": str(max(1, int(retry_after_s)))})
        self.retry_after_s = retry_after_s


class BadRequest(AppError):
    """The request cannot be done in the current state (e.g. a stopped session)."""

    status, code, title = 400, 5, "Bad request"


class Unauthorized(AppError):
    status, code, title = 401, 6, "Not signed in"


class Forbidden(AppError):
    status, code, title = 403, 7, "Forbidden"


class Conflict(AppError):
    status, code, title = 409, 8, "Conflict"


class PayloadTooLarge(AppError):
    status, code, title = 413, 9, "Payload too large"


class ServiceUnavailable(AppError):
    """A dependency is down or the process is shutting down; retry later."""

    status, code, title = 503, 10, "Service unavailable"

    def __init__(self, msg: str, retry_after_s: int = 5, details: Any = None):
        super().__init__(msg, details, headers={"Retry-After": str(max(1, int(retry_after_s)))})


class UpstreamError(AppError):
    """A third party (Jet, a webhook) failed; the message says which call and what came back."""

    status, code, title = 502, 11, "Upstream service failed"


def field_error(field: str, problem: str) -> InvalidParams:
    """An InvalidParams for one field, in the shape every validation error uses."""
    return InvalidParams(f"{field}: {problem}", details=[{"field": field, "error": problem}])


# The worker pool's refusals. They live in the core, beside the errors they become (429 and
# 503), so that every door translates them without importing the pool (workers/pool.py).
class PoolBusy(RuntimeError):
    """The pool cannot finish new work in time; try again after `retry_after_s`."""

    def __init__(self, retry_after_s: int = 1) -> None:
        super().__init__("the worker pool is busy")
        self.retry_after_s = retry_after_s


class PoolClosed(RuntimeError):
    """The pool is shutting down and takes no new work."""
