"""Rotating a project's ingest write key: the old key stops working at once."""

from __future__ import annotations

from trackmaster.auth import audit
from trackmaster.found import get_project
from trackmaster.models import Project, new_write_key


async def rotate_write_key(project_id: int, *, actor: str | None = None) -> Project:
    project = await get_project(project_id)
    project.write_key = new_write_key()
    await project.save(update_fields=["write_key", "updated_at"])
    await audit.record(actor, "writekey.rotate", f"project:{project.id}", name=project.name)
    return project
