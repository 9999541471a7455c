"""Snowplow's collector protocol: POST /com.snowplowanalytics.snowplow/tp2 and GET /i.

    POST tp2  {"schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4",
               "data": [{"e", "p", "aid", "uid", "eid", "dtm", "ue_pr" | "ue_px", "co" | "cx"}]}
    GET  /i?e=se&p=web&aid=...                one event in the query

The event name: a self-describing event's schema name (`ue_pr` JSON or
`ue_px` base64: iglu:com.acme/play_click/jsonschema/1-0-0 -> play_click),
a structured event's action `se_ac`, else the event type `e` (pv, pp...).
The event's data become its "properties" (a structured event's `se_ca`,
`se_ac`, `se_la`, `se_pr`, `se_va` as category, action, label, property,
value); contexts (`co` / base64 `cx`) are kept decoded under "contexts".
The user is `uid`; the platform `p`: mob means the mobile context's `osType`
(ios, android), anything else Other. Snowplow has no write key: the app id
`aid` is the project's write key.
"""

from __future__ import annotations

from typing import Any

from trackmaster.errors import field_error
from trackmaster.kinds import Platform
from trackmaster.sources import CaughtEvent
from trackmaster.sources._common import (
    MAX_BATCH_EVENTS,
    MAX_MESSAGE_ID_CHARS,
    MAX_NAME_CHARS,
    MAX_PROJECT_KEY_CHARS,
    MAX_USER_ID_CHARS,
    Parsed,
    parse_items,
    parse_time,
    platform_of,
    require_object,
    text,
)
from trackmaster.sources.wire import Wire, base64_json, json_body

_STRUCTURED = {"se_ca": "category", "se_ac": "action", "se_la": "label", "se_pr": "property",
               "se_va": "value"}  # fmt: skip
_ENCODED = ("ue_pr", "ue_px", "co", "cx", "aid")


def parse(wire: Wire) -> Parsed:
    """A tp2 POST body, or (no body) the query of GET /i as one event."""
    if not wire.body.strip() and wire.query:
        return Parsed([_event(dict(wire.query), "query")])
    return parse_snowplow(json_body(wire.body), limit=wire.max_events)


def parse_snowplow(body: Any, *, limit: int = MAX_BATCH_EVENTS) -> Parsed:
    body = require_object(body, "body")
    data = body.get("data")
    if type(data) is not list:
        raise field_error("data", "must be an array of events (Snowplow payload_data)")
    return parse_items(data, "data", _event, Parsed(), limit)


def _self_describing(event: dict[str, Any], plain: str, encoded: str, at: str) -> Any:
    """The JSON of `plain` (JSON text) or `encoded` (base64 of it); None when neither."""
    if event.get(plain) is not None:
        raw = event[plain]
        if type(raw) is not str:
            return raw  # a lenient tracker sent it decoded
        return json_body(raw.encode("utf-8"), f"{at}{plain}")
    if event.get(encoded) is not None:
        return base64_json(event[encoded], f"{at}{encoded}")
    return None


def _schema_name(schema: Any, path: str) -> str:
    """iglu:vendor/name/format/version -> name."""
    if type(schema) is not str or not schema.startswith("iglu:") or schema.count("/") != 3:
        raise field_error(path, "not an Iglu schema URI (iglu:vendor/name/jsonschema/1-0-0)")
    return schema.split("/")[1]


def _event(event: Any, path: str) -> CaughtEvent:
    event = require_object(event, path)
    at = f"{path}."
    kind = text(event.get("e"), f"{at}e", limit=16, required=True)
    properties: dict[str, Any] = {}
    if kind == "ue":
        wrapper = _self_describing(event, "ue_pr", "ue_px", at)
        if wrapper is None:
            raise field_error(
                f"{at}ue_pr", "missing (a self-describing event needs ue_pr or ue_px)"
            )
        inner = require_object(require_object(wrapper, f"{at}ue_pr").get("data"), f"{at}ue_pr.data")
        name = _schema_name(inner.get("schema"), f"{at}ue_pr.data.schema")
        data = inner.get("data")
        properties = data if type(data) is dict else {"value": data}
    elif kind == "se":
        name = text(event.get("se_ac"), f"{at}se_ac", limit=MAX_NAME_CHARS, required=True)
        properties = {label: event[key] for key, label in _STRUCTURED.items() if key in event}
    else:
        name = kind
    name = text(name, f"{at}name", limit=MAX_NAME_CHARS, required=True)
    contexts_json = _self_describing(event, "co", "cx", at)
    contexts: list[Any] = []
    if contexts_json is not None:
        found = require_object(contexts_json, f"{at}co").get("data")
        contexts = found if type(found) is list else []
    user_id = text(
        event.get("uid"), f"{at}uid", limit=MAX_USER_ID_CHARS, required=True, numbers=True
    )
    key = text(event.get("aid"), f"{at}aid", limit=MAX_PROJECT_KEY_CHARS, required=False)
    event_id = text(event.get("eid"), f"{at}eid", limit=MAX_MESSAGE_ID_CHARS, required=False)
    payload = {k: v for k, v in event.items() if k not in _ENCODED}
    payload.update({"event": name, "properties": properties, "contexts": contexts})
    return CaughtEvent(
        name=name,
        user_id=user_id,
        platform=_platform(event.get("p"), contexts),
        payload=payload,
        source="snowplow",
        message_id=event_id,
        sent_at=_time(event.get("dtm")) or _time(event.get("stm")),
        project_key=key,
    )


def _platform(p: Any, contexts: list[Any]) -> Platform:
    if p != "mob":
        return Platform.OTHER
    for context in contexts:
        if type(context) is dict and "mobile_context" in str(context.get("schema", "")):
            data = context.get("data")
            if type(data) is dict and type(data.get("osType")) is str:
                return platform_of(data["osType"])
    return Platform.OTHER


def _time(value: Any) -> Any:
    if type(value) is str and value.isdigit():
        return parse_time(int(value))  # epoch milliseconds as text
    return None
