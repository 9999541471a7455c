"""The original API's own OpenAPI document, and its Swagger paths.

`/api/v2/openapi.json` (and `/swagger/doc.json`, where the original's Swagger UI
read it) describe only the `/api/v2/...` endpoints, with the original's
schemas: string ids, `Events`/`Fields`/`Results`, details as strings.
`/swagger/index.html` renders it as the same plain server-side page as
`/api/docs` (the original served Swagger UI there; a CDN script would break
the Content-Security-Policy and offline use).
"""

from __future__ import annotations

from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.routing import Route

from web.api import openapi

V2_DESCRIPTION = (
    "The original TrackMaster's API, for its existing clients: the same paths, parameters, "
    "string ids (Jet's ids for projects, stories, events and fields; 32 hex digits for a "
    "record), response shapes and error codes (1 server error 500, 2 invalid params 400, "
    "3 not found 404, 4 too many requests 429, 5 bad request 400). docs/api.md lists where "
    "it answers what the original evidently meant instead of its bugs. TrackMaster's own, "
    "richer API is /api/v3."
)

_TIME = "{type: string, description: RFC 3339}"
V2_COMPONENTS: dict[str, Any] = yaml.safe_load(
    f"""
schemas:
  Error:
    type: object
    required: [code, msg]
    properties:
      code: {{type: integer, example: 5}}
      msg: {{type: string, example: "project cannot be null"}}
      details: {{type: array, items: {{type: string}}}}
  Pager:
    type: object
    required: [page, pageSize, totalRow]
    properties:
      page: {{type: integer}}
      pageSize: {{type: integer}}
      totalRow: {{type: integer}}
  Empty: {{type: object}}
  Project:
    type: object
    required: [id, name]
    properties:
      id: {{type: string}}
      name: {{type: string}}
      createdAt: {_TIME}
      updatedAt: {_TIME}
  Account:
    type: object
    required: [projectID, id, description]
    properties:
      projectID: {{type: string}}
      id: {{type: string}}
      description: {{type: string}}
      createdAt: {_TIME}
      updatedAt: {_TIME}
  Verdict: {{type: string, enum: [SUCCESS, FAIL, UNCERTAIN, UNTESTED]}}
  FieldResult:
    type: object
    required: [id, recordID, fieldID, ios, android, other]
    properties:
      id: {{type: string}}
      recordID: {{type: string}}
      fieldID: {{type: string}}
      ios: {{$ref: "#/components/schemas/Verdict"}}
      android: {{$ref: "#/components/schemas/Verdict"}}
      other: {{$ref: "#/components/schemas/Verdict"}}
      createdAt: {_TIME}
      updatedAt: {_TIME}
      reasons: {{type: object, description: "New: each column's reason in words"}}
  EventResult:
    type: object
    required: [id, recordID, eventID, ios, android, other]
    properties:
      id: {{type: string}}
      recordID: {{type: string}}
      eventID: {{type: string}}
      ios: {{$ref: "#/components/schemas/Verdict"}}
      android: {{$ref: "#/components/schemas/Verdict"}}
      other: {{$ref: "#/components/schemas/Verdict"}}
      createdAt: {_TIME}
      updatedAt: {_TIME}
  Field:
    type: object
    required: [eventID, id]
    properties:
      eventID: {{type: string}}
      id: {{type: string}}
      type: {{type: string}}
      typeID: {{type: string}}
      key: {{type: string}}
      value: {{type: string, description: "Expected values joined with |; empty: any"}}
      description: {{type: string}}
      createdAt: {_TIME}
      updatedAt: {_TIME}
      Results:
        type: array
        nullable: true
        items: {{$ref: "#/components/schemas/FieldResult"}}
  Event:
    type: object
    required: [storyID, id, name]
    properties:
      storyID: {{type: string}}
      id: {{type: string}}
      name: {{type: string}}
      description: {{type: string}}
      onTrail: {{type: boolean}}
      createdAt: {_TIME}
      updatedAt: {_TIME}
      Fields: {{type: array, nullable: true, items: {{$ref: "#/components/schemas/Field"}}}}
      Results:
        type: array
        nullable: true
        items: {{$ref: "#/components/schemas/EventResult"}}
      RecordIDs: {{type: array, nullable: true, items: {{type: string}}}}
      Records: {{type: array, nullable: true, items: {{type: object}}}}
  Story:
    type: object
    required: [projectID, id, name]
    properties:
      projectID: {{type: string}}
      id: {{type: string}}
      name: {{type: string}}
      description: {{type: string}}
      createdAt: {_TIME}
      updatedAt: {_TIME}
      Events: {{type: array, nullable: true, items: {{$ref: "#/components/schemas/Event"}}}}
  FieldLog:
    type: object
    required: [eventLogID, fieldID, id, key, value, platform]
    properties:
      eventLogID: {{type: string}}
      fieldID: {{type: string}}
      id: {{type: string}}
      key: {{type: string}}
      value: {{type: string, description: "The value found, or 'not found'"}}
      used: {{type: boolean}}
      tested: {{type: boolean}}
      platform: {{type: string}}
      createdAt: {_TIME}
      updatedAt: {_TIME}
      verdict: {{$ref: "#/components/schemas/Verdict"}}
      reason: {{type: string}}
  EventLog:
    type: object
    required: [recordID, eventID, id, name, platform, raw]
    properties:
      recordID: {{type: string}}
      eventID: {{type: string}}
      id: {{type: string}}
      name: {{type: string}}
      userId: {{type: string}}
      used: {{type: boolean}}
      tested: {{type: boolean}}
      platform: {{type: string}}
      raw: {{type: string, description: The raw log as JSON text}}
      content: {{type: string}}
      createdAt: {_TIME}
      updatedAt: {_TIME}
      FieldLogs: {{type: array, items: {{$ref: "#/components/schemas/FieldLog"}}}}
  Record:
    type: object
    required: [id, name, status, projectID]
    properties:
      id: {{type: string, description: 32 hex digits}}
      sessionID: {{type: integer, description: "New: the session's id in /api/v3 and pages"}}
      name: {{type: string}}
      status: {{type: string, enum: ["ON", "OFF"]}}
      filter: {{type: string}}
      Events: {{type: array, nullable: true, items: {{$ref: "#/components/schemas/Event"}}}}
      eventLogs: {{type: array, nullable: true, items: {{$ref: "#/components/schemas/EventLog"}}}}
      projectID: {{type: string}}
      createdAt: {_TIME}
      updatedAt: {_TIME}
  Schedule:
    type: object
    required: [projectID, interval, name, status, lastExecuted]
    properties:
      projectID: {{type: string}}
      interval: {{type: integer, description: Nanoseconds, as Go writes a duration}}
      name: {{type: string}}
      status: {{type: boolean}}
      lastExecuted: {_TIME}
parameters:
  page: {{name: page, in: query, schema: {{type: string}}, description: "From 1 (default 1)"}}
  pageSize:
    name: pageSize
    in: query
    description: Rows per page (DEFAULT_PAGE_SIZE; larger than MAX_PAGE_SIZE is clamped)
    schema: {{type: string}}
  projectQuery: {{name: project, in: query, required: true, schema: {{type: string}}}}
  record:
    name: record
    in: query
    required: true
    description: The record id (32 hex digits)
    schema: {{type: string}}
requestBodies:
  Start:
    required: true
    content:
      application/json:
        schema:
          type: object
          required: [project, accounts]
          properties:
            project: {{type: string}}
            accounts: {{type: array, items: {{type: string}}, description: Test user ids}}
            events: {{type: array, items: {{type: string}}}}
            name: {{type: string, description: "New, optional"}}
"""
)
for _name, _item in (
    ("ProjectList", "Project"),
    ("AccountList", "Account"),
    ("StoryList", "Story"),
    ("EventList", "Event"),
    ("EventLogList", "EventLog"),
):
    V2_COMPONENTS["schemas"][_name] = {
        "type": "object",
        "required": ["data", "pager"],
        "properties": {
            "data": {"type": "array", "items": {"$ref": f"#/components/schemas/{_item}"}},
            "pager": {"$ref": "#/components/schemas/Pager"},
        },
    }
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
V2_COMPONENTS["responses"] = {
    "Empty": {
        "description": "Done: an empty object, as the original answered.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Empty"}}},
    },
    "BadRequest": {
        "description": "Code 5 (code 2 from POST /accounts' checks).",
        "content": _ERROR,
    },
    "NotFound": {"description": "Code 3: no such id.", "content": _ERROR},
    "Busy": {"description": "Code 4: busy; retry after Retry-After.", "content": _ERROR},
    "ServerError": {"description": "Code 1: Jet failed; `msg` names the call.", "content": _ERROR},
}


def build_v2_document(routes: list[Any]) -> dict[str, Any]:
    return openapi.build_document(routes, "2", V2_DESCRIPTION, V2_COMPONENTS)


openapi.BUILDERS["2"] = build_v2_document


async def openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(openapi.document_of(request, "2"))


async def swagger_page(request: Request) -> HTMLResponse:
    return await openapi.docs_page(request, "2")


async def swagger_root(request: Request) -> RedirectResponse:
    return RedirectResponse("/swagger/index.html", status_code=302)


routes = [
    Route("/api/v2/openapi.json", openapi_json, methods=["GET"]),
    Route("/swagger/doc.json", openapi_json, methods=["GET"]),
    Route("/swagger/index.html", swagger_page, methods=["GET"]),
    Route("/swagger", swagger_root, methods=["GET"]),
]
