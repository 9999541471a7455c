"""`/api/v3/accounts`: a project's test accounts, as the original API had them.

POST   /accounts {projectID, id, description}
GET    /accounts?project=&description=&page=&pageSize=
DELETE /accounts/{id}?project=
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from trackmaster.errors import field_error
from trackmaster.models import Account
from trackmaster.plan.accounts import add_account, delete_account, find_account, list_accounts
from trackmaster.plan.browse import get_project
from web.api import as_id, json_object, query_int
from web.pager import page_from


def account_json(account: Account) -> dict[str, Any]:
    return {
        "id": account.user_id,
        "accountID": account.id,
        "projectID": account.project_id,
        "description": account.description,
        "createdAt": account.created_at.isoformat(),
    }


async def accounts_add(request: Request) -> JSONResponse:
    """
    ---
    summary: Add a test account to a project
    tags: [accounts]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [projectID, id, description]
            properties:
              projectID: {type: integer, description: The project's id}
              id: {type: string, maxLength: 128, description: The test user id the app sends}
              description: {type: string, minLength: 2, maxLength: 50}
    responses:
      200:
        description: The account.
        content: {application/json: {schema: {$ref: "#/components/schemas/AccountEnvelope"}}}
      400: {$ref: "#/components/responses/InvalidParams"}
      404: {$ref: "#/components/responses/NotFound"}
    """
    body = await json_object(request)
    if "projectID" not in body:
        raise field_error("projectID", "is required")
    project = await get_project(as_id(body["projectID"], "projectID"))
    account = await add_account(project, body.get("id"), body.get("description"))
    return JSONResponse({"data": account_json(account)})


async def accounts_list(request: Request) -> JSONResponse:
    """
    ---
    summary: List test accounts
    tags: [accounts]
    parameters:
      - {name: project, in: query, description: Only this project's, schema: {type: integer}}
      - {name: description, in: query, description: Part of the description, schema: {type: string}}
      - {$ref: "#/components/parameters/page"}
      - {$ref: "#/components/parameters/pageSize"}
    responses:
      200:
        description: A page of accounts.
        content: {application/json: {schema: {$ref: "#/components/schemas/AccountList"}}}
      400: {$ref: "#/components/responses/InvalidParams"}
      404: {$ref: "#/components/responses/NotFound"}
    """
    page = page_from(request)
    project_id = query_int(request, "project", required=False)
    if project_id is not None:
        project_id = (await get_project(project_id)).id
    accounts, total = await list_accounts(
        project_id,
        request.query_params.get("description", "").strip(),
        page.offset,
        page.page_size,
    )
    return JSONResponse(page.envelope([account_json(a) for a in accounts], total))


async def accounts_delete(request: Request) -> JSONResponse:
    """
    ---
    summary: Delete a test account
    description: Test sessions that used the account keep its user id and their results.
    tags: [accounts]
    parameters:
      - {name: id, in: path, required: true, description: The test user id, schema: {type: string}}
      - name: project
        in: query
        description: The project, needed when several projects have this test user id
        schema: {type: integer}
    responses:
      200:
        description: The deleted account.
        content: {application/json: {schema: {$ref: "#/components/schemas/AccountEnvelope"}}}
      400: {$ref: "#/components/responses/InvalidParams"}
      404: {$ref: "#/components/responses/NotFound"}
    """
    account = await find_account(
        request.path_params["id"], query_int(request, "project", required=False)
    )
    await delete_account(account)
    return JSONResponse({"data": account_json(account)})


routes = [
    Route("/api/v3/accounts", accounts_add, methods=["POST"]),
    Route("/api/v3/accounts", accounts_list, methods=["GET"]),
    Route("/api/v3/accounts/{id}", accounts_delete, methods=["DELETE"]),
]
