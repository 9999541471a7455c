"""Find a project by id or name, as commands and forms name it."""

from __future__ import annotations

from trackmaster.errors import InvalidParams, NotFound
from trackmaster.models import Project

MAX_PROJECT_NAME = 100


async def find_project(ref: str | int, *, create: bool = False) -> Project:
    """The project with this id, or else this exact name; with `create`, a new one of that name."""
    text = str(ref).strip()
    if not text:
        raise InvalidParams("project: give a project id or name")
    if text.isdigit():
        found = await Project.get_or_none(id=int(text))
        if found is not None:
            return found
    named = await Project.filter(name=text).order_by("id")
    if len(named) > 1:
        ids = ", ".join(str(project.id) for project in named)
        raise InvalidParams(f"project: {len(named)} projects are named {text!r} ({ids}); use an id")
    if named:
        return named[0]
    if not create:
        raise NotFound(f"no project with id or name {text!r}")
    if len(text) > MAX_PROJECT_NAME:
        raise InvalidParams(f"project: a name is at most {MAX_PROJECT_NAME} characters")
    return await Project.create(name=text)
