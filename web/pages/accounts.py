"""Test accounts of a project: listed, added and deleted inline, errors next to the input."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from trackmaster.errors import AppError, NotFound
from trackmaster.models import Account, Project
from trackmaster.plan.accounts import add_account, delete_account
from trackmaster.plan.browse import get_project
from web import confirmations
from web.api import as_id
from web.templating import for_htmx, is_htmx, render


async def _project(request: Request) -> Project:
    try:
        project_id = as_id(request.path_params["id"], "project")
    except AppError:
        raise NotFound(f"no project with id {request.path_params['id']!r}") from None
    return await get_project(project_id)


async def _render(
    request: Request,
    project: Project,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    context: dict[str, Any] = {
        "project": project,
        "accounts": await Account.filter(project=project).order_by("id"),
        "errors": errors or {},
        "form": form or {},
    }
    template = for_htmx(request, "accounts/_accounts.html", "accounts/page.html")
    return render(request, template, context, status_code=status_code)


def _errors_by_field(exc: AppError) -> dict[str, str]:
    """Each problem under its input's name; anything else under "form"."""
    errors: dict[str, str] = {}
    if isinstance(exc.details, list):
        for item in exc.details:
            if isinstance(item, dict) and "field" in item:
                errors.setdefault(item["field"], item["error"])
    return errors or {"form": exc.msg}


async def accounts_page(request: Request) -> Response:
    return await _render(request, await _project(request))


async def add(request: Request) -> Response:
    project = await _project(request)
    async with request.form() as submitted:
        form = {name: str(submitted.get(name, "")) for name in ("id", "description")}
    try:
        await add_account(project, form["id"], form["description"])
    except AppError as exc:
        return await _render(
            request, project, errors=_errors_by_field(exc), form=form, status_code=exc.status
        )
    if is_htmx(request):
        return await _render(request, project)
    return RedirectResponse(f"/projects/{project.id}/accounts", 303)


async def delete(request: Request) -> Response:
    project = await _project(request)
    account = await Account.get_or_none(
        id=as_id(request.path_params["account"], "account"), project=project
    )
    if account is None:
        raise NotFound(f"no test account {request.path_params['account']} in this project")
    form = await request.form()
    if not confirmations.confirmed(request, form):
        ask = confirmations.delete_account(account.user_id)
        return confirmations.confirm_page(request, form, ask, f"/projects/{project.id}/accounts")
    await delete_account(account)
    if is_htmx(request):
        return await _render(request, project)
    return RedirectResponse(f"/projects/{project.id}/accounts", 303)


routes = [
    Route("/projects/{id}/accounts", accounts_page, methods=["GET"], name="accounts"),
    Route("/projects/{id}/accounts", add, methods=["POST"]),
    Route("/projects/{id}/accounts/{account}/delete", delete, methods=["POST"]),
]
