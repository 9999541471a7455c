"""A browser SDK from npm, unmodified, in Chromium, on another origin than TrackMaster.

The page is served from a second loopback port; it loads the vendored
@amplitude/analytics-browser bundle (tests/vendor/VENDOR.md), points it at
the live TrackMaster and tracks a right and a wrong event. The SDK posts
JSON cross-origin (a CORS preflight first), its own `track(...).promise`
result says 200 delivered, and the verdicts are read back through the API.
A `navigator.sendBeacon` text/plain body, as pages send on unload, is stored too.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import FileResponse, HTMLResponse
from starlette.routing import Route

from tests.support.protocols import logs_of, start_session, verdict_of
from tests.support.servers import serve

BUNDLE = Path(__file__).resolve().parent / "vendor" / "amplitude" / "amplitude-min.umd.js"
PAGE = """<!doctype html><html><head><meta charset="utf-8">
<script src="/amplitude.js"></script></head><body><p>shop</p></body></html>"""


def other_origin() -> Starlette:
    async def page(request):
        return HTMLResponse(PAGE)

    async def bundle(request):
        return FileResponse(BUNDLE, media_type="text/javascript")

    return Starlette(routes=[Route("/", page), Route("/amplitude.js", bundle)])


async def test_amplitude_browser_sdk_from_another_origin(db, client, live_server, page):
    plan = await start_session(client)
    async with serve(other_origin(), lifespan="off") as shop:
        assert shop.port != live_server.port  # a different origin
        await page.goto(shop.url + "/")
        results = await page.evaluate(
            """async ([key, server]) => {
                amplitude.init(key, 'alice-42', {
                    serverUrl: server + '/2/httpapi', autocapture: false,
                    fetchRemoteConfig: false, flushQueueSize: 1, flushIntervalMillis: 50,
                    enableDiagnostics: false, logLevel: 0,
                });
                const sent = [];
                for (const name of ['home', 'nowhere']) {
                    const result = await amplitude.track('play_click',
                        {event_info: {current_page_name: name}}).promise;
                    sent.push([result.code, result.message]);
                }
                return sent;
            }""",
            [plan.project.write_key, live_server.url],
        )
        assert [code for code, _ in results] == [200, 200], results
        logs = await logs_of(client, plan, 2)
        assert sorted(verdict_of(log, "event_info.current_page_name") for log in logs) == [
            "FAIL", "SUCCESS"]  # fmt: skip
        assert {log["source"] for log in logs} == {"amplitude"}

        queued = await page.evaluate(
            """([key, server]) => navigator.sendBeacon(server + '/v1/t', JSON.stringify({
                type: 'track', event: 'search_submit', userId: 'alice-42', writeKey: key,
                properties: {search: {keyword: 'cats'}}}))""",
            [plan.project.write_key, live_server.url],
        )
        assert queued is True
        logs = await logs_of(client, plan, 3)
        assert "search_submit" in {log["name"] for log in logs}
