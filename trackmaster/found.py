"""Rows named by id, or NotFound (a 404 at every door): one wording for each kind of row."""

from __future__ import annotations

from trackmaster.errors import NotFound
from trackmaster.models import Project, TestSession


async def get_project(project_id: int) -> Project:
    project = await Project.get_or_none(id=project_id)
    if project is None:
        raise NotFound(f"no project with id {project_id}")
    return project


async def get_session(session_id: int, *, with_project: bool = False) -> TestSession:
    """The session; `with_project` also loads its project (pages show its name)."""
    query = TestSession.get_or_none(id=session_id)
    session = await (query.prefetch_related("project") if with_project else query)
    if session is None:
        raise NotFound(f"no test session with id {session_id}")
    return session
