"""/api/v2 projects, accounts and stories, as the original answered them.

POST   /projects/sync                        -> {}
GET    /projects                              -> {data: [Project], pager}   (every project)
POST   /accounts {projectID, id, description} -> Account
GET    /accounts?project=&description=        -> {data: [Account], pager}
DELETE /accounts/{id}                         -> {}   (unknown ids too)
POST   /stories/sync?project=                 -> {}
GET    /stories?project=                      -> {data: [Story], pager}
GET    /stories/{id}                          -> Story with Events and their Fields

Each is a translation around the core functions the /api/v3 endpoints call.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from trackmaster.errors import BadRequest, InvalidParams, NotFound
from trackmaster.models import Project, Story
from trackmaster.plan.accounts import add_account, delete_account, find_account, list_accounts
from trackmaster.plan.browse import get_story, list_projects, list_stories
from trackmaster.plan.sync import sync_project_from_jet, sync_projects_from_jet
from web.api import actor, jet_client
from web.api.v2._base import (
    ServerError,
    by_plan_id,
    endpoint,
    go_body,
    ok,
    original_page,
    query_text,
    text_field,
)
from web.api.v2.shapes import (
    account_json,
    enum_type_ids,
    event_json,
    field_json,
    project_json,
    story_json,
)
from web.params import runtime_of

MAX_ID_CHARS = 32  # the original's `binding:"max=32"` on account and project ids


async def find_project(raw: str) -> Project | None:
    return await Project.filter(by_plan_id(raw)).first()


async def project_or(raw: str, error: type[Exception], msg: str) -> Project:
    project = await find_project(raw)
    if project is None:
        raise error(msg)
    return project


@endpoint()
async def projects_sync(request: Request) -> JSONResponse:
    """
    ---
    summary: Create projects that are new in Jet (original)
    tags: [v2 projects]
    responses:
      200: {$ref: "#/components/responses/Empty"}
      400: {$ref: "#/components/responses/BadRequest"}
      500: {$ref: "#/components/responses/ServerError"}
    """
    async with jet_client(request) as jet:
        await sync_projects_from_jet(jet, started_by=actor(request))
    return ok()


@endpoint()
async def projects_list(request: Request) -> JSONResponse:
    """
    ---
    summary: Every project (original; the pager only echoes page and pageSize)
    tags: [v2 projects]
    parameters:
      - {$ref: "#/components/parameters/page"}
      - {$ref: "#/components/parameters/pageSize"}
    responses:
      200:
        description: Every project.
        content: {application/json: {schema: {$ref: "#/components/schemas/ProjectList"}}}
    """
    page = original_page(request)
    projects, total = await list_projects(0, None)
    return JSONResponse(page.envelope([project_json(p) for p in projects], total))


def _account_body_field(body: dict, name: str, max_chars: int, min_chars: int = 1) -> str:
    # Code 2, as the original's validator middleware answered POST /accounts.
    value = text_field(body, name, required=True, error=InvalidParams)
    if not min_chars <= len(value) <= max_chars:
        raise InvalidParams(
            "invalid parameters",
            details=[f"{name}: must be {min_chars} to {max_chars} characters, got {len(value)}"],
        )
    return value


@endpoint(invalid_params_code=2)
async def accounts_add(request: Request) -> JSONResponse:
    """
    ---
    summary: Add a test account (original)
    tags: [v2 accounts]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [projectID, id, description]
            properties:
              projectID: {type: string, maxLength: 32}
              id: {type: string, maxLength: 32, description: The test user id}
              description: {type: string, minLength: 2, maxLength: 50}
    responses:
      200:
        description: The account.
        content: {application/json: {schema: {$ref: "#/components/schemas/Account"}}}
      400: {$ref: "#/components/responses/BadRequest"}
    """
    body = await go_body(request, InvalidParams)
    project_id = _account_body_field(body, "projectID", MAX_ID_CHARS)
    user_id = _account_body_field(body, "id", MAX_ID_CHARS)
    description = _account_body_field(body, "description", 50, 2)
    project = await project_or(project_id, BadRequest, "project does not exist")
    account = await add_account(project, user_id, description)
    return JSONResponse(account_json(account, project))


@endpoint()
async def accounts_list(request: Request) -> JSONResponse:
    """
    ---
    summary: A project's test accounts (original; an unknown project has none)
    tags: [v2 accounts]
    parameters:
      - {$ref: "#/components/parameters/projectQuery"}
      - {name: description, in: query, description: Part of the description, schema: {type: string}}
      - {$ref: "#/components/parameters/page"}
      - {$ref: "#/components/parameters/pageSize"}
    responses:
      200:
        description: A page of accounts.
        content: {application/json: {schema: {$ref: "#/components/schemas/AccountList"}}}
      400: {$ref: "#/components/responses/BadRequest"}
    """
    raw = query_text(request, "project", "project required in query")
    page = original_page(request)
    project = await find_project(raw)
    if project is None:
        return JSONResponse(page.envelope([], 0))
    description = request.query_params.get("description", "").strip()
    accounts, total = await list_accounts(project.id, description, page.offset, page.page_size)
    return JSONResponse(page.envelope([account_json(a, project) for a in accounts], total))


@endpoint()
async def accounts_delete(request: Request) -> JSONResponse:
    """
    ---
    summary: Delete a test account (original; an unknown one is a 200 too)
    description: '`project` (new, optional) picks the project when several have this user id.'
    tags: [v2 accounts]
    parameters:
      - {name: id, in: path, required: true, description: The test user id, schema: {type: string}}
      - {name: project, in: query, schema: {type: string}}
    responses:
      200: {$ref: "#/components/responses/Empty"}
      400: {$ref: "#/components/responses/BadRequest"}
    """
    project_id = None
    raw_project = request.query_params.get("project", "")
    if raw_project:
        project = await find_project(raw_project)
        if project is None:
            return ok()
        project_id = project.id
    try:
        account = await find_account(request.path_params["id"], project_id)
    except NotFound:
        return ok()  # the original deleted by primary key: nothing there is no error
    await delete_account(account)
    return ok()


@endpoint()
async def stories_sync(request: Request) -> JSONResponse:
    """
    ---
    summary: Sync a project's plan from Jet now (original)
    tags: [v2 stories]
    parameters: [{$ref: "#/components/parameters/projectQuery"}]
    responses:
      200: {$ref: "#/components/responses/Empty"}
      400: {$ref: "#/components/responses/BadRequest"}
      404: {$ref: "#/components/responses/NotFound"}
      429: {$ref: "#/components/responses/Busy"}
      500: {$ref: "#/components/responses/ServerError"}
    """
    raw = query_text(request, "project", "project cannot be null")
    project = await project_or(raw, NotFound, "project does not exist")
    async with jet_client(request) as jet:
        run = await sync_project_from_jet(
            project,
            jet,
            trigger="api",
            started_by=actor(request),
            changes=runtime_of(request).plan_changes,
        )
    if run.status != "ok":
        raise ServerError(f"the sync failed: {run.error}", details={"run": run.id})
    return ok()


@endpoint()
async def stories_list(request: Request) -> JSONResponse:
    """
    ---
    summary: A project's stories (original)
    tags: [v2 stories]
    parameters:
      - {$ref: "#/components/parameters/projectQuery"}
      - {$ref: "#/components/parameters/page"}
      - {$ref: "#/components/parameters/pageSize"}
    responses:
      200:
        description: A page of stories (without their events).
        content: {application/json: {schema: {$ref: "#/components/schemas/StoryList"}}}
      400: {$ref: "#/components/responses/BadRequest"}
      404: {$ref: "#/components/responses/NotFound"}
    """
    raw = query_text(request, "project", "project cannot be null")
    project = await project_or(raw, NotFound, f"project with id {raw} does not exist")
    page = original_page(request)
    stories, total = await list_stories(project, page.offset, page.page_size)
    return JSONResponse(page.envelope([story_json(s, project, None) for s in stories], total))


@endpoint()
async def story_detail(request: Request) -> JSONResponse:
    """
    ---
    summary: One story with its events and their fields (original)
    tags: [v2 stories]
    parameters:
      - {name: id, in: path, required: true, description: The story's id, schema: {type: string}}
    responses:
      200:
        description: The story.
        content: {application/json: {schema: {$ref: "#/components/schemas/Story"}}}
      404: {$ref: "#/components/responses/NotFound"}
    """
    found = await Story.filter(by_plan_id(request.path_params["id"]), removed_at=None).first()
    if found is None:
        raise NotFound("story does not exist")
    story, events = await get_story(found.id)
    fields = [field for event in events for field in event.plan_fields]
    type_ids = await enum_type_ids(fields)
    body = story_json(
        story,
        story.project,
        [
            event_json(
                event,
                story,
                [field_json(f, event, story, type_ids, None) for f in event.plan_fields],
                None,
            )
            for event in events
        ],
    )
    return JSONResponse(body)


PREFIX = "/api/v2"
routes = [
    Route(f"{PREFIX}/projects/sync", projects_sync, methods=["POST"]),
    Route(f"{PREFIX}/projects", projects_list, methods=["GET"]),
    Route(f"{PREFIX}/accounts", accounts_add, methods=["POST"]),
    Route(f"{PREFIX}/accounts", accounts_list, methods=["GET"]),
    Route(f"{PREFIX}/accounts/{{id}}", accounts_delete, methods=["DELETE"]),
    Route(f"{PREFIX}/stories/sync", stories_sync, methods=["POST"]),
    Route(f"{PREFIX}/stories", stories_list, methods=["GET"]),
    Route(f"{PREFIX}/stories/{{id}}", story_detail, methods=["GET"]),
]
