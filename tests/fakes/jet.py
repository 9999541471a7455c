"""A fake Jet: a real HTTP server on 127.0.0.1 that speaks Jet's contract (DOMAIN.md).

It serves the plan calls (projects, enum types, the story list, story detail)
and the event-log filter calls, from a mutable in-memory plan that tests edit
(add, rename, delete stories, events and fields). Faults are switched on per
call: an HTTP status, bad JSON, a missing field, a delay, each for a number
of calls or after N good ones. Every request is recorded.

Use the `fake_jet` fixture (registered through `pytest_plugins` in
tests/conftest.py), or `FakeJet().serve()` in a benchmark or script.

Call names (for faults and `calls()`): projects, enum_types, stories, story,
create_filter, change_filter, logs, clear_logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.servers import serve

CALLS = (
    "projects",
    "enum_types",
    "stories",
    "story",
    "create_filter",
    "change_filter",
    "logs",
    "clear_logs",
)


@dataclass
class Fault:
    """One switched-on failure. `times=None` means every matching call from then on."""

    call: str  # a name of CALLS or "*"
    kind: str  # "status", "bad_json", "missing", "delay"
    status: int = 500
    body: str = '{"message": "fake Jet failure"}'
    missing: str = ""
    delay_s: float = 0.0
    times: int | None = 1
    after: int = 0  # matching calls that still go through before this fault starts

    def matches(self, call: str) -> bool:
        return self.call in ("*", call)


@dataclass
class RecordedRequest:
    call: str
    method: str
    path: str
    query: dict[str, str]
    json: Any
    at_s: float = field(default_factory=time.perf_counter)  # when it arrived
    answered_s: float | None = None  # when its JSON answer was ready


@dataclass
class FakeJet:
    url: str = ""
    projects: list[dict[str, Any]] = field(default_factory=list)
    # project id -> Jet's enum types (with "enumValues"), in Jet's JSON shape
    enum_types: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # story id -> story detail in Jet's JSON shape, plus "project" and "updatedAt"
    stories: dict[str, dict[str, Any]] = field(default_factory=dict)
    filters: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    # Called with the filter after each read's answer is built (a log "arriving" then).
    after_read: Callable[[dict[str, Any]], None] | None = None
    # Called with the filter just before a change of it is applied (an app's log racing it).
    before_change_filter: Callable[[dict[str, Any]], None] | None = None
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _clock: itertools.count = field(default_factory=lambda: itertools.count(1))

    # --- ids and time ------------------------------------------------------------------

    def new_id(self, prefix: str = "") -> str:
        """Jet's ids look like Mongo ObjectIds: 24 hex digits."""
        return f"{prefix}{next(self._ids):0{24 - len(prefix)}x}"

    def _tick(self) -> int:
        # A logical clock: "most recently updated" must not depend on wall time.
        return next(self._clock)

    # --- building and editing the plan -------------------------------------------------

    def add_project(
        self, name: str, cn_name: str | None = None, *, jet_id: str | None = None
    ) -> dict[str, Any]:
        project = {
            "id": jet_id or self.new_id("p"),
            "name": name,
            "cnName": cn_name if cn_name is not None else name,
            "type": "APP",
            "registered": True,
        }
        self.projects.append(project)
        self.enum_types.setdefault(project["id"], [])
        return project

    def add_enum_type(
        self, project_id: str, name: str, values: list[str], *, status: str = "ACTIVE"
    ) -> dict[str, Any]:
        enum_type = {
            "id": self.new_id("t"),
            "name": name,
            "status": status,
            "enumValues": [
                {
                    "id": self.new_id("v"),
                    "name": value,
                    "desc": f"{value} value",
                    "status": "ACTIVE",
                    "deprecated": False,
                }
                for value in values
            ],
        }
        self.enum_types.setdefault(project_id, []).append(enum_type)
        return enum_type

    def enum_type(self, project_id: str, name: str) -> dict[str, Any]:
        return next(t for t in self.enum_types[project_id] if t["name"] == name)

    def enum_ids(self, project_id: str, type_name: str, *names: str) -> list[str]:
        """The ids of enum values by name: what a plan field lists as its values."""
        values = self.enum_type(project_id, type_name)["enumValues"]
        by_name = {value["name"]: value["id"] for value in values}
        return [by_name[name] for name in names]

    def make_field(
        self,
        key: str,
        values: list[str] | None = None,
        *,
        type_id: str = "string",
        type_name: str = "String",
        note: str = "",
    ) -> dict[str, Any]:
        return {
            "id": self.new_id("f"),
            "name": key,
            "type": {"id": type_id, "name": type_name},
            "values": list(values or []),
            "note": note,
        }

    def enum_field(
        self, project_id: str, key: str, type_name: str, *value_names: str, note: str = ""
    ) -> dict[str, Any]:
        """A field whose values are ids of an enum type's values."""
        enum_type = self.enum_type(project_id, type_name)
        return self.make_field(
            key,
            self.enum_ids(project_id, type_name, *value_names),
            type_id=enum_type["id"],
            type_name=type_name,
            note=note,
        )

    def make_event(self, name: str, fields: list[dict[str, Any]], desc: str = "") -> dict[str, Any]:
        return {"id": self.new_id("e"), "name": name, "desc": desc, "eventDefinitions": fields}

    def add_story(
        self, project_id: str, name: str, desc: str = "", events: list[dict[str, Any]] = ()
    ) -> dict[str, Any]:
        story = {
            "id": self.new_id("s"),
            "name": name,
            "desc": desc,
            "events": list(events),
            "project": project_id,
            "updatedAt": self._tick(),
        }
        self.stories[story["id"]] = story
        return story

    def touch(self, story_id: str) -> None:
        """Mark a story as just updated (it moves to the top of the story list)."""
        self.stories[story_id]["updatedAt"] = self._tick()

    def edit_story(self, story_id: str, **changes: Any) -> dict[str, Any]:
        self.stories[story_id].update(changes)
        self.touch(story_id)
        return self.stories[story_id]

    def delete_story(self, story_id: str) -> None:
        del self.stories[story_id]

    def _find_event(self, event_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        for story in self.stories.values():
            for event in story["events"]:
                if event["id"] == event_id:
                    return story, event
        raise KeyError(event_id)

    def edit_event(self, event_id: str, **changes: Any) -> dict[str, Any]:
        story, event = self._find_event(event_id)
        event.update(changes)
        self.touch(story["id"])
        return event

    def delete_event(self, event_id: str) -> None:
        story, event = self._find_event(event_id)
        story["events"].remove(event)
        self.touch(story["id"])

    def add_field(self, event_id: str, definition: dict[str, Any]) -> dict[str, Any]:
        story, event = self._find_event(event_id)
        event["eventDefinitions"].append(definition)
        self.touch(story["id"])
        return definition

    def _find_field(self, field_id: str) -> tuple[dict[str, Any], dict[str, Any], dict]:
        for story in self.stories.values():
            for event in story["events"]:
                for definition in event["eventDefinitions"]:
                    if definition["id"] == field_id:
                        return story, event, definition
        raise KeyError(field_id)

    def edit_field(self, field_id: str, **changes: Any) -> dict[str, Any]:
        story, _, definition = self._find_field(field_id)
        definition.update(changes)
        self.touch(story["id"])
        return definition

    def delete_field(self, field_id: str) -> None:
        story, event, definition = self._find_field(field_id)
        event["eventDefinitions"].remove(definition)
        self.touch(story["id"])

    def project_stories(self, project_id: str) -> list[dict[str, Any]]:
        """The project's stories, most recently updated first (Jet's sort)."""
        return sorted(
            (s for s in self.stories.values() if s["project"] == project_id),
            key=lambda s: s["updatedAt"],
            reverse=True,
        )

    # --- faults ------------------------------------------------------------------------

    def fail(
        self,
        call: str = "*",
        status: int = 500,
        *,
        times: int | None = 1,
        after: int = 0,
        body: str = '{"message": "fake Jet failure"}',
    ) -> Fault:
        """Answer `status` with `body` to the next `times` matching calls (after `after`)."""
        return self._add_fault(Fault(call, "status", status=status, body=body, times=times,
                                     after=after))  # fmt: skip

    def fail_after(self, calls: int, call: str = "*", status: int = 500) -> Fault:
        """Let `calls` matching calls through, then fail every later one (Jet died mid-sync)."""
        return self.fail(call, status, times=None, after=calls)

    def bad_json(self, call: str = "*", *, times: int | None = 1, after: int = 0) -> Fault:
        return self._add_fault(Fault(call, "bad_json", times=times, after=after))

    def missing_field(
        self, call: str, name: str, *, times: int | None = 1, after: int = 0
    ) -> Fault:
        """Drop key `name` from the answer (from each item of `data`, or the object)."""
        return self._add_fault(Fault(call, "missing", missing=name, times=times, after=after))

    def delay(self, call: str = "*", seconds: float = 1.0, *, times: int | None = None) -> Fault:
        return self._add_fault(Fault(call, "delay", delay_s=seconds, times=times))

    def clear_faults(self) -> None:
        self.faults.clear()

    def _add_fault(self, fault: Fault) -> Fault:
        if fault.call != "*" and fault.call not in CALLS:
            raise ValueError(f"unknown Jet call {fault.call!r}; one of {CALLS}")
        self.faults.append(fault)
        return fault

    def _active_faults(self, call: str) -> list[Fault]:
        """Every delay that applies, plus the first other fault (one answer per call)."""
        active: list[Fault] = []
        answered = False
        for fault in list(self.faults):
            if not fault.matches(call):
                continue
            if fault.after > 0:
                fault.after -= 1
                continue
            if fault.kind != "delay":
                if answered:
                    continue
                answered = True
            active.append(fault)
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
        return active

    # --- event-log filters -------------------------------------------------------------

    def push_log(
        self,
        filter_id: str | None,
        user_id: str,
        event_name: str,
        log: dict[str, Any] | str,
    ) -> dict[str, Any]:
        """Put a raw log into a filter (None or "latest": the newest filter), as Jet would."""
        if filter_id in (None, "latest"):
            if not self.filters:
                raise KeyError("no filter was created yet")
            filter_id = list(self.filters)[-1]
        entry = {
            "id": self.new_id("l"),
            "event": event_name,
            "filter": filter_id,
            "userId": user_id,
            "log": log if isinstance(log, str) else json.dumps(log, ensure_ascii=False),
        }
        self.filters[filter_id]["logs"].append(entry)
        return entry

    def emit(self, project_id: str, user_id: str, event_name: str, log: dict[str, Any]) -> int:
        """An app emitted an event: every RECORDING filter that matches catches it."""
        caught = 0
        for jet_filter in self.filters.values():
            if (
                jet_filter["status"] == "RECORDING"
                and jet_filter["project"]["id"] == project_id
                and event_name in jet_filter["events"]
                and user_id in jet_filter["userIds"]
            ):
                self.push_log(jet_filter["id"], user_id, event_name, log)
                caught += 1
        return caught

    async def feed(
        self,
        filter_id: str,
        user_id: str,
        event_name: str,
        make_log: Callable[[int], dict[str, Any]],
        *,
        rate_per_s: float,
        seconds: float,
        step_s: float = 0.005,
    ) -> dict[str, float]:
        """Put `rate_per_s * seconds` logs into a filter on a steady schedule, as apps would.

        Log n is due at n / rate_per_s after the start; each wake-up pushes every log
        that is due (a late wake-up catches up, so the count and the mean rate hold).
        Returns {log id: time.perf_counter() when Jet received it}.
        """
        count = round(rate_per_s * seconds)
        received: dict[str, float] = {}
        start = time.perf_counter()
        while len(received) < count:
            due = min(count, int((time.perf_counter() - start) * rate_per_s) + 1)
            while len(received) < due:
                entry = self.push_log(filter_id, user_id, event_name, make_log(len(received)))
                received[entry["id"]] = time.perf_counter()
            await asyncio.sleep(step_s)
        return received

    # --- the HTTP side -----------------------------------------------------------------

    def calls(self, name: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.call == name]

    @property
    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/internals/project", self._handler("projects", self._projects)),
                Route("/v1/internals/enumType", self._handler("enum_types", self._enum_types)),
                Route("/v1/internals/requirement", self._handler("stories", self._stories)),
                Route("/v1/internals/requirement/{story_id}", self._handler("story", self._story)),
                Route(
                    "/v1/internals/eventLog/filter",
                    self._handler("create_filter", self._create_filter),
                    methods=["POST"],
                ),
                Route(
                    "/v1/internals/eventLog/filter/{filter_id}",
                    self._handler("change_filter", self._change_filter),
                    methods=["PATCH"],
                ),
                Route(
                    "/v1/internals/eventLog",
                    self._log_handler(),
                    methods=["GET", "DELETE"],
                ),
            ]
        )

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[FakeJet]:
        async with serve(self.app, lifespan="off") as server:
            self.url = server.url
            yield self

    def _log_handler(self):
        read = self._handler("logs", self._logs)
        clear = self._handler("clear_logs", self._clear_logs)

        async def endpoint(request: Request) -> Response:
            return await (read if request.method == "GET" else clear)(request)

        return endpoint

    def _handler(self, call: str, answer):
        async def endpoint(request: Request) -> Response:
            body = await request.body()
            try:
                payload = json.loads(body) if body else None
            except ValueError:
                payload = body.decode(errors="replace")
            self.requests.append(
                RecordedRequest(
                    call, request.method, request.url.path, dict(request.query_params), payload
                )
            )
            faults = self._active_faults(call)
            for fault in faults:
                if fault.kind == "delay":
                    await asyncio.sleep(fault.delay_s)
            for fault in faults:
                if fault.kind == "status":
                    return Response(fault.body, fault.status, media_type="application/json")
                if fault.kind == "bad_json":
                    return Response('{"data": [{"id": ', 200, media_type="application/json")
            try:
                result = answer(request, payload)
            except _JetHttpError as error:
                return JSONResponse({"message": error.message}, error.status)
            if result is None:
                return Response(status_code=200)
            for fault in faults:
                if fault.kind == "missing":
                    _drop_key(result, fault.missing)
            # orjson: a read of 500 logs took this fake 2-10 ms with json, and every
            # millisecond after the read's snapshot widens the loss window it measures.
            response = Response(orjson.dumps(result), media_type="application/json")
            self.requests[-1].answered_s = time.perf_counter()
            return response

        return endpoint

    def _projects(self, request: Request, payload: Any) -> dict[str, Any]:
        return {"data": [dict(project) for project in self.projects]}

    def _project_param(self, request: Request) -> str:
        project_id = request.query_params.get("project", "")
        if not any(project["id"] == project_id for project in self.projects):
            raise _JetHttpError(404, f"project {project_id!r} not found")
        return project_id

    def _enum_types(self, request: Request, payload: Any) -> dict[str, Any]:
        project_id = self._project_param(request)
        return {"data": json.loads(json.dumps(self.enum_types.get(project_id, [])))}

    def _stories(self, request: Request, payload: Any) -> dict[str, Any]:
        project_id = self._project_param(request)
        params = request.query_params
        if params.get("sortKey", "updatedAt") != "updatedAt":
            raise _JetHttpError(400, "sortKey must be updatedAt")
        try:
            page = int(params.get("page", "1"))
            page_size = int(params.get("pageSize", "15"))
        except ValueError:
            raise _JetHttpError(400, "page and pageSize must be numbers") from None
        if page < 1 or not 1 <= page_size <= 200:
            raise _JetHttpError(400, "page must be >= 1 and pageSize between 1 and 200")
        ordered = self.project_stories(project_id)
        if params.get("sortDirection", "DESC") == "ASC":
            ordered.reverse()
        chosen = ordered[(page - 1) * page_size : page * page_size]
        return {"data": [{"id": s["id"], "name": s["name"], "desc": s["desc"]} for s in chosen]}

    def _story(self, request: Request, payload: Any) -> dict[str, Any]:
        story = self.stories.get(request.path_params["story_id"])
        if story is None:
            raise _JetHttpError(404, f"requirement {request.path_params['story_id']!r} not found")
        detail = json.loads(json.dumps(story))
        detail.pop("project")
        detail.pop("updatedAt")
        return detail

    def _create_filter(self, request: Request, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
            raise _JetHttpError(400, "events, project and userIds are required")
        project = next((p for p in self.projects if p["id"] == payload.get("project")), None)
        if project is None:
            raise _JetHttpError(404, f"project {payload.get('project')!r} not found")
        filter_id = self.new_id("q")
        self.filters[filter_id] = {
            "id": filter_id,
            "status": "READY",
            "events": list(payload["events"]),
            "userIds": list(payload.get("userIds") or []),
            "project": dict(project),
            "logs": [],
            "read_ids": set(),  # ids of logs a read returned since the last clear
            "cleared_unread": 0,  # logs a clear deleted that no read had returned
        }
        hidden = ("logs", "read_ids", "cleared_unread")
        return {k: v for k, v in self.filters[filter_id].items() if k not in hidden}

    def _change_filter(self, request: Request, payload: Any) -> None:
        jet_filter = self.filters.get(request.path_params["filter_id"])
        if jet_filter is None:
            raise _JetHttpError(404, "filter not found")
        if not isinstance(payload, dict) or payload.get("status") not in (
            "READY",
            "RECORDING",
            "STOPPED",
        ):
            raise _JetHttpError(400, "status must be READY, RECORDING or STOPPED")
        if self.before_change_filter is not None:
            self.before_change_filter(jet_filter)
        jet_filter["status"] = payload["status"]
        if isinstance(payload.get("events"), list):
            jet_filter["events"] = list(payload["events"])
        if isinstance(payload.get("userIds"), list):
            jet_filter["userIds"] = list(payload["userIds"])
        return None

    def _filter_param(self, request: Request) -> dict[str, Any]:
        jet_filter = self.filters.get(request.query_params.get("filter", ""))
        if jet_filter is None:
            raise _JetHttpError(404, "filter not found")
        return jet_filter

    def _logs(self, request: Request, payload: Any) -> dict[str, Any]:
        jet_filter = self._filter_param(request)
        jet_filter["read_ids"].update(entry["id"] for entry in jet_filter["logs"])
        answer = {"data": [dict(entry) for entry in jet_filter["logs"]]}
        if self.after_read is not None:
            self.after_read(jet_filter)
        return answer

    def _clear_logs(self, request: Request, payload: Any) -> None:
        jet_filter = self._filter_param(request)
        # Jet deletes them all; count those no read had returned: lost to the client.
        read = jet_filter["read_ids"]
        jet_filter["cleared_unread"] += sum(1 for e in jet_filter["logs"] if e["id"] not in read)
        jet_filter["logs"].clear()
        jet_filter["read_ids"] = set()
        return None


class _JetHttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _drop_key(result: Any, key: str) -> None:
    if isinstance(result, dict) and isinstance(result.get("data"), list):
        for item in result["data"]:
            if isinstance(item, dict):
                item.pop(key, None)
    elif isinstance(result, dict):
        result.pop(key, None)


# --- realistic plans -------------------------------------------------------------------


def seed_realistic_plan(jet: FakeJet) -> dict[str, Any]:
    """A plan with what real plans have: enum and literal values, `|` `,` `/` alternatives,
    a URL value, unicode names, HTML in names and descriptions. Returns handles to its parts.
    """
    project = jet.add_project("video", "视频 App")
    pid = project["id"]
    jet.add_enum_type(pid, "page_name", ["home", "player", "search"])
    jet.add_enum_type(pid, "content_type", ["EPISODE", "MOVIE", "CLIP"])
    play = jet.make_event(
        "play_click",
        [
            jet.enum_field(pid, "event_info.current_page_name", "page_name", "home", "player"),
            jet.enum_field(pid, "content_info.type", "content_type", "EPISODE"),
            jet.make_field("page_info.id", [], note="the episode's id"),
            jet.make_field("player.quality", ["hd|sd|auto"]),
            jet.make_field("player.mode", ["full,mini"]),
            jet.make_field("player.muted", ["yes/no"]),
            jet.make_field("share.url", ["https://example.com/a/b"], note="stays one value"),
        ],
        desc="The <b>play</b> button & its state",
    )
    search = jet.make_event(
        "search_submit",
        [
            jet.enum_field(pid, "event_info.current_page_name", "page_name", "search"),
            jet.make_field("search.keyword", [], note="<i>whatever</i> the user typed"),
        ],
        desc="搜索提交",
    )
    player_story = jet.add_story(
        pid, "Player <v2> & friends", "Play episodes; <script>alert(1)</script>", [play]
    )
    search_story = jet.add_story(pid, "搜索 Search", "Search from the home page", [search])
    other = jet.add_project("music", "Müsik ♪")
    jet.add_enum_type(other["id"], "page_name", ["library"])
    jet.add_story(
        other["id"],
        "Library",
        "",
        [jet.make_event("library_open", [jet.make_field("library.size", ["1,2,3"])])],
    )
    return {
        "project": project,
        "music": other,
        "player_story": player_story,
        "search_story": search_story,
        "play": play,
        "search": search,
    }


def seed_big_plan(
    jet: FakeJet, *, stories: int = 1000, events: int = 10, fields: int = 10
) -> dict[str, Any]:
    """A plan of `stories` stories with `events` events of `fields` fields each (benchmarks)."""
    project = jet.add_project("big", "Big plan")
    pid = project["id"]
    jet.add_enum_type(pid, "page_name", [f"page_{n}" for n in range(20)])
    for s in range(stories):
        story_events = []
        for e in range(events):
            definitions = []
            for f in range(fields):
                if f % 3 == 0:
                    definitions.append(
                        jet.enum_field(pid, f"attr_{f}.page", "page_name", f"page_{f}", "page_1")
                    )
                elif f % 3 == 1:
                    definitions.append(jet.make_field(f"attr_{f}.kind", ["a|b|c"]))
                else:
                    definitions.append(jet.make_field(f"attr_{f}.id", []))
            story_events.append(jet.make_event(f"event_{s}_{e}", definitions))
        jet.add_story(pid, f"Story {s}", f"Story number {s}", story_events)
    return {"project": project}


@pytest.fixture
async def fake_jet() -> AsyncIterator[FakeJet]:
    """A fresh, empty fake Jet listening on a loopback port; seed it with `seed_*`."""
    jet = FakeJet()
    async with jet.serve():
        yield jet


@pytest.fixture
async def jet_server(settings: Any, fake_jet: FakeJet) -> AsyncIterator[Any]:
    """TrackMaster on a loopback port, with JET_URL pointing at the fake Jet."""
    from web.app import create_app

    configured = settings.replace(jet_url=fake_jet.url, jet_retries=1, jet_timeout_s=5.0)
    async with serve(create_app(configured)) as server:
        yield server


@pytest.fixture
async def jet_http(jet_server: Any) -> AsyncIterator[Any]:
    """An HTTP client to `jet_server`."""
    import httpx

    async with httpx.AsyncClient(base_url=jet_server.url, timeout=30) as http:
        yield http
