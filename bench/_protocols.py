"""One batch body per ingest protocol, from the same events, for bench_ingest.py --protocol.

Each body holds the benchmark's events (10 fields, unique message ids: the
text MSGPFX is replaced per request) in that protocol's own wire shape, as
its SDK sends it. GA4 takes 25 events a request (its documented limit).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from urllib.parse import quote

PROTOCOLS = ("collect", "segment", "amplitude", "snowplow", "mixpanel", "posthog", "ga4")


@dataclass(frozen=True)
class Shape:
    path: str
    body: str  # with MSGPFX where each event's message id goes
    headers: dict[str, str]
    events: int


def shape(protocol: str, events: list[dict], key: str) -> Shape:
    """`events` are collect-shaped: {event, userId, platform, messageId, timestamp, properties}."""
    json_type = {"Content-Type": "application/json"}
    if protocol == "collect":
        return Shape("/collect", json.dumps(events), {"X-Write-Key": key, **json_type}, len(events))
    if protocol == "segment":
        batch = [{"type": "track", "event": e["event"], "userId": e["userId"],
                  "messageId": e["messageId"], "timestamp": e["timestamp"],
                  "properties": e["properties"], "context": {"os": {"name": e["platform"]}}}
                 for e in events]  # fmt: skip
        auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
        return Shape("/v1/batch", json.dumps({"batch": batch}),
                     {"Authorization": auth, **json_type}, len(events))  # fmt: skip
    if protocol == "amplitude":
        body = {"api_key": key, "events": [
            {"event_type": e["event"], "user_id": e["userId"], "insert_id": e["messageId"],
             "platform": e["platform"], "time": 1767225600000,
             "event_properties": e["properties"]} for e in events]}  # fmt: skip
        return Shape("/2/httpapi", json.dumps(body), json_type, len(events))
    if protocol == "snowplow":
        data = []
        for e in events:
            ue = {"schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
                  "data": {"schema": f"iglu:com.acme/{e['event']}/jsonschema/1-0-0",
                           "data": e["properties"]}}  # fmt: skip
            data.append({"e": "ue", "p": "web", "aid": key, "uid": e["userId"],
                         "eid": e["messageId"], "dtm": "1767225600000",
                         "ue_pr": json.dumps(ue)})  # fmt: skip
        body = {"schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4",
                "data": data}  # fmt: skip
        return Shape("/com.snowplowanalytics.snowplow/tp2", json.dumps(body), json_type,
                     len(events))  # fmt: skip
    if protocol == "mixpanel":  # /import: /track takes 50 a request
        batch = [{"event": e["event"], "properties": {
            **e["properties"], "token": key, "distinct_id": e["userId"],
            "$insert_id": e["messageId"], "$os": e["platform"], "time": 1767225600}}
            for e in events]  # fmt: skip
        body = "data=" + quote(json.dumps(batch)) + "&verbose=1"
        return Shape("/import", body, {"Content-Type": "application/x-www-form-urlencoded"},
                     len(events))  # fmt: skip
    if protocol == "posthog":
        batch = [{"event": e["event"], "distinct_id": e["userId"], "uuid": e["messageId"],
                  "timestamp": e["timestamp"], "properties": {**e["properties"],
                  "$os": e["platform"]}} for e in events]  # fmt: skip
        return Shape("/batch/", json.dumps({"api_key": key, "batch": batch}), json_type,
                     len(events))  # fmt: skip
    if protocol == "ga4":  # no message ids in GA4: MSGPFX goes into a param
        events = events[:25]
        body = {"client_id": "bench.1", "user_id": events[0]["userId"], "events": [
            {"name": e["event"], "params": {**e["properties"], "platform": e["platform"],
                                            "seq": e["messageId"]}} for e in events]}  # fmt: skip
        return Shape(f"/mp/collect?measurement_id=G-BENCH&api_secret={key}", json.dumps(body),
                     json_type, len(events))  # fmt: skip
    raise ValueError(f"unknown protocol {protocol!r}; one of {PROTOCOLS}")
