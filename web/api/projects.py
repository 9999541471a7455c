"""`/api/v3/projects`: the original's list and Jet sync, plus plan files and sync history.

POST /projects/sync                  create/rename projects from Jet (original)
GET  /projects?page=&pageSize=&name= the projects, paged (original)
GET  /projects/{id}                  one project with counts (new)
GET  /projects/{id}/syncRuns         its sync history, newest first (new)
PUT  /projects/{id}/plan?format=     import a plan file, all or nothing (new)
GET  /projects/{id}/plan?format=     export the plan as a file (new)
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trackmaster.errors import PayloadTooLarge, UpstreamError, field_error
from trackmaster.models import Account, Project, SyncRun
from trackmaster.plan.browse import get_project, list_projects, run_json, story_counts
from trackmaster.plan.export import CONTENT_TYPES, export_plan
from trackmaster.plan.files import FORMATS
from trackmaster.plan.sync import import_plan_file, sync_projects_from_jet
from web.api import actor, as_id, jet_client
from web.pager import page_from
from web.params import runtime_of


def project_json(project: Project, stories: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": project.id,
        "jetID": project.jet_id,
        "name": project.name,
        "description": project.description,
        "createdAt": project.created_at.isoformat(),
        "updatedAt": project.updated_at.isoformat(),
    }
    if stories is not None:
        body["storyCount"] = stories
    return body


async def projects_sync(request: Request) -> JSONResponse:
    """
    ---
    summary: Create and rename projects from Jet
    description: Reads Jet's project list; new projects are created, renamed ones renamed.
      Projects that left Jet are kept with their history. Their plans sync separately
      (POST /api/v3/stories/sync).
    tags: [projects]
    responses:
      200:
        description: What changed, per kind, with the first changes by name.
        content: {application/json: {schema: {$ref: "#/components/schemas/DiffEnvelope"}}}
      400: {$ref: "#/components/responses/BadRequest"}
      502: {$ref: "#/components/responses/Upstream"}
    """
    async with jet_client(request) as jet:
        diff = await sync_projects_from_jet(jet, started_by=actor(request))
    return JSONResponse({"data": diff})


async def projects_list(request: Request) -> JSONResponse:
    """
    ---
    summary: List projects
    tags: [projects]
    parameters:
      - {$ref: "#/components/parameters/page"}
      - {$ref: "#/components/parameters/pageSize"}
      - {name: name, in: query, description: Part of the project name, schema: {type: string}}
    responses:
      200:
        description: A page of projects.
        content:
          application/json:
            schema: {$ref: "#/components/schemas/ProjectList"}
      400: {$ref: "#/components/responses/InvalidParams"}
    """
    page = page_from(request)
    projects, total = await list_projects(
        page.offset, page.page_size, request.query_params.get("name", "").strip()
    )
    counts = await story_counts([project.id for project in projects])
    return JSONResponse(
        page.envelope([project_json(p, counts.get(p.id, 0)) for p in projects], total)
    )


async def project_detail(request: Request) -> JSONResponse:
    """
    ---
    summary: One project, with how many stories and accounts it has
    tags: [projects]
    parameters: [{$ref: "#/components/parameters/projectPath"}]
    responses:
      200:
        description: The project.
        content: {application/json: {schema: {$ref: "#/components/schemas/ProjectEnvelope"}}}
      404: {$ref: "#/components/responses/NotFound"}
    """
    project = await get_project(as_id(request.path_params["id"], "id"))
    body = project_json(project, (await story_counts([project.id])).get(project.id, 0))
    body["accountCount"] = await Account.filter(project=project).count()
    return JSONResponse({"data": body})


async def sync_runs(request: Request) -> JSONResponse:
    """
    ---
    summary: The project's sync history, newest first
    tags: [projects]
    parameters:
      - {$ref: "#/components/parameters/projectPath"}
      - {$ref: "#/components/parameters/page"}
      - {$ref: "#/components/parameters/pageSize"}
    responses:
      200:
        description: A page of sync runs with their diffs.
        content: {application/json: {schema: {$ref: "#/components/schemas/SyncRunList"}}}
      404: {$ref: "#/components/responses/NotFound"}
    """
    project = await get_project(as_id(request.path_params["id"], "id"))
    page = page_from(request)
    query = SyncRun.filter(project=project)
    runs = await query.order_by("-id").offset(page.offset).limit(page.page_size)
    return JSONResponse(page.envelope([run_json(run) for run in runs], await query.count()))


def _format(request: Request, default: str | None) -> str | None:
    fmt = request.query_params.get("format", default)
    if fmt is not None and fmt not in FORMATS:
        raise field_error("format", f"must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return fmt


async def read_upload(request: Request) -> tuple[bytes, str]:
    """The uploaded file (multipart field `file`, or the raw body), within MAX_UPLOAD_BYTES."""
    limit = request.app.state.settings.max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + 65536:
        raise PayloadTooLarge(f"the file is larger than MAX_UPLOAD_BYTES ({limit} bytes)")
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        async with request.form(max_part_size=limit + 1) as form:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise field_error("file", "choose a plan file (.yaml, .json or .csv)")
            content = await upload.read()
            filename = upload.filename or "plan"
    else:
        content = await request.body()
        filename = "plan"
    if len(content) > limit:
        raise PayloadTooLarge(f"the file is larger than MAX_UPLOAD_BYTES ({limit} bytes)")
    if not content.strip():
        raise field_error("file", "is empty")
    return content, filename


async def plan_import(request: Request) -> JSONResponse:
    """
    ---
    summary: Import a plan file into the project (all or nothing)
    description: The body is the file (or multipart field `file`). YAML, JSON or CSV as in
      docs/plans.md; the format comes from `format` or the file name. Every problem is listed
      with its line or row, and nothing changes unless there is none.
    tags: [projects]
    parameters:
      - {$ref: "#/components/parameters/projectPath"}
      - {name: format, in: query, schema: {type: string, enum: [yaml, json, csv]}}
    requestBody:
      content:
        application/yaml: {schema: {type: string}}
        multipart/form-data:
          schema: {type: object, properties: {file: {type: string, format: binary}}}
    responses:
      200:
        description: The recorded sync run and its diff.
        content: {application/json: {schema: {$ref: "#/components/schemas/SyncRunEnvelope"}}}
      400: {$ref: "#/components/responses/InvalidParams"}
      404: {$ref: "#/components/responses/NotFound"}
      413: {$ref: "#/components/responses/TooLarge"}
    """
    project = await get_project(as_id(request.path_params["id"], "id"))
    fmt = _format(request, None)
    content, filename = await read_upload(request)
    if fmt is None and filename == "plan":
        raise field_error("format", "is required when the file has no name (yaml, json, csv)")
    run = await import_plan_file(
        project,
        content,
        filename,
        fmt=fmt,
        trigger="api",
        started_by=actor(request),
        changes=runtime_of(request).plan_changes,
    )
    if run.status != "ok":
        raise UpstreamError(f"the import failed: {run.error}", details={"run": run.id})
    return JSONResponse({"data": run_json(run)})


async def plan_export(request: Request) -> Response:
    """
    ---
    summary: Export the project's plan as a file
    tags: [projects]
    parameters:
      - {$ref: "#/components/parameters/projectPath"}
      - {name: format, in: query, schema: {type: string, enum: [yaml, json, csv], default: yaml}}
    responses:
      200:
        description: The plan file.
        content:
          application/yaml: {schema: {type: object, description: The plan file (docs/plans.md)}}
          application/json: {schema: {type: object, description: The plan file (docs/plans.md)}}
          text/csv: {schema: {type: string}}
      404: {$ref: "#/components/responses/NotFound"}
    """
    project = await get_project(as_id(request.path_params["id"], "id"))
    fmt = _format(request, "yaml") or "yaml"
    text = await export_plan(project, fmt)
    return Response(
        text,
        media_type=f"{CONTENT_TYPES[fmt]}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="plan-{project.id}.{fmt}"'},
    )


routes = [
    Route("/api/v3/projects/sync", projects_sync, methods=["POST"]),
    Route("/api/v3/projects", projects_list, methods=["GET"]),
    Route("/api/v3/projects/{id}", project_detail, methods=["GET"]),
    Route("/api/v3/projects/{id}/syncRuns", sync_runs, methods=["GET"]),
    Route("/api/v3/projects/{id}/plan", plan_import, methods=["PUT"]),
    Route("/api/v3/projects/{id}/plan", plan_export, methods=["GET"]),
]
