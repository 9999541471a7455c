"""Signing in and out. Failed logins are throttled per username and address."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from trackmaster.auth import audit
from trackmaster.auth.throttle import MAX_FAILURES, WINDOW_S, throttle_key
from trackmaster.auth.users import authenticate, end_sessions, normalised_name
from trackmaster.errors import TooManyRequests
from trackmaster.models import User
from web.auth import SESSION_COOKIE, expired_cookie, guard_of
from web.templating import render

log = logging.getLogger(__name__)

MAX_FIELD_CHARS = 2048


def safe_next(raw: str | None) -> str:
    """Only a path on this site: never `//host`, `/\\host` or a full URL (open redirects)."""
    if not raw or not raw.startswith("/") or raw.startswith(("//", "/\\")):
        return "/"
    if any(ch in raw for ch in "\r\n\\") or len(raw) > 2000:
        return "/"
    return raw


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def login_page(request: Request) -> Response:
    return render(request, "auth/login.html", {"next": safe_next(request.query_params.get("next"))})


async def login(request: Request) -> Response:
    form = await request.form()
    username = str(form.get("username") or "")[:MAX_FIELD_CHARS]
    password = str(form.get("password") or "")[:MAX_FIELD_CHARS]
    next_url = safe_next(str(form.get("next") or ""))
    guard = guard_of(request)
    key = throttle_key(normalised_name(username), _client_address(request))
    # Counted before the password is checked: parallel guesses cannot all slip in.
    wait_s = await guard.login_throttle.attempt(key)
    if wait_s is not None:
        minutes = max(1, round(wait_s / 60))
        raise TooManyRequests(
            f"too many failed logins for this username from your address; try again in "
            f"about {minutes} min (after {MAX_FAILURES} failures we wait "
            f"{WINDOW_S // 60} min)",
            retry_after_s=int(wait_s) + 1,
        )
    user = await authenticate(username, password)
    if user is None:
        # Logged, not audited: failures come from the open internet and must not grow a table.
        log.warning("failed login for %r from %s", username[:150], _client_address(request))
        return render(
            request,
            "auth/login.html",
            {"next": next_url, "username": username, "error": "wrong username or password"},
            status_code=401,
        )
    await guard.login_throttle.reset(key)
    await audit.record(
        user.username, "login", f"user:{user.username}", address=_client_address(request)
    )
    response = RedirectResponse(next_url, status_code=303)
    response.headers.append(
        "set-cookie", guard.session_cookie(user, secure=request.url.scheme == "https")
    )
    return response


async def logout(request: Request) -> Response:
    principal = request.scope.get("user")
    if principal is not None and principal.via == "session" and principal.user_id is not None:
        # Server-side: a copy of the cookie (another tab, a thief) stops working too.
        user = await User.get_or_none(id=principal.user_id)
        if user is not None:
            await end_sessions(user)
    return signed_out()


def signed_out() -> Response:
    """To the login page, with this browser's session cookie deleted."""
    response = RedirectResponse("/login", status_code=303)
    response.headers.append("set-cookie", expired_cookie(SESSION_COOKIE))
    return response


routes = [
    Route("/login", login_page, methods=["GET"], name="login"),
    Route("/login", login, methods=["POST"], name="login_submit"),
    Route("/logout", logout, methods=["POST"], name="logout"),
]
