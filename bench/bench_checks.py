"""Micro-benchmark (not a test): parse and check N events of 10 fields, per source format.

    python bench/bench_checks.py [N]

Prints events/s of CPU time (one core) for each format: parse + check (the body already
decoded, as the web layer hands it over), then with the coverage update added,
then with the JSON decoding of the body added too. The figures go in
docs/checks.md.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from trackmaster.checks import Coverage, FieldRule, check_event
from trackmaster.models import Platform
from trackmaster.sources.amplitude import parse_amplitude
from trackmaster.sources.collect import parse_collect
from trackmaster.sources.jet import parse_jet_log
from trackmaster.sources.segment import parse_segment

BATCH = 500
PAGES = ("home", "player", "search", "me")

# A plan of 10 fields: enumerations, fixed values, dynamic ids, one often missing.
RULES = [
    FieldRule(1, "page_name", PAGES),
    FieldRule(2, "page_info.id", ()),
    FieldRule(3, "page_info.type", ("EPISODE",)),
    FieldRule(4, "content_info.id", ()),
    FieldRule(5, "content_info.type", ("EPISODE", "MOVIE", "SHOW")),
    FieldRule(6, "position", ()),
    FieldRule(7, "is_vip", ("true", "false")),
    FieldRule(8, "source", ("feed", "search", "push")),
    FieldRule(9, "duration_ms", ()),
    FieldRule(10, "experiment", ("A", "B")),  # absent in a quarter of the events
]


def fields(i: int) -> dict[str, Any]:
    props: dict[str, Any] = {
        "page_name": PAGES[i % 4],
        "page_info": {"id": f"63a1{i:06x}", "type": "EPISODE"},
        "content_info": {"id": f"c-{i}", "type": ("EPISODE", "MOVIE", "SHOW", "CLIP")[i % 4]},
        "position": i % 30,
        "is_vip": i % 2 == 0,
        "source": ("feed", "search", "push")[i % 3],
        "duration_ms": 1234.0 + i,
    }
    if i % 4:
        props["experiment"] = "AB"[i % 2]
    return props


def segment_bodies(n: int) -> list[dict]:
    def message(i: int) -> dict:
        return {
            "type": "track",
            "event": "play_click",
            "userId": f"qa-{i % 5}",
            "messageId": f"m-{i}",
            "timestamp": "2024-03-05T10:15:30.123Z",
            "properties": fields(i),
            "context": {"os": {"name": ("iOS", "Android")[i % 2]}, "library": {"name": "bench"}},
        }

    return [
        {"batch": [message(i) for i in range(s, min(s + BATCH, n))], "writeKey": "wk"}
        for s in range(0, n, BATCH)
    ]


def amplitude_bodies(n: int) -> list[dict]:
    def event(i: int) -> dict:
        return {
            "event_type": "play_click",
            "user_id": f"qa-{i % 5}",
            "insert_id": f"m-{i}",
            "time": 1709633730123 + i,
            "platform": ("iOS", "Android")[i % 2],
            "event_properties": fields(i),
        }

    return [
        {"api_key": "k", "events": [event(i) for i in range(s, min(s + BATCH, n))]}
        for s in range(0, n, BATCH)
    ]


def raw_log(i: int) -> dict:
    return {
        "$os": ("iOS", "Android")[i % 2],
        "$user_id": f"qa-{i % 5}",
        "$time": 1709633730123 + i,
        "event_info": {"event": "play_click"},
        **fields(i),
    }


def collect_bodies(n: int) -> list[list]:
    return [[raw_log(i) for i in range(s, min(s + BATCH, n))] for s in range(0, n, BATCH)]


def jet_pages(n: int) -> list[list]:
    item = lambda i: {  # noqa: E731
        "id": f"j-{i}",
        "event": "play_click",
        "filter": "f-1",
        "userId": f"qa-{i % 5}",
        "log": json.dumps(raw_log(i)),
    }
    return [[item(i) for i in range(s, min(s + BATCH, n))] for s in range(0, n, BATCH)]


FORMATS: dict[str, tuple[Callable[[int], list], Callable[[Any], list]]] = {
    "segment batch": (segment_bodies, lambda body: parse_segment(body, kind="batch")),
    "amplitude": (amplitude_bodies, parse_amplitude),
    "collect (raw logs)": (collect_bodies, parse_collect),
    "jet (log strings)": (jet_pages, lambda page: [parse_jet_log(item) for item in page]),
}


def run(bodies: list, parse: Callable[[Any], list], stage: int) -> tuple[float, int]:
    """Seconds and field checks made; stage 0 parse+check, 1 + coverage, 2 + json.loads."""
    texts = [json.dumps(body) for body in bodies] if stage == 2 else None
    coverage = Coverage(RULES)
    checked = 0
    start = time.process_time()  # CPU time: the figure per core, whatever else the machine runs
    for index, body in enumerate(bodies):
        for event in parse(json.loads(texts[index]) if texts else body):
            checks = check_event(RULES, event.payload, event.lookup_style)
            if stage:
                coverage.observe(event.platform, checks)
            checked += len(checks)
    elapsed_s = time.process_time() - start
    if stage:  # the work really happened: pages alternate, platforms alternate
        assert coverage.summary(1, Platform.IOS)["covered"] == 2
    return elapsed_s, checked


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    print(f"{n} events of {len(RULES)} fields, one core, best of 3")
    print(f"{'events/s':<20}{'parse+check':>14}{'+ coverage':>14}{'+ json.loads':>14}")
    for name, (make, parse) in FORMATS.items():
        bodies = make(n)
        rates = []
        for stage in (0, 1, 2):
            runs = [run(bodies, parse, stage) for _ in range(3)]
            assert all(checked == n * len(RULES) for _, checked in runs)
            rates.append(n / min(seconds for seconds, _ in runs))
        print(f"{name:<20}" + "".join(f"{rate:>14,.0f}" for rate in rates))


if __name__ == "__main__":
    main()
