"""Your own account: change your password, sign out everywhere.

Both bump the user's session epoch (trackmaster/auth/users.py), which ends
every login cookie of theirs at once; a new password also revokes their API
tokens. The browser that changed the password gets a fresh cookie and stays in.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from trackmaster.auth import users
from trackmaster.auth.users import Principal
from trackmaster.errors import AppError, Forbidden, field_error
from web.auth import guard_of
from web.pages.login import signed_out
from web.templating import render

MAX_FIELD_CHARS = 2048


def _signed_in_user(request: Request) -> Principal:
    principal: Principal | None = request.scope.get("user")
    if principal is None or principal.user_id is None or principal.via != "session":
        raise Forbidden(
            "this page is for people signed in with a username and password (not the local "
            "admin, not an API token)"
        )
    return principal


def _page(request: Request, *, error: AppError | None = None, notice: str = "") -> Response:
    _signed_in_user(request)
    return render(
        request,
        "account/password.html",
        {"error": error, "notice": notice},
        status_code=error.status if error else 200,
    )


async def account_page(request: Request) -> Response:
    notice = "Password changed." if request.query_params.get("changed") else ""
    return _page(request, notice=notice)


async def change_password(request: Request) -> Response:
    principal = _signed_in_user(request)
    async with request.form() as form:
        fields = {key: str(form.get(key) or "")[:MAX_FIELD_CHARS] for key in form}
    try:
        if fields.get("new_password", "") != fields.get("new_password_again", ""):
            raise field_error("new_password_again", "does not match the new password")
        assert principal.user_id is not None
        user = await users.change_own_password(
            principal.user_id, fields.get("current_password", ""), fields.get("new_password", "")
        )
    except AppError as exc:
        return _page(request, error=exc)
    response = RedirectResponse("/account?changed=1", status_code=303)
    # This browser proved the old password: it stays signed in, with the new epoch.
    response.headers.append(
        "set-cookie", guard_of(request).session_cookie(user, secure=request.url.scheme == "https")
    )
    return response


async def sign_out_everywhere(request: Request) -> Response:
    principal = _signed_in_user(request)
    assert principal.user_id is not None
    user = await users.get_user(principal.user_id)
    await users.end_sessions(user, actor=user.username, audited=True)
    return signed_out()


routes = [
    Route("/account", account_page, methods=["GET"], name="account"),
    Route("/account/password", change_password, methods=["POST"], name="account_password_submit"),
    Route(
        "/account/signout-all", sign_out_everywhere, methods=["POST"], name="account_signout_all"
    ),
]
