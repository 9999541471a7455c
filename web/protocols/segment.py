"""Segment's HTTP tracking API, and RudderStack's (its SDKs speak Segment's format).

    POST /v1/track /v1/t, /v1/page /v1/p, /v1/screen /v1/s, /v1/identify /v1/i,
         /v1/group /v1/g, /v1/alias /v1/a                one call
    POST /v1/batch /v1/b                                  a batch
    GET  /v1/projects/{writeKey}/settings, /projects/{writeKey}/settings
                                       the settings document analytics.js fetches at start
    GET  /sourceConfig                 the source config RudderStack's SDKs fetch at start

Success is `{"success": true}` as Segment answers; errors are TrackMaster's
`{code, msg, details}` plus the `message` the SDKs read and `"success": false`,
with the status Segment documents (400 for malformed bodies and its 32 KB /
500 KB limits).
"""

from __future__ import annotations

import functools

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trackmaster.errors import AppError, Unauthorized
from trackmaster.sources import segment
from trackmaster.sources.writekeys import request_key
from web.ingest import Accepted, Protocol, endpoint, unknown_keys_of
from web.params import runtime_of
from web.protocols._doc import describe, json_answer

PROTOCOLS = {
    kind: Protocol("segment", functools.partial(segment.parse, kind=kind)) for kind in segment.KINDS
}


def _ok(request: Request, accepted: Accepted) -> Response:
    return JSONResponse({"success": True})


def _refused(request: Request, exc: AppError) -> Response:
    # The SDKs read `code` and `message` (segment-analytics-python's APIError); TrackMaster's
    # `msg` and `details` stay for people.
    return JSONResponse(
        {"success": False, **exc.body(), "message": exc.msg}, status_code=exc.status
    )


_EXAMPLE_TRACK = {
    "type": "track",
    "event": "play_click",
    "userId": "alice-42",
    "messageId": "0c5d9a1e-7f3b-4e2a-b8c6-d1e0f2a3b4c5",
    "timestamp": "2026-12-01T10:15:30.123Z",
    "properties": {"page_name": "home", "content_id": "c-77"},
    "context": {"os": {"name": "iOS", "version": "17.3"}, "library": {"name": "analytics-ios"}},
}
_EXAMPLES = {
    "track": _EXAMPLE_TRACK,
    "page": {"type": "page", "name": "Home", "userId": "alice-42", "properties": {"path": "/"}},
    "screen": {"type": "screen", "name": "Player", "userId": "alice-42",
               "context": {"device": {"type": "android"}}},
    "identify": {"type": "identify", "userId": "alice-42", "traits": {"plan": "free"}},
    "group": {"type": "group", "userId": "alice-42", "groupId": "g-1"},
    "alias": {"type": "alias", "userId": "alice-42", "previousId": "anon-9"},
    "batch": {"batch": [_EXAMPLE_TRACK], "writeKey": "YOUR_WRITE_KEY",
              "sentAt": "2026-12-01T10:15:31Z"},
}  # fmt: skip
_SHORT = {"track": "t", "page": "p", "screen": "s", "identify": "i", "group": "g", "alias": "a",
          "batch": "b"}  # fmt: skip


def _handler(kind: str):
    what = "a batch of calls" if kind == "batch" else f"one {kind} call"
    events = (
        "Track, page and screen calls are events (page and screen by their name)"
        if kind in ("batch", "page", "screen", "track")
        else "Not an event: accepted and counted as ignored"
    )
    return describe(
        endpoint(PROTOCOLS[kind], _ok, _refused),
        summary=f"Segment / RudderStack HTTP API: {what}",
        description=f"Also at /v1/{_SHORT[kind]}. {events}. The write key as the Basic auth "
        "user, X-Write-Key, ?writeKey= or writeKey in the body (or per call).",
        example=_EXAMPLES[kind],
        ok=json_answer('Stored (committed) before this answer: {"success": true}'),
    )


async def _project_of_path_key(request: Request, key: str) -> str:
    """The key of a settings request (in the path or the request), refused when unknown."""
    client = request.client.host if request.client else "unknown"
    unknown = unknown_keys_of(request)
    unknown.check(client)
    key = key or request_key(request.headers, request.query_params) or ""
    realtime = runtime_of(request).realtime
    if not key or await realtime.index.project_for_key(key) is None:
        raise await unknown.refused(
            client, Unauthorized("unknown write key; copy it from the project page")
        )
    return key


async def settings_document(request: Request) -> Response:
    """The minimal valid settings document: events go back to this server, no destinations."""
    key = await _project_of_path_key(request, request.path_params["write_key"])
    host = request.headers.get("host") or request.url.netloc
    return JSONResponse(
        {
            "integrations": {
                "Segment.io": {
                    "apiKey": key,
                    "apiHost": f"{host}/v1",
                    "protocol": request.url.scheme,
                    "unbundledIntegrations": [],
                    "addBundledMetadata": False,
                    "maybeBundledConfigIds": {},
                }
            },
            "plan": {"track": {"__default": {"enabled": True, "integrations": {}}}},
            "edgeFunction": {},
            "analyticsNextEnabled": True,
            "middlewareSettings": {},
            "enabledMiddleware": {},
            "metrics": {"sampleRate": 0},
            "legacyVideoPluginsEnabled": False,
            "remotePlugins": [],
        }
    )


async def source_config(request: Request) -> Response:
    """RudderStack's source config: enabled, no destinations (nothing leaves this server)."""
    key = await _project_of_path_key(request, "")
    return JSONResponse(
        {
            "isHosted": False,
            "source": {
                "id": "trackmaster",
                "name": "TrackMaster",
                "writeKey": key,
                "enabled": True,
                "workspaceId": "trackmaster",
                "config": {"statsCollection": {"errorReports": {"enabled": False},
                                               "metrics": {"enabled": False}}},
                "destinations": [],
            },
        }
    )  # fmt: skip


describe(
    settings_document,
    summary="Segment settings document (analytics.js fetches it at start)",
    description="Answers a minimal valid document that sends events back here; 401 for an "
    "unknown key.",
    ok=json_answer("The settings"),
    errors={401: json_answer("Unknown write key", {"$ref": "#/components/schemas/Error"})},
)
describe(
    source_config,
    summary="RudderStack source config (its SDKs fetch it at start)",
    description="The key as the Basic auth user or ?writeKey=; no destinations.",
    query=("writeKey",),
    ok=json_answer("The source config"),
    errors={401: json_answer("Unknown write key", {"$ref": "#/components/schemas/Error"})},
)

# One handler per call type, under its long and short path (an alias: one route name).
routes = [
    *(
        Route(path, handler, methods=["POST"], name=f"ingest:segment.{kind}")
        for kind, handler in ((kind, _handler(kind)) for kind in segment.KINDS)
        for path in (f"/v1/{kind}", f"/v1/{_SHORT[kind]}")
    ),
    Route(
        "/v1/projects/{write_key}/settings",
        settings_document,
        methods=["GET"],
        name="ingest:segment.settings",
    ),
    Route(
        "/projects/{write_key}/settings",
        settings_document,
        methods=["GET"],
        name="ingest:segment.settings",
    ),
    Route("/sourceConfig", source_config, methods=["GET"], name="ingest:rudderstack.config"),
    Route("/sourceConfig/", source_config, methods=["GET"], name="ingest:rudderstack.config"),
]
