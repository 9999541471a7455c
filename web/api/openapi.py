"""The OpenAPI document of the whole app, built from the endpoints' own docstrings.

An endpoint joins the document by ending its docstring with `---` and an
OpenAPI operation in YAML (summary, parameters, responses...). Every route of
the app is read, so other modules' endpoints appear as soon as they document
themselves; shared pieces they need go into the components with
`add_components(schemas=..., responses=..., parameters=...)`.

`/api/v3/openapi.json` serves TrackMaster's own API (integer ids, typed
results); only `/api/v3/...` paths go into it. `/api/docs` renders it as plain
server-side HTML (no CDN, no script: it passes the CSP and works offline).
"""

from __future__ import annotations

import copy
import json
import textwrap
from collections.abc import Callable
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route
from starlette.schemas import SchemaGenerator

from web.templating import render

_ERROR_CODES = "1 server error, 2 invalid params, 3 not found, 4 too many requests, 5 bad request"

COMPONENTS: dict[str, dict[str, Any]] = yaml.safe_load(
    f"""
schemas:
  Error:
    type: object
    description: "Every error. Codes: {_ERROR_CODES} (more in trackmaster/errors.py)."
    required: [code, msg]
    properties:
      code: {{type: integer, example: 2}}
      msg: {{type: string, example: "description: must be 2 to 50 characters, got 1"}}
      details: {{description: "For invalid params: a list of {{field, error}}"}}
  Pager:
    type: object
    properties:
      page: {{type: integer}}
      pageSize: {{type: integer}}
      totalRow: {{type: integer}}
  Project:
    type: object
    properties:
      id: {{type: integer}}
      jetID: {{type: string, nullable: true}}
      name: {{type: string}}
      description: {{type: string}}
      storyCount: {{type: integer}}
      accountCount: {{type: integer}}
      createdAt: {{type: string, format: date-time}}
      updatedAt: {{type: string, format: date-time}}
  Account:
    type: object
    properties:
      id: {{type: string, description: The test user id}}
      accountID: {{type: integer}}
      projectID: {{type: integer}}
      description: {{type: string}}
      createdAt: {{type: string, format: date-time}}
  Field:
    type: object
    properties:
      id: {{type: integer}}
      jetID: {{type: string, nullable: true}}
      key: {{type: string, example: page_info.id}}
      type: {{type: string}}
      enumTypeID: {{type: integer, nullable: true}}
      values: {{type: array, items: {{type: string}}, description: "Allowed values; [] = any"}}
      rawValues: {{type: array, items: {{type: string}}}}
      note: {{type: string}}
      removed: {{type: boolean}}
  Event:
    type: object
    properties:
      id: {{type: integer}}
      jetID: {{type: string, nullable: true}}
      name: {{type: string}}
      description: {{type: string}}
      removed: {{type: boolean}}
      fields: {{type: array, items: {{$ref: "#/components/schemas/Field"}}}}
  Story:
    type: object
    properties:
      id: {{type: integer}}
      jetID: {{type: string, nullable: true}}
      projectID: {{type: integer}}
      name: {{type: string}}
      description: {{type: string}}
      updatedAt: {{type: string, format: date-time}}
      eventCount: {{type: integer}}
      events: {{type: array, items: {{$ref: "#/components/schemas/Event"}}}}
  Diff:
    type: object
    description: Counts per kind (project, enum_type, enum_value, story, event, field).
    properties:
      created: {{type: object, additionalProperties: {{type: integer}}}}
      updated: {{type: object, additionalProperties: {{type: integer}}}}
      removed: {{type: object, additionalProperties: {{type: integer}}}}
      items:
        type: array
        description: The first 300 changes by name (action, kind, name, where, changes).
        items: {{type: object}}
      items_left_off: {{type: integer}}
  SyncRun:
    type: object
    properties:
      id: {{type: integer}}
      projectID: {{type: integer}}
      source: {{type: string, enum: [jet, file]}}
      trigger: {{type: string}}
      status: {{type: string, enum: [running, ok, failed]}}
      startedAt: {{type: string, format: date-time}}
      finishedAt: {{type: string, format: date-time, nullable: true}}
      startedBy: {{type: string}}
      summary: {{type: string, example: "2 stories created, 1 field removed"}}
      diff: {{$ref: "#/components/schemas/Diff"}}
      error: {{type: string}}
parameters:
  page: {{name: page, in: query, schema: {{type: integer, minimum: 1, default: 1}}}}
  pageSize:
    name: pageSize
    in: query
    description: Rows per page (DEFAULT_PAGE_SIZE when absent; at most MAX_PAGE_SIZE)
    schema: {{type: integer, minimum: 1}}
  projectPath: {{name: id, in: path, required: true, schema: {{type: integer}}}}
  projectQuery: {{name: project, in: query, required: true, schema: {{type: integer}}}}
"""
)


_ERROR_RESPONSES = {
    "InvalidParams": "Code 2: a parameter is missing or wrong; `details` names each one.",
    "BadRequest": "Code 5: the request cannot be done in this state.",
    "NotFound": "Code 3: no such id.",
    "Forbidden": "Code 7: signed in, but this is not this caller's to do.",
    "Busy": "Code 4: busy (e.g. the project is syncing); retry after Retry-After.",
    "TooLarge": "The body is larger than MAX_UPLOAD_BYTES.",
    "Upstream": "Jet failed or answered something unusable; `msg` names the call.",
}


def _add_wrappers(name: str) -> None:
    """`{name}Envelope` ({data}) and `{name}List` ({data, pager}) of the schema `name`."""
    ref = {"$ref": f"#/components/schemas/{name}"}
    COMPONENTS["schemas"][f"{name}Envelope"] = {"type": "object", "properties": {"data": ref}}
    COMPONENTS["schemas"][f"{name}List"] = {
        "type": "object",
        "properties": {
            "data": {"type": "array", "items": ref},
            "pager": {"$ref": "#/components/schemas/Pager"},
        },
    }


for _name in ("Project", "Account", "Story", "SyncRun", "Diff"):
    _add_wrappers(_name)
COMPONENTS["responses"] = {
    name: {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    for name, description in _ERROR_RESPONSES.items()
}


def add_components(**sections: dict[str, Any]) -> None:
    """Add shared schemas, responses or parameters that other modules' docstrings refer to."""
    for section, entries in sections.items():
        COMPONENTS.setdefault(section, {}).update(entries)


def add_schema(name: str, schema: dict[str, Any]) -> None:
    """Add a schema with its `{name}Envelope` and `{name}List` (the API's two wrappings)."""
    COMPONENTS["schemas"][name] = schema
    _add_wrappers(name)


class DocstringSchemas(SchemaGenerator):
    """Reads only docstrings that have `---`: plain prose never turns into a bogus operation."""

    def parse_docstring(self, func_or_method: Callable[..., Any]) -> dict[str, Any]:
        doc = func_or_method.__doc__ or ""
        if "---" not in doc:
            return {}
        parsed = yaml.safe_load(textwrap.dedent(doc.split("---", 1)[1]))
        return parsed if isinstance(parsed, dict) else {}


V3_DESCRIPTION = (
    "TrackMaster's own JSON API: sessions with counts, typed results, plan files, sync runs, "
    "schedules, unmatched events. Ids are integers. Lists answer "
    '{"data": [...], "pager": {"page", "pageSize", "totalRow"}}, errors '
    f'{{"code", "msg", "details"?}} with codes {_ERROR_CODES}. '
    "Sign in with a session cookie or `Authorization: Bearer <API token>`."
)


def build_document(
    routes: list[Any],
    version: str = "3",
    description: str = V3_DESCRIPTION,
    components: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The document of the `/api/v{version}/` endpoints among `routes`."""
    generator = DocstringSchemas(
        {
            "openapi": "3.0.3",
            "info": {"title": "TrackMaster API", "version": version, "description": description},
            "components": copy.deepcopy(COMPONENTS if components is None else components),
        }
    )
    document = generator.get_schema(routes)
    prefix = f"/api/v{version}/"
    document["paths"] = {p: op for p, op in document["paths"].items() if p.startswith(prefix)}
    from web.access_doc import document_access  # the access policy, written into the document

    document_access(document)
    document["paths"] = dict(sorted(document["paths"].items()))
    return document


# Other versions' documents (the original's /api/v2) register how they are built.
BUILDERS: dict[str, Callable[[list[Any]], dict[str, Any]]] = {"3": build_document}


def document_of(request: Request, version: str = "3") -> dict[str, Any]:
    """The version's document, built once per app from its routes."""
    state = request.app.state
    documents = getattr(state, "openapi_documents", None)
    if documents is None:
        documents = state.openapi_documents = {}
    if version not in documents:
        documents[version] = BUILDERS[version](request.app.routes)
    return documents[version]


async def openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(document_of(request))


def _resolve(document: dict[str, Any], item: Any) -> Any:
    if isinstance(item, dict) and "$ref" in item:
        node: Any = document
        for part in item["$ref"].lstrip("#/").split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        return node
    return item


def _schema_name(item: Any) -> str:
    """The component name a response or body points at, for a link on the docs page."""
    if not isinstance(item, dict):
        return ""
    for content in (item.get("content") or {}).values():
        ref = (content.get("schema") or {}).get("$ref", "")
        if ref:
            return ref.rsplit("/", 1)[-1]
    return ""


def operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Every operation flattened for the template, with `$ref`s resolved."""
    found = []
    for path, methods in document.get("paths", {}).items():
        for method, operation in methods.items():
            responses = []
            for status, response in (operation.get("responses") or {}).items():
                resolved = _resolve(document, response)
                responses.append(
                    {
                        "status": status,
                        "description": resolved.get("description", ""),
                        "schema": _schema_name(resolved),
                    }
                )
            body = operation.get("requestBody")
            found.append(
                {
                    "anchor": f"{method}-{path}".replace("/", "-")
                    .replace("{", "")
                    .replace("}", ""),
                    "method": method.upper(),
                    "path": path,
                    "summary": operation.get("summary", ""),
                    "description": operation.get("description", ""),
                    "tags": operation.get("tags", []),
                    "parameters": [_resolve(document, p) for p in operation.get("parameters", [])],
                    "body": json.dumps(body, indent=2, ensure_ascii=False) if body else "",
                    "responses": responses,
                }
            )
    return found


async def docs_page(request: Request, version: str = "3") -> HTMLResponse:
    """The document as a page; `/api/docs` shows v3 (the original's v2 is linked from it)."""
    document = document_of(request, version)
    schemas = {
        name: json.dumps(schema, indent=2, ensure_ascii=False)
        for name, schema in document.get("components", {}).get("schemas", {}).items()
    }
    return render(
        request,
        "api/docs.html",
        {
            "document": document,
            "operations": operations(document),
            "schemas": schemas,
            "document_url": f"/api/v{version}/openapi.json",
        },
    )


routes = [
    Route("/api/v3/openapi.json", openapi_json, methods=["GET"]),
    Route("/api/docs", docs_page, methods=["GET"], name="api_docs"),
]
