"""Find a project by id or name, as commands and forms name it."""

from __future__ import annotations

from trackmaster.auth import audit
from trackmaster.errors import BadRequest, InvalidParams, NotFound, field_error
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


def _checked_name(raw: object) -> str:
    name = str(raw or "").strip()
    if not name:
        raise field_error("name", "give the project a name")
    if len(name) > MAX_PROJECT_NAME:
        raise field_error("name", f"at most {MAX_PROJECT_NAME} characters, got {len(name)}")
    if name.isdigit():
        # Commands name projects by id or name: an all-digit name would read as an id.
        raise field_error("name", "must not be only digits (it would read as a project id)")
    return name


async def create_project(name: object, description: object = "", *, actor: str = "") -> Project:
    """A new project whose plan comes from files (Jet projects come from a Jet sync)."""
    clean = _checked_name(name)
    if await Project.exists(name=clean):
        raise field_error("name", f"a project named {clean!r} exists already")
    project = await Project.create(name=clean, description=str(description or "").strip())
    await audit.record(actor or None, "project.create", f"project:{project.id}", name=clean)
    return project


async def rename_project(
    project: Project, name: object, description: object = "", *, actor: str = ""
) -> Project:
    if project.jet_id:
        raise BadRequest("this project takes its name from Jet: rename it there and sync")
    clean = _checked_name(name)
    if await Project.filter(name=clean).exclude(id=project.id).exists():
        raise field_error("name", f"another project is named {clean!r}")
    before = project.name
    project.name, project.description = clean, str(description or "").strip()
    await project.save(update_fields=["name", "description", "updated_at"])
    await audit.record(
        actor or None, "project.rename", f"project:{project.id}", before=before, after=clean
    )
    return project
