"""Rows named by id, or NotFound (a 404 at every door): one wording for each kind of row."""

from __future__ import annotations

from trackmaster.errors import NotFound, field_error
from trackmaster.models import Project, TestSession


async def get_project(project_id: int) -> Project:
    project = await Project.get_or_none(id=project_id)
    if project is None:
        raise NotFound(f"no project with id {project_id}")
    return project


async def get_session(session_id: object, *, with_project: bool = False) -> TestSession:
    """The session; `with_project` also loads its project (pages show its name).

    `session_id` may come straight from a request body (the API's `record`): anything but
    a number is a 400 naming it, never a lookup."""
    if isinstance(session_id, bool) or not isinstance(session_id, int):
        raise field_error("record", f"must be a session id (a number), got {session_id!r}")
    query = TestSession.get_or_none(id=session_id)
    session = await (query.prefetch_related("project") if with_project else query)
    if session is None:
        raise NotFound(f"no test session with id {session_id}")
    return session
