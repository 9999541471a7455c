"""The app factory: routes, middleware and a lifespan that owns every connection."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from trackmaster import loop_lag
from trackmaster.plan import reading
from trackmaster.runtime import Runtime
from trackmaster.settings import Settings, load_settings
from web import health, ingest, logredact, streams
from web.api import accounts as accounts_api
from web.api import cells as cells_api
from web.api import ci as ci_api
from web.api import openapi
from web.api import projects as projects_api
from web.api import realtime as realtime_api
from web.api import schedules as schedules_api
from web.api import stories as stories_api
from web.api import tokens as tokens_api
from web.api import unplanned as unplanned_api
from web.api import v2 as api_v2
from web.auth import AuthMiddleware, Guard
from web.cors import IngestCorsMiddleware
from web.db_gate import DatabaseGateMiddleware
from web.errors import EXCEPTION_HANDLERS
from web.limits import BodyLimitMiddleware
from web.pages import account, admin, home, login, sessions
from web.pages import accounts as accounts_pages
from web.pages import projects as projects_pages
from web.pages import reports as reports_pages
from web.pages import schedules as schedules_pages
from web.pages import share as share_pages
from web.pages import stories as stories_pages
from web.pages import unmatched as unmatched_pages
from web.pages import unplanned as unplanned_pages
from web.security import SecurityHeadersMiddleware
from web.shedding import SheddingMiddleware, post_paths
from web.stream_access import StreamQuota
from workers import background, expiry, jet_pull, scheduler
from workers.pool import WorkerPool

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


# Route names live in three namespaces, so that a page's `url_for("sessions")` can never
# resolve to a JSON endpoint that happens to share the handler's name (it did: the
# project page's "Sessions of this project" opened /api/v2/realTime/sessions).
API_PREFIXES = ("/api/v",)
INGEST_PREFIXES = ("/collect", "/v1/", "/2/")


def _namespaced(route: BaseRoute) -> BaseRoute:
    if isinstance(route, Route):
        if route.path.startswith(API_PREFIXES) and not route.name.startswith("api:"):
            # Per version and module too: /api/v2 (the original's contract) and /api/v3, and
            # modules within one version, have their own handlers under the same names.
            version = route.path.split("/")[2]
            module = getattr(route.endpoint, "__module__", "").rsplit(".", 1)[-1]
            route.name = f"api:{version}:{module}.{route.name}"
        elif route.path.startswith(INGEST_PREFIXES) and not route.name.startswith("ingest:"):
            route.name = f"ingest:{route.name}"
    return route


def check_unique_names(routes: list[BaseRoute]) -> None:
    """Refuse to build an app in which two handlers share a route name (url_for picks one)."""
    handlers: dict[str, set[object]] = {}
    for route in routes:
        if isinstance(route, Route):
            handlers.setdefault(route.name, set()).add(route.endpoint)
    # One handler under several paths is an alias (Segment's /v1/t and /v1/track), and one
    # name on several methods of a path is one form (GET shows it, POST sends it).
    shared = sorted(name for name, found in handlers.items() if len(found) > 1)
    if shared:
        raise RuntimeError(f"route names shared by different handlers: {shared}")


def build_routes() -> list[BaseRoute]:
    routes = [_namespaced(route) for route in _all_routes()]
    check_unique_names(routes)
    return routes


async def _favicon(request: Request) -> FileResponse:
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")


def _all_routes() -> list[BaseRoute]:
    return [
        *health.routes,
        *home.routes,
        *login.routes,
        *account.routes,
        *admin.routes,
        *ingest.routes,
        *realtime_api.routes,
        *ci_api.routes,
        *cells_api.routes,
        *unplanned_api.routes,
        *sessions.routes,
        *unmatched_pages.routes,
        *unplanned_pages.routes,
        *reports_pages.routes,
        *share_pages.routes,
        *streams.routes,
        *projects_api.routes,
        *accounts_api.routes,
        *stories_api.routes,
        *schedules_api.routes,
        *tokens_api.routes,
        *openapi.routes,
        *api_v2.routes,
        *schedules_pages.routes,
        *projects_pages.routes,
        *accounts_pages.routes,
        *stories_pages.routes,
        # Browsers ask for it by themselves on pages that name no icon (and on JSON views).
        Route("/favicon.ico", _favicon, methods=["GET"], name="favicon"),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]


async def _finish_tasks(tasks: set[asyncio.Task[Any]], grace_s: float) -> None:
    """Let `tasks` finish within `grace_s`, cancel what is left, and wait for them all."""
    pending = set(tasks)
    if pending:
        _, pending = await asyncio.wait(pending, timeout=grace_s)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _compose(app: Starlette, settings: Settings, stack: contextlib.AsyncExitStack) -> None:
    """Open everything the process holds, each part's close pushed on `stack` (LIFO).

    Closing runs in the reverse order: live streams are told to end, the pool drains
    its accepted work (within SHUTDOWN_GRACE_S), the background loops stop, then the
    Runtime closes the bus, locks, the Redis client and the database.
    """
    # Started through a database that is away: 503s until it answers (web/db_gate.py).
    runtime = await Runtime.open(settings, role="web", degrade_if_away=True)
    stack.push_async_callback(runtime.close)
    # Plan syncs started from the project page run as tasks of this process: they end
    # (finished within the grace, else cancelled: a sync is one transaction) before the
    # database closes under them.
    plan_syncs: set[asyncio.Task[Any]] = set()
    app.state.plan_sync_tasks = plan_syncs
    stack.push_async_callback(_finish_tasks, plan_syncs, settings.shutdown_grace_s)
    # Access control's throttles and rate limits share the Runtime's one Redis client.
    app.state.guard = Guard(settings, redis=runtime.redis)
    app.state.unknown_keys = ingest.unknown_keys_for(settings, runtime.redis)
    pool = WorkerPool(
        workers=settings.workers,
        queue_size=settings.queue_size,
        job_timeout_s=settings.job_timeout_s,
        notifier=runtime.notifier,
        budget_s=settings.queue_budget_s,
    )
    puller = jet_pull.puller_for(runtime, pool)
    pool.start()
    loop_lag.of_running_loop()  # measured from the start: /healthz shows it
    # A stop of a Jet session reads its logs one last time first (docs/realtime.md).
    stack.enter_context(runtime.realtime.lifecycle.reading_before_stop(puller.final_pull))

    async def pull_jet(runtime: Runtime, pool: WorkerPool) -> None:
        await puller.run_forever()

    loops: list[tuple[str, background.BackgroundLoop]] = [
        ("session-expiry", expiry.run),
        ("jet-pull", pull_jet),
        # Scheduled plan sync without BROKER (returns at once when BROKER is set).
        ("plan-scheduler", scheduler.scheduler_loop),
    ]
    await stack.enter_async_context(background.running(runtime, pool, loops))
    stack.push_async_callback(pool.close, settings.shutdown_grace_s)
    shutting_down = asyncio.Event()
    feeds = streams.LiveFeeds(
        runtime.bus,
        shutting_down,
        settings.live_frames_per_s,
        settings.live_gap_rows,
        settings.live_log_rows,
        settings.live_sends_per_s,
    )
    # uvicorn waits for open connections before the lifespan ends, so SSE streams
    # also watch sse-starlette's own exit signal (web/streams.py); this event
    # catches anything that outlives it. Then accepted work drains.
    stack.callback(shutting_down.set)
    app.state.runtime = runtime
    app.state.pool = pool
    app.state.jet_puller = puller
    app.state.live_feeds = feeds
    app.state.stream_quota = StreamQuota(settings.sse_streams_per_user)
    app.state.shutting_down = shutting_down


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or load_settings()
    reading.configure(settings.plan_parse_timeout_s, settings.plan_max_nodes)
    logredact.install()  # write keys in query strings never reach the access log

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            await _compose(app, settings, stack)
            # Everything made so far (modules, templates, the plan caches' scaffolding)
            # lives as long as the process: moving it out of the collector's reach takes
            # the full collections, which otherwise walk it all, off the ingest path's
            # tail latency (p99 of a 100-event batch on SQLite: ~60 ms before, ~35 ms after).
            gc.freeze()
            log.info("TrackMaster is up on %s", settings.host)
            yield

    app = Starlette(
        routes=build_routes(),
        # Security headers go on every answer, refusals of the auth middleware included.
        middleware=[
            # Outermost: under overload a refusal must cost next to nothing; it carries
            # the headers of the middleware below itself (web/shedding.py).
            Middleware(SheddingMiddleware, paths=post_paths(ingest.routes)),
            Middleware(SecurityHeadersMiddleware),
            # A process that started with its database away answers 503 until it is back.
            Middleware(DatabaseGateMiddleware),
            # Every body is counted here, before anything reads it (web/limits.py).
            Middleware(BodyLimitMiddleware, settings=settings),
            # Before auth: a preflight carries no key; only ingest paths get CORS at all.
            Middleware(IngestCorsMiddleware),
            # The guard is made by the lifespan (it shares the Runtime's Redis client).
            Middleware(AuthMiddleware),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    return app
