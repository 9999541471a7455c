"""Snowplow's collector: POST /com.snowplowanalytics.snowplow/tp2 and GET /i.

A collector answers 200 with an empty body (tp2) or a 1x1 GIF (GET /i);
snowplow-tracker counts any 2xx as sent and does not retry 400/401. Refusals
answer TrackMaster's `{code, msg, details}` with their 4xx status.
"""

from __future__ import annotations

import base64

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from trackmaster.sources import snowplow
from web.ingest import Accepted, Protocol, endpoint
from web.protocols._doc import describe

# The app id is Snowplow's write key; GET /i carries it in the query.
PROTOCOL = Protocol("snowplow", snowplow.parse, query_keys=("aid",))
_PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _ok(request: Request, accepted: Accepted) -> Response:
    if request.method == "GET":
        return Response(_PIXEL, media_type="image/gif", headers={"Cache-Control": "no-store"})
    return Response(b"ok", media_type="text/plain")


_EXAMPLE = {
    "schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4",
    "data": [
        {
            "e": "ue",
            "p": "mob",
            "tv": "py-1.1.0",
            "aid": "YOUR_WRITE_KEY",
            "uid": "alice-42",
            "eid": "5e2c0a0e-6f0b-4c3e-9d7a-2b1f0c9e8d7a",
            "dtm": "1764584130123",
            "ue_pr": '{"schema":"iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/'
            '1-0-0","data":{"schema":"iglu:com.acme/play_click/jsonschema/1-0-0",'
            '"data":{"page_name":"home"}}}',
            "co": '{"schema":"iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1",'
            '"data":[{"schema":"iglu:com.snowplowanalytics.snowplow/mobile_context/jsonschema/'
            '1-0-3","data":{"osType":"ios","osVersion":"17.3","deviceManufacturer":"Apple",'
            '"deviceModel":"iPhone14,5"}}]}',
        }
    ],
}

tp2 = describe(
    endpoint(PROTOCOL, _ok),
    summary="Snowplow collector, POST (tp2)",
    description="`aid` (the app id) is the write key. Event name from the self-describing "
    "schema's name, se_ac, or e; platform from p=mob and the mobile context's osType.",
    example=_EXAMPLE,
)
pixel = describe(
    endpoint(PROTOCOL, _ok),
    summary="Snowplow collector, GET /i (one event in the query)",
    description="e.g. /i?e=se&se_ca=player&se_ac=play_click&uid=alice-42&p=web&aid=KEY",
    query=("e", "aid", "uid", "p", "se_ac", "ue_px", "cx"),
)

routes = [
    Route("/com.snowplowanalytics.snowplow/tp2", tp2, methods=["POST"], name="ingest:snowplow.tp2"),
    Route("/i", pixel, methods=["GET"], name="ingest:snowplow.pixel"),
]
