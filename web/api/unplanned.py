"""`/api/v3/sessions/{id}/expected-properties`: mark an unplanned property as expected.

The unplanned properties themselves are in the results (`getResult`, `unplanned` per
event). A mark hides one key of one event for this session (every platform), and is
audited (`property.expected`, `property.unexpected`) like an override.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from trackmaster.found import get_session
from trackmaster.sessions import unplanned
from web.api import actor, json_object
from web.params import runtime_of


async def mark(request: Request) -> JSONResponse:
    """
    ---
    summary: Mark an unplanned property of an event as expected in this session
    description: The key stops showing among the event's unplanned properties in this
      session (results, page, report); it is still counted, so taking the mark back shows
      it again. Audited. A planned key, an event the session does not watch or a malformed
      key answers 400 and changes nothing. Marking a key twice answers 200 with the mark.
    tags: [realtime]
    parameters:
      - {name: session_id, in: path, required: true, schema: {type: integer}}
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [event, key]
            properties:
              event: {type: integer}
              key: {type: string, description: "as the results give it, content_info.curency"}
              reason: {type: string}
          example: {event: 3, key: "content_info.curency", reason: "sent by the old SDK"}
    responses:
      201: {description: 'The mark: {data: {session, event, key, reason, by, at}}'}
      200: {description: The mark, already there}
      400: {$ref: "#/components/responses/InvalidParams"}
      404: {$ref: "#/components/responses/NotFound"}
    """
    session = await get_session(request.path_params["session_id"])
    body = await json_object(request)
    bus = runtime_of(request).realtime.bus
    found, created = await unplanned.mark_expected(
        bus, session, body.get("event"), body.get("key"), body.get("reason"), actor(request)
    )
    return JSONResponse({"data": found}, status_code=201 if created else 200)


async def unmark(request: Request) -> JSONResponse:
    """
    ---
    summary: Take back an expected mark (the property shows again)
    tags: [realtime]
    parameters:
      - {name: session_id, in: path, required: true, schema: {type: integer}}
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [event, key]
            properties: {event: {type: integer}, key: {type: string}}
    responses:
      200: {description: '{removed: true} or {removed: false} when there was no mark'}
      400: {$ref: "#/components/responses/InvalidParams"}
      404: {$ref: "#/components/responses/NotFound"}
    """
    session = await get_session(request.path_params["session_id"])
    body = await json_object(request)
    bus = runtime_of(request).realtime.bus
    removed = await unplanned.unmark_expected(
        bus, session, body.get("event"), body.get("key"), actor(request)
    )
    return JSONResponse({"removed": removed})


PATH = "/api/v3/sessions/{session_id:int}/expected-properties"
routes = [
    Route(PATH, mark, methods=["POST"]),
    Route(PATH, unmark, methods=["DELETE"]),
]
