"""Admin pages: users, API tokens, the audit log, and rotating a project's write key.

The policy (web/policy.py) lets only admins in; each handler
checks again, so a policy edit cannot open them by accident.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from trackmaster.auth import audit, tokens, users
from trackmaster.auth.roles import ROLE_NAMES, Role
from trackmaster.auth.users import Principal
from trackmaster.auth.writekeys import rotate_write_key
from trackmaster.errors import AppError, Forbidden, NotFound, field_error
from trackmaster.models import ApiToken, User
from trackmaster.plan.browse import get_project
from web import confirmations
from web.auth import guard_of
from web.pager import page_from
from web.templating import for_htmx, render

MAX_FIELD_CHARS = 2048


def _require_admin(request: Request) -> Principal:
    principal: Principal | None = request.scope.get("user")
    if principal is None or not principal.can(Role.ADMIN):
        raise Forbidden("only admins may see this page")
    return principal


def _int_path(request: Request, name: str) -> int:
    raw = request.path_params[name]
    try:
        return int(raw)
    except ValueError:
        raise field_error(name, f"must be a whole number, got {raw[:40]!r}") from None


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: str(value)[:MAX_FIELD_CHARS] for key, value in form.items() if key != "csrf_token"}


# --- users -----------------------------------------------------------------------------


async def _users_page(
    request: Request, *, error: AppError | None = None, notice: str = "", form: Any = None
) -> Response:
    _require_admin(request)
    listed = await User.all().order_by("username")
    return render(
        request,
        "admin/users.html",
        {
            "users": listed,
            "roles": ROLE_NAMES,
            "error": error,
            "notice": notice,
            "form": form or {},
        },
        status_code=error.status if error else 200,
    )


async def users_page(request: Request) -> Response:
    return await _users_page(request, notice=request.query_params.get("notice", "")[:200])


async def create_user(request: Request) -> Response:
    actor = _require_admin(request)
    form = await _form(request)
    try:
        user = await users.create_user(
            form.get("username", ""),
            form.get("password", ""),
            form.get("role", ""),
            actor=actor.username,
        )
    except AppError as exc:
        return await _users_page(request, error=exc, form=form)
    guard_of(request).users_changed()
    return RedirectResponse(f"/admin/users?notice=created+{user.username}", status_code=303)


async def change_user(request: Request) -> Response:
    """One form per user row: role, enabled, and optionally a new password."""
    actor = _require_admin(request)
    user_id = _int_path(request, "user_id")
    form = await _form(request)
    try:
        user = await users.get_user(user_id)
        if form.get("role") and form["role"] != user.role:
            await users.set_role(user_id, form["role"], actor=actor.username)
        disabled = form.get("disabled") == "on"
        if "enabled_state" in form and disabled != user.disabled:
            await users.set_disabled(user_id, disabled, actor=actor.username)
        if form.get("password"):
            await users.set_password(user_id, form["password"], actor=actor.username)
    except AppError as exc:
        return await _users_page(request, error=exc)
    return RedirectResponse(f"/admin/users?notice=saved+{user.username}", status_code=303)


# --- API tokens --------------------------------------------------------------------------


async def _tokens_page(
    request: Request, *, error: AppError | None = None, created: tokens.NewToken | None = None
) -> Response:
    _require_admin(request)
    return render(
        request,
        "admin/tokens.html",
        {
            "tokens": await tokens.list_tokens(),
            "users": await User.filter(disabled=False).order_by("username"),
            "error": error,
            "created": created,
            "now": datetime.now(UTC),
        },
        status_code=error.status if error else 200,
        # The new token is in this page once; no cache may keep a copy.
        headers={"Cache-Control": "no-store"},
    )


async def tokens_page(request: Request) -> Response:
    return await _tokens_page(request)


async def create_token(request: Request) -> Response:
    actor = _require_admin(request)
    form = await _form(request)
    try:
        user = await User.get_or_none(username=form.get("username", ""))
        if user is None or user.disabled:
            raise field_error("username", "choose an enabled user")
        lifetime = tokens.parse_lifetime(form.get("expires_in", ""))
        created = await tokens.create_token(
            user, form.get("name", ""), expires_in=lifetime, actor=actor.username
        )
    except AppError as exc:
        return await _tokens_page(request, error=exc)
    return await _tokens_page(request, created=created)


async def revoke_token(request: Request) -> Response:
    actor = _require_admin(request)
    token_id = _int_path(request, "token_id")
    form = await request.form()
    if not confirmations.confirmed(request, form):
        token = await ApiToken.get_or_none(id=token_id).prefetch_related("user")
        if token is None:
            raise NotFound(f"no API token {token_id}")
        ask = confirmations.revoke_token(token.name, token.user.username)
        return confirmations.confirm_page(request, form, ask, "/admin/tokens")
    await tokens.revoke_token(token_id, actor=actor.username)
    return RedirectResponse("/admin/tokens", status_code=303)


# --- the audit log ------------------------------------------------------------------------


async def audit_page(request: Request) -> Response:
    _require_admin(request)
    page = page_from(request)
    action = request.query_params.get("action", "")[:64]
    actor = request.query_params.get("actor", "")[:150]
    found = await audit.search(action=action, actor=actor, offset=page.offset, limit=page.page_size)
    context = {
        "entries": found.entries,
        "total": found.total,
        "page": page,
        "pages": max(1, -(-found.total // page.page_size)),
        "action": action,
        "actor": actor,
        "actions": await audit.actions(),
    }
    template = for_htmx(request, "admin/_audit_rows.html", "admin/audit.html")
    return render(request, template, context)


# --- project write keys -------------------------------------------------------------------


async def rotate_key_page(request: Request) -> Response:
    actor = _require_admin(request)
    project_id = _int_path(request, "project_id")
    form = await request.form()
    if not confirmations.confirmed(request, form):
        project = await get_project(project_id)
        ask = confirmations.rotate_write_key(project.name)
        return confirmations.confirm_page(request, form, ask, f"/projects/{project.id}#write-key")
    project = await rotate_write_key(project_id, actor=actor.username)
    return RedirectResponse(f"/projects/{project.id}#write-key", status_code=303)


async def rotate_key_api(request: Request) -> Response:
    actor = _require_admin(request)
    project = await rotate_write_key(_int_path(request, "project_id"), actor=actor.username)
    return JSONResponse({"data": {"project": project.id, "writeKey": project.write_key}})


routes = [
    Route("/admin/users", users_page, methods=["GET"], name="admin_users"),
    Route("/admin/users", create_user, methods=["POST"], name="admin_create_user"),
    Route("/admin/users/{user_id}", change_user, methods=["POST"], name="admin_change_user"),
    Route("/admin/tokens", tokens_page, methods=["GET"], name="admin_tokens"),
    Route("/admin/tokens", create_token, methods=["POST"], name="admin_create_token"),
    Route(
        "/admin/tokens/{token_id}/revoke", revoke_token, methods=["POST"], name="admin_revoke_token"
    ),
    Route("/admin/audit", audit_page, methods=["GET"], name="admin_audit"),
    Route(
        "/projects/{project_id}/write-key/rotate",
        rotate_key_page,
        methods=["POST"],
        name="rotate_write_key",
    ),
    Route(
        "/api/v3/projects/{project_id}/writeKey/rotate",
        rotate_key_api,
        methods=["POST"],
        name="api_rotate_write_key",
    ),
]
