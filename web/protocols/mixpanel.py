"""Mixpanel's /track and /import, with the answers its SDKs read.

    /track  {"status": 1, "error": null} (the verbose=1 answer, which every SDK parses);
            refused: {"status": 0, "error"} with the 4xx status
    /import {"code": 200, "num_records_imported", "status": 1}; refused:
            {"code", "error", "status": "Bad Request", "failed_records": [{index, field, message}]}

mixpanel-python raises MixpanelException when `status` is not 1, with `error`.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trackmaster.errors import AppError
from trackmaster.sources import mixpanel
from web.ingest import Accepted, Protocol, endpoint
from web.protocols._doc import describe, json_answer

TRACK = Protocol("mixpanel", lambda wire: mixpanel.parse(wire, kind="track"),
                 max_events=mixpanel.MAX_TRACK_EVENTS)  # fmt: skip
IMPORT = Protocol("mixpanel", lambda wire: mixpanel.parse(wire, kind="import"),
                  max_events=mixpanel.MAX_IMPORT_EVENTS)  # fmt: skip
_ITEM = re.compile(r"^\[(\d+)\]\.?(.*)$")


def _track_ok(request: Request, accepted: Accepted) -> Response:
    # The form's verbose=1 is in the body; answering JSON always is what every SDK parses.
    return JSONResponse({"status": 1, "error": None})


def _track_refused(request: Request, exc: AppError) -> Response:
    return JSONResponse({"status": 0, "error": exc.msg}, status_code=exc.status)


def _import_ok(request: Request, accepted: Accepted) -> Response:
    return JSONResponse({"code": 200, "num_records_imported": len(accepted.parsed), "status": 1})


def _import_refused(request: Request, exc: AppError) -> Response:
    failed = []
    for problem in exc.details if isinstance(exc.details, list) else ():
        found = _ITEM.match(str(problem.get("field", "")))
        failed.append(
            {
                "index": int(found[1]) if found else 0,
                "field": found[2] if found else problem.get("field"),
                "message": problem.get("error"),
            }
        )
    return JSONResponse(
        {"code": exc.status, "error": exc.msg, "status": "Bad Request" if exc.status == 400
         else exc.title, "failed_records": failed, "num_records_imported": 0},
        status_code=exc.status,
    )  # fmt: skip


_EXAMPLE = 'data=[{"event":"play_click","properties":{"token":"YOUR_WRITE_KEY","distinct_id":"alice-42","time":1764584130,"$insert_id":"a1b2","$os":"iOS","page_name":"home"}}]&verbose=1&ip=0'  # noqa: E501
_ANSWER = {"type": "object", "required": ["status"]}


def _errors(what: str) -> dict:
    return {status: json_answer(f"{what}: {text}", _ANSWER if what == "track" else
                                {"type": "object", "required": ["error"]})
            for status, text in ((400, "malformed or invalid; nothing stored"),
                                 (401, "missing or unknown token"),
                                 (413, "over the event or size limit"),
                                 (429, "busy or over the rate; retry later"))}  # fmt: skip


track = describe(
    endpoint(TRACK, _track_ok, _track_refused),
    summary="Mixpanel /track",
    description="Form `data=` (JSON or base64 JSON) or a JSON body; `properties.token` is the "
    "write key. Up to 50 events.",
    example=_EXAMPLE,
    media="application/x-www-form-urlencoded",
    ok=json_answer('{"status": 1, "error": null}', _ANSWER),
    errors=_errors("track"),
)
import_ = describe(
    endpoint(IMPORT, _import_ok, _import_refused),
    summary="Mixpanel /import",
    description="As /track, up to 2000 events; answers num_records_imported.",
    example=_EXAMPLE,
    media="application/x-www-form-urlencoded",
    ok=json_answer('{"code": 200, "num_records_imported": N, "status": 1}'),
    errors=_errors("import"),
)

routes = [
    Route("/track", track, methods=["POST", "GET"], name="ingest:mixpanel.track"),
    Route("/track/", track, methods=["POST", "GET"], name="ingest:mixpanel.track"),
    Route("/import", import_, methods=["POST"], name="ingest:mixpanel.import"),
    Route("/import/", import_, methods=["POST"], name="ingest:mixpanel.import"),
]
