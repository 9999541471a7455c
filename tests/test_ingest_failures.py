"""A failed store: the sender gets a 500 (never a 2xx), nothing is half stored, people are told."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.conftest import running_app
from tests.support.realtime import make_plan, play_log
from tests.support.servers import serve
from tests.test_jet_pull import _rename_event_log, eventually
from trackmaster.models import EventLog, Project, UnmatchedEvent


async def test_a_failed_store_is_a_500_and_the_webhook_hears_of_it(db, settings) -> None:
    received: list[dict] = []

    async def hook(request: Request) -> Response:
        received.append(await request.json())
        return Response(status_code=204)

    plan = await make_plan()
    async with serve(
        Starlette(routes=[Route("/hook", hook, methods=["POST"])]), lifespan="off"
    ) as webhook:
        noisy = settings.replace(notify_webhook_url=f"{webhook.url}/hook")
        async with running_app(noisy) as server, httpx.AsyncClient(base_url=server.url) as http:
            answer = await http.post(
                "/api/v3/realTime/start",
                json={"project": plan.project.id, "accounts": ["alice-42"],
                      "events": [plan.play.id]},
            )  # fmt: skip
            assert answer.status_code == 201
            headers = {"X-Write-Key": plan.project.write_key}
            body = [play_log(user_id="alice-42"), play_log(user_id="stranger")]
            await _rename_event_log(settings, "event_log_away", "event_log")
            try:
                answer = await http.post("/collect", json=body, headers=headers)
            finally:
                await _rename_event_log(settings, "event_log", "event_log_away")
            assert answer.status_code == 500
            assert answer.json()["code"] == 1 and "event_log" not in answer.json()["msg"]
            assert await eventually(lambda: _heard(received))
            assert received[0]["title"] == "job failed"
            assert received[0]["text"].startswith("ingest:")
            # Nothing of the batch stayed: not the log, not the unmatched one, not the counter.
            assert await EventLog.all().count() == 0
            assert await UnmatchedEvent.all().count() == 0
            assert (await Project.get(id=plan.project.id)).unmatched_count == 0
            # The sender retries and this time it is stored.
            answer = await http.post("/collect", json=body, headers=headers)
            assert answer.status_code == 200 and answer.json()["stored"] == 1


async def _heard(received: list) -> bool:
    return bool(received)
