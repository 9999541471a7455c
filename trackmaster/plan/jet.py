"""The Jet client: every call of Jet's contract (DOMAIN.md), with retries and clear errors.

Transient failures (timeouts, refused connections, 5xx) are retried with an
exponential backoff; an answer that is wrong (4xx, not JSON, a field
missing) raises `JetError` at once, naming the call and what came back.
A POST is retried only when its request never reached Jet (the connection
failed), because retrying it after a timeout could create a second filter.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx
import orjson

from trackmaster.errors import UpstreamError
from trackmaster.plan.snapshot import (
    PlanEnumType,
    PlanEnumValue,
    PlanEvent,
    PlanField,
    PlanStory,
)

log = logging.getLogger(__name__)

BODY_EXCERPT_CHARS = 300
FILTER_STATUSES = ("READY", "RECORDING", "STOPPED")


class JetError(UpstreamError):
    """Jet failed or answered something unusable; the message names the call and the answer."""


@dataclass(frozen=True)
class JetProject:
    id: str
    name: str
    cn_name: str
    type: str = ""
    registered: bool = True

    @property
    def local_name(self) -> str:
        # The original named local projects after Jet's cnName; fall back to the name.
        return self.cn_name or self.name


@dataclass(frozen=True)
class JetStorySummary:
    id: str
    name: str
    desc: str


@dataclass
class BadJetLog:
    item: Any  # as Jet answered it
    why: str


@dataclass
class JetLogs:
    """One read of a log filter: the usable items, and those that lack a field."""

    items: list[dict[str, Any]] = field(default_factory=list)
    bad: list[BadJetLog] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items) + len(self.bad)


class JetClient:
    """`async with JetClient(url, timeout_s) as jet: await jet.projects()`."""

    def __init__(
        self,
        base_url: str,
        timeout_s: float,
        retries: int = 3,
        *,
        backoff_s: float = 0.25,
        story_page_size: int = 15,
        full_sync: bool = False,
        concurrency: int = 8,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not base_url:
            raise JetError("Jet is not configured: set JET_URL, or import the plan from a file")
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.story_page_size = story_page_size
        self.full_sync = full_sync
        # Story details are fetched this many at a time (a 1,000-story plan is 1,000 calls).
        self.concurrency = concurrency
        self._transport = transport
        self._http: httpx.AsyncClient | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> JetClient:
        return cls(
            settings.jet_url,
            settings.jet_timeout_s,
            settings.jet_retries,
            story_page_size=settings.jet_story_page_size,
            full_sync=settings.jet_full_sync,
        )

    async def __aenter__(self) -> JetClient:
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=self.timeout_s,
            transport=self._transport,
            headers={"accept": "application/json"},
            limits=httpx.Limits(max_connections=max(self.concurrency, 4)),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # --- the plan calls ----------------------------------------------------------------

    async def projects(self) -> list[JetProject]:
        call = "GET /v1/internals/project"
        items = _data_list(await self._json(call, "GET", "/v1/internals/project"), call)
        projects = []
        for n, item in enumerate(items):
            where = f"data[{n}]"
            projects.append(
                JetProject(
                    id=_id(item, "id", call, where),
                    name=_text(item, "name", call, where),
                    cn_name=_text(item, "cnName", call, where, required=False),
                    type=_text(item, "type", call, where, required=False),
                    registered=bool(item.get("registered", True)),
                )
            )
        return projects

    async def enum_types(self, project_jet_id: str) -> list[PlanEnumType]:
        call = f"GET /v1/internals/enumType?project={project_jet_id}"
        answer = await self._json(
            call, "GET", "/v1/internals/enumType", params={"project": project_jet_id}
        )
        enum_types = []
        for n, item in enumerate(_data_list(answer, call)):
            where = f"data[{n}]"
            values = _list(item, "enumValues", call, where)
            enum_types.append(
                PlanEnumType(
                    ext_id=_id(item, "id", call, where),
                    name=_text(item, "name", call, where),
                    status=_text(item, "status", call, where, required=False),
                    values=[
                        PlanEnumValue(
                            ext_id=_id(value, "id", call, f"{where}.enumValues[{m}]"),
                            name=_text(value, "name", call, f"{where}.enumValues[{m}]"),
                            description=_text(
                                value, "desc", call, f"{where}.enumValues[{m}]", required=False
                            ),
                            deprecated=bool(value.get("deprecated") or False),
                        )
                        for m, value in enumerate(_objects(values, call, f"{where}.enumValues"))
                    ],
                )
            )
        return enum_types

    async def stories(
        self, project_jet_id: str, page: int = 1, page_size: int = 15
    ) -> list[JetStorySummary]:
        """One page of the project's stories, most recently updated first."""
        params = {
            "project": project_jet_id,
            "sortKey": "updatedAt",
            "sortDirection": "DESC",
            "pageSize": page_size,
            "page": page,
        }
        call = f"GET /v1/internals/requirement?project={project_jet_id}&page={page}"
        answer = await self._json(call, "GET", "/v1/internals/requirement", params=params)
        return [
            JetStorySummary(
                id=_id(item, "id", call, f"data[{n}]"),
                name=_text(item, "name", call, f"data[{n}]"),
                desc=_text(item, "desc", call, f"data[{n}]", required=False),
            )
            for n, item in enumerate(_data_list(answer, call))
        ]

    async def story(self, story_jet_id: str) -> PlanStory:
        call = f"GET /v1/internals/requirement/{story_jet_id}"
        item = await self._json(call, "GET", f"/v1/internals/requirement/{story_jet_id}")
        if not isinstance(item, dict):
            raise JetError(f"Jet {call} answered {_kind(item)}, expected an object")
        events = []
        for n, event in enumerate(_objects(_list(item, "events", call, ""), call, "events")):
            where = f"events[{n}]"
            definitions = _objects(
                _list(event, "eventDefinitions", call, where), call, f"{where}.eventDefinitions"
            )
            events.append(
                PlanEvent(
                    ext_id=_id(event, "id", call, where),
                    name=_text(event, "name", call, where),
                    description=_text(event, "desc", call, where, required=False),
                    fields=[
                        _field(definition, call, f"{where}.eventDefinitions[{m}]")
                        for m, definition in enumerate(definitions)
                    ],
                )
            )
        return PlanStory(
            ext_id=_id(item, "id", call, ""),
            name=_text(item, "name", call, ""),
            description=_text(item, "desc", call, "", required=False),
            events=events,
        )

    async def all_story_summaries(self, project_jet_id: str) -> list[JetStorySummary]:
        """Every story of the project, paging until a short page (a full sync)."""
        found: dict[str, JetStorySummary] = {}
        page = 1
        while True:
            batch = await self.stories(project_jet_id, page, self.story_page_size)
            for summary in batch:
                found.setdefault(summary.id, summary)
            if len(batch) < self.story_page_size:
                return list(found.values())
            page += 1

    async def story_details(self, story_ids: list[str], on_each: Any = None) -> list[PlanStory]:
        """Fetch many stories, `concurrency` at a time; the first failure cancels the rest."""
        gate = asyncio.Semaphore(self.concurrency)

        async def one(story_id: str) -> PlanStory:
            async with gate:
                story = await self.story(story_id)
            if on_each is not None:
                on_each()
            return story

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(story_id)) for story_id in story_ids]
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None  # the first failure is the one to report
        return [task.result() for task in tasks]

    # --- the event-log filter calls (realtime sessions) --------------------------------

    async def create_filter(
        self, events: list[str], project_jet_id: str, user_ids: list[str]
    ) -> dict[str, Any]:
        call = "POST /v1/internals/eventLog/filter"
        body = {"events": list(events), "project": project_jet_id, "userIds": list(user_ids)}
        answer = await self._json(call, "POST", "/v1/internals/eventLog/filter", json_body=body)
        if not isinstance(answer, dict):
            raise JetError(f"Jet {call} answered {_kind(answer)}, expected an object")
        _id(answer, "id", call, "")
        _text(answer, "status", call, "")
        return answer

    async def change_filter(
        self, filter_id: str, status: str, events: list[str], user_ids: list[str]
    ) -> None:
        if status not in FILTER_STATUSES:
            raise ValueError(f"status must be one of {FILTER_STATUSES}, got {status!r}")
        call = f"PATCH /v1/internals/eventLog/filter/{filter_id}"
        body = {"id": filter_id, "status": status, "events": events, "userIds": user_ids}
        await self._request(
            call, "PATCH", f"/v1/internals/eventLog/filter/{filter_id}", json_body=body
        )

    async def logs(self, filter_id: str) -> JetLogs:
        """Every log the filter holds; an item that lacks a field is set aside, not fatal.

        One malformed item must not block its filter: rejecting the whole answer
        would stop every later read and, with it, the clear that makes room.
        """
        call = f"GET /v1/internals/eventLog?filter={filter_id}"
        answer = await self._json(
            call, "GET", "/v1/internals/eventLog", params={"filter": filter_id}
        )
        if not isinstance(answer, dict):
            raise JetError(f"Jet {call} answered {_kind(answer)}, expected an object with `data`")
        read = JetLogs()
        for n, item in enumerate(_list(answer, "data", call, "")):
            problem = _log_problem(item)
            if problem:
                read.bad.append(BadJetLog(item, f"data[{n}] {problem}"))
            else:
                read.items.append(item)
        return read

    async def clear_logs(self, filter_id: str) -> None:
        call = f"DELETE /v1/internals/eventLog?filter={filter_id}"
        await self._request(call, "DELETE", "/v1/internals/eventLog", params={"filter": filter_id})

    # --- transport ---------------------------------------------------------------------

    async def _json(self, call: str, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._request(call, method, path, **kwargs)
        try:
            # orjson first: a read of 500 logs (each a JSON string inside JSON) took
            # 1-10 ms with json here, inside the window in which Jet's clear can
            # delete logs unread; json only for what orjson refuses (ints over 64 bits).
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            pass
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise JetError(
                f"Jet {call} answered {response.status_code} with invalid JSON: "
                f"{_excerpt(response.text)!r}"
            ) from None

    async def _request(
        self,
        call: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
    ) -> httpx.Response:
        if self._http is None:
            raise RuntimeError("use JetClient as `async with JetClient(...) as jet`")
        attempts = self.retries + 1
        problem = ""
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                response = await self._http.request(method, path, params=params, json=json_body)
            except httpx.ConnectError as exc:
                problem = f"could not connect ({exc or type(exc).__name__})"
            except httpx.TimeoutException:
                problem = f"did not answer within {self.timeout_s:g} s"
                if method == "POST":
                    break  # it may have been done: never repeat a POST that reached Jet
            except httpx.TransportError as exc:
                problem = f"failed in transit ({type(exc).__name__}: {exc})"
                if method == "POST":
                    break
            else:
                if response.status_code < 400:
                    return response
                problem = f"answered {response.status_code}: {_excerpt(response.text)!r}"
                if response.status_code < 500 or method == "POST":
                    raise JetError(f"Jet {call} {problem}")
            log.warning("Jet %s %s (attempt %d of %d)", call, problem, attempt + 1, attempts)
        tries = f"after {attempt + 1} attempt{'s' if attempt else ''}"
        raise JetError(f"Jet {call} {problem} {tries}")


# --- parsing helpers: every problem names the call and the place in the answer ----------


def _excerpt(text: str) -> str:
    text = text.strip()
    return text if len(text) <= BODY_EXCERPT_CHARS else text[:BODY_EXCERPT_CHARS] + "…"


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _place(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _missing(call: str, where: str, key: str, value: Any) -> JetError:
    if value is None:
        return JetError(f"Jet {call} answered without field `{_place(where, key)}`")
    return JetError(f"Jet {call} answered `{_place(where, key)}` as {_kind(value)}: {value!r}")


def _data_list(answer: Any, call: str) -> list[dict[str, Any]]:
    if not isinstance(answer, dict):
        raise JetError(f"Jet {call} answered {_kind(answer)}, expected an object with `data`")
    return _objects(_list(answer, "data", call, ""), call, "data")


def _list(item: dict[str, Any], key: str, call: str, where: str) -> list[Any]:
    value = item.get(key)
    if value is None and key in item:
        return []  # Jet sends null for an empty list
    if not isinstance(value, list):
        raise _missing(call, where, key, value)
    return value


def _objects(values: list[Any], call: str, where: str) -> list[dict[str, Any]]:
    for n, value in enumerate(values):
        if not isinstance(value, dict):
            raise JetError(f"Jet {call} answered `{where}[{n}]` as {_kind(value)}, not an object")
    return values


def _log_problem(item: Any) -> str:
    """Why a log item cannot be used, or "" when it can."""
    if not isinstance(item, dict):
        return f"is {_kind(item)}, not an object"
    for key in ("id", "event", "userId"):
        value = item.get(key)
        if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
            return f"has no usable `{key}` ({_kind(value)})"
    if not isinstance(item.get("log"), str | dict):
        return "has no `log` string"
    return ""


def _id(item: dict[str, Any], key: str, call: str, where: str) -> str:
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise _missing(call, where, key, value)
    return str(value)


def _text(item: dict[str, Any], key: str, call: str, where: str, *, required: bool = True) -> str:
    value = item.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise _missing(call, where, key, value)
    return value


def _field(definition: dict[str, Any], call: str, where: str) -> PlanField:
    field_type = definition.get("type")
    if field_type is not None and not isinstance(field_type, dict):
        raise _missing(call, where, "type", field_type)
    field_type = field_type or {}
    raw_values = definition.get("values") or []
    if not isinstance(raw_values, list) or any(
        not isinstance(value, str | int | float) or isinstance(value, bool) for value in raw_values
    ):
        raise _missing(call, where, "values", raw_values)
    return PlanField(
        ext_id=_id(definition, "id", call, where),
        key=_text(definition, "name", call, where),
        type_ref=str(field_type.get("id") or ""),
        type_name=str(field_type.get("name") or ""),
        raw_values=[str(value) for value in raw_values],
        note=_text(definition, "note", call, where, required=False),
    )
