"""The ingest endpoints' own OpenAPI document: GET /ingest/openapi.json.

/api/v3's document lists only /api/v3 paths (web/api/openapi.py); the ingest
endpoints speak other products' protocols, so they get a document of their
own, built from the same docstrings: every ingest route, each POST with a
real request example in its protocol's wire shape.
"""

from __future__ import annotations

import copy
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from web.api.openapi import COMPONENTS, DocstringSchemas

DESCRIPTION = (
    "Where apps and analytics SDKs post events, in their own protocols (Segment, RudderStack, "
    "Amplitude, Snowplow, Mixpanel, PostHog, GA4 Measurement Protocol, and TrackMaster's "
    "/collect). Each endpoint answers as its protocol's SDKs expect. The project write key "
    "goes where each SDK puts its key (docs/realtime.md has the table), or in X-Write-Key."
)


def build_ingest_document(routes: list[Any]) -> dict[str, Any]:
    ingest: list[BaseRoute] = [
        r for r in routes if isinstance(r, Route) and (r.name or "").startswith("ingest:")
    ]
    generator = DocstringSchemas(
        {
            "openapi": "3.0.3",
            "info": {"title": "TrackMaster ingest", "version": "1", "description": DESCRIPTION},
            "components": copy.deepcopy(COMPONENTS),
        }
    )
    document = generator.get_schema(ingest)
    document["paths"] = dict(sorted(document["paths"].items()))
    return document


async def ingest_openapi(request: Request) -> JSONResponse:
    state = request.app.state
    if getattr(state, "ingest_document", None) is None:
        state.ingest_document = build_ingest_document(request.app.routes)
    return JSONResponse(state.ingest_document)


routes = [Route("/ingest/openapi.json", ingest_openapi, methods=["GET"], name="ingest_openapi")]
