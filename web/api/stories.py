"""`/api/v3/stories`: a project's tracking plan, as the original API had it.

POST /stories/sync?project=&full=      sync the project's plan from Jet now
GET  /stories?project=&name=&page=&pageSize=
GET  /stories/{id}                     with its events and their fields
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from trackmaster.checks.rules import merged
from trackmaster.errors import UpstreamError, field_error
from trackmaster.models import Event, Field, Story
from trackmaster.plan.browse import event_counts, get_project, get_story, list_stories, run_json
from trackmaster.plan.local_rules import set_local_rules
from trackmaster.plan.sync import sync_project_from_jet
from web.api import actor, as_id, jet_client, json_object, query_int
from web.pager import page_from
from web.params import runtime_of


def story_json(story: Story, events: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": story.id,
        "jetID": story.jet_id,
        "projectID": story.project_id,
        "name": story.name,
        "description": story.description,
        "updatedAt": story.updated_at.isoformat(),
    }
    if events is not None:
        body["eventCount"] = events
    return body


def field_json(field: Field) -> dict[str, Any]:
    return {
        "id": field.id,
        "jetID": field.jet_id,
        "key": field.key,
        "type": field.type_name,
        "enumTypeID": field.enum_type_id,
        "values": field.values,
        "rawValues": field.raw_values,
        "note": field.note,
        # The plan's typed rules, the local overlay (never written by a sync), and both merged.
        "rules": field.rules or {},
        "localRules": field.local_rules or {},
        "rulesInForce": merged(field.rules, field.local_rules),
        "removed": field.removed_at is not None,
    }


def event_json(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "jetID": event.jet_id,
        "name": event.name,
        "description": event.description,
        "removed": event.removed_at is not None,
        "fields": [field_json(field) for field in event.plan_fields],
    }


def _full(request: Request) -> bool | None:
    raw = request.query_params.get("full")
    if raw in (None, ""):
        return None
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise field_error("full", f"must be true or false, got {raw!r}")


async def stories_sync(request: Request) -> JSONResponse:
    """
    ---
    summary: Sync a project's plan from Jet now
    description: Enum types, stories, events and fields, in one transaction. Without `full`,
      the JET_FULL_SYNC setting decides between the newest JET_STORY_PAGE_SIZE stories and all.
    tags: [stories]
    parameters:
      - {$ref: "#/components/parameters/projectQuery"}
      - {name: full, in: query, schema: {type: boolean}}
    responses:
      200:
        description: The recorded sync run and its diff.
        content: {application/json: {schema: {$ref: "#/components/schemas/SyncRunEnvelope"}}}
      400: {$ref: "#/components/responses/InvalidParams"}
      404: {$ref: "#/components/responses/NotFound"}
      429: {$ref: "#/components/responses/Busy"}
      502: {$ref: "#/components/responses/Upstream"}
    """
    project = await get_project(query_int(request, "project"))
    full = _full(request)
    async with jet_client(request) as jet:
        run = await sync_project_from_jet(
            project,
            jet,
            trigger="api",
            started_by=actor(request),
            full=full,
            changes=runtime_of(request).plan_changes,
        )
    if run.status != "ok":
        raise UpstreamError(f"the sync failed: {run.error}", details={"run": run.id})
    return JSONResponse({"data": run_json(run)})


async def stories_list(request: Request) -> JSONResponse:
    """
    ---
    summary: List a project's stories, most recently updated first
    tags: [stories]
    parameters:
      - {$ref: "#/components/parameters/projectQuery"}
      - name: name
        in: query
        description: Part of a story name, or of one of its event names or field keys
        schema: {type: string}
      - {$ref: "#/components/parameters/page"}
      - {$ref: "#/components/parameters/pageSize"}
    responses:
      200:
        description: A page of stories.
        content: {application/json: {schema: {$ref: "#/components/schemas/StoryList"}}}
      400: {$ref: "#/components/responses/InvalidParams"}
      404: {$ref: "#/components/responses/NotFound"}
    """
    project = await get_project(query_int(request, "project"))
    page = page_from(request)
    search = request.query_params.get("name", "").strip()
    stories, total = await list_stories(project, page.offset, page.page_size, search)
    counts = await event_counts([story.id for story in stories])
    return JSONResponse(page.envelope([story_json(s, counts.get(s.id, 0)) for s in stories], total))


async def story_detail(request: Request) -> JSONResponse:
    """
    ---
    summary: One story with its events and their fields
    description: Expected values are shown as names (enum ids resolved); `rawValues` are the
      plan's own. Events and fields that left the plan are left out.
    tags: [stories]
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
    responses:
      200:
        description: The story.
        content: {application/json: {schema: {$ref: "#/components/schemas/StoryEnvelope"}}}
      400: {$ref: "#/components/responses/InvalidParams"}
      404: {$ref: "#/components/responses/NotFound"}
    """
    story, events = await get_story(as_id(request.path_params["id"], "id"))
    body = story_json(story)
    body["events"] = [event_json(event) for event in events]
    return JSONResponse({"data": body})


async def field_rules(request: Request) -> JSONResponse:
    """
    ---
    summary: Set a field's local rule overlay (typed rules no sync overwrites)
    description: The overlay's rules sit on top of the plan's (`null` removes one); `{}`
      removes the overlay. Rules are type, required, pattern (RE2, full match), min, max,
      min_length, max_length (docs/checks.md). The merged rules are checked first; a bad
      rule answers 400 naming it and changes nothing.
    tags: [stories]
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
    requestBody:
      content: {application/json: {schema: {type: object, properties: {rules: {type: object}}}}}
    responses:
      200: {description: The field with its rules.}
      400: {$ref: "#/components/responses/InvalidParams"}
      404: {$ref: "#/components/responses/NotFound"}
    """
    body = await json_object(request)
    field = await set_local_rules(
        as_id(request.path_params["id"], "id"),
        body.get("rules"),
        actor(request),
        runtime_of(request).plan_changes,
    )
    return JSONResponse({"data": field_json(field)})


routes = [
    Route("/api/v3/stories/sync", stories_sync, methods=["POST"]),
    Route("/api/v3/stories", stories_list, methods=["GET"]),
    Route("/api/v3/stories/{id}", story_detail, methods=["GET"]),
    Route("/api/v3/fields/{id}/rules", field_rules, methods=["PUT"]),
]
