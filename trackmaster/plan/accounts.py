"""Test accounts of a project: add (validated) and delete. Sessions keep the user ids they used."""

from __future__ import annotations

from typing import Any

from trackmaster.auth import audit
from trackmaster.errors import BadRequest, InvalidParams, NotFound, field_error
from trackmaster.models import Account, Project

MIN_DESCRIPTION = 2
MAX_DESCRIPTION = 50
MAX_USER_ID = 128


def check_account(user_id: Any, description: Any) -> tuple[str, str]:
    """The cleaned (user id, description), or InvalidParams listing every problem."""
    problems = []
    if not isinstance(user_id, str | int) or isinstance(user_id, bool):
        problems.append(("id", "is required: the test user id, as text"))
    elif not str(user_id).strip():
        problems.append(("id", "must not be empty"))
    elif len(str(user_id).strip()) > MAX_USER_ID:
        problems.append(("id", f"must be at most {MAX_USER_ID} characters"))
    if not isinstance(description, str):
        problems.append(("description", "is required: text of 2 to 50 characters"))
    elif not MIN_DESCRIPTION <= len(description.strip()) <= MAX_DESCRIPTION:
        problems.append(
            (
                "description",
                f"must be {MIN_DESCRIPTION} to {MAX_DESCRIPTION} characters, "
                f"got {len(description.strip())}",
            )
        )
    if problems:
        if len(problems) == 1:
            raise field_error(*problems[0])
        raise InvalidParams(
            "; ".join(f"{name}: {problem}" for name, problem in problems),
            details=[{"field": name, "error": problem} for name, problem in problems],
        )
    return str(user_id).strip(), description.strip()


async def add_account(project: Project, user_id: Any, description: Any) -> Account:
    clean_id, clean_description = check_account(user_id, description)
    if await Account.exists(project=project, user_id=clean_id):
        raise BadRequest(
            f"id: test account {clean_id!r} already exists in project {project.name!r}",
            details=[{"field": "id", "error": "already exists in this project"}],
        )
    account = await Account.create(project=project, user_id=clean_id, description=clean_description)
    await audit.record(None, "account.add", f"project:{project.id}", user_id=clean_id)
    return account


async def list_accounts(
    project_id: int | None, description: str, offset: int, limit: int
) -> tuple[list[Account], int]:
    """Test accounts (of one project when given) whose description holds `description`."""
    query = Account.all()
    if project_id is not None:
        query = query.filter(project_id=project_id)
    if description:
        query = query.filter(description__icontains=description)
    total = await query.count()
    return await query.order_by("id").offset(offset).limit(limit), total


async def find_account(user_id: str, project_id: int | None = None) -> Account:
    """The account with this test user id (in `project_id` when given; else it must be unique)."""
    query = Account.filter(user_id=user_id)
    if project_id is not None:
        query = query.filter(project_id=project_id)
    found = await query.order_by("id")
    if not found:
        where = f" in project {project_id}" if project_id is not None else ""
        raise NotFound(f"no test account {user_id!r}{where}")
    if len(found) > 1:
        projects = ", ".join(str(account.project_id) for account in found)
        raise field_error(
            "project", f"test account {user_id!r} is in projects {projects}; name one"
        )
    return found[0]


async def delete_account(account: Account) -> None:
    await account.delete()
    await audit.record(
        None,
        "account.delete",
        f"project:{account.project_id}",
        user_id=account.user_id,
    )
