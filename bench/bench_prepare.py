"""CPU of each pure step of ingest, per 1,000 events: parse, check, unplanned, tally.

    python bench/bench_prepare.py                 # the steps on bench_ingest.py's batches
    python bench/bench_prepare.py --protocols     # each protocol's parser, bytes to events

No database, no HTTP, one core: bench_ingest.py's project (10 fields, typed
rules on 4) as an in-memory snapshot with one live session, and its batches of
100 `/collect` events (unique message ids). Each step runs over `--batches`
batches `--repeats` times and the best repeat is printed (the machine is shared:
the lowest is the least disturbed), as ms of process CPU per 1,000 events.
`_prepare` is Ingestor._prepare whole (match, check, unplanned detection, the
log's columns, coverage); `add_logs` is the cells' tally of the same logs, one
call per batch and platform; `_Write.plan` is what a group commit of 8 batches
makes before its transaction (rows, places, first sightings and the tally, one
add_logs per platform of the group). Run it on two trees back
to back for a before/after ratio (the tree is the one this file is in).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._protocols import PROTOCOLS, shape  # noqa: E402
from bench.bench_ingest import FIELDS, RULES, batch_events, batch_template  # noqa: E402
from trackmaster import safejson  # noqa: E402
from trackmaster.checks import Coverage, FieldRule, check_event  # noqa: E402
from trackmaster.checks.rules import parse_rules  # noqa: E402
from trackmaster.checks.unplanned import PlannedKeys, find_unplanned, root_for  # noqa: E402
from trackmaster.sessions.cells import BatchTally, ValueTracker, log_columns  # noqa: E402
from trackmaster.sessions.ingest import (  # noqa: E402
    Ingestor,
    IngestReport,
    _Batch,
    _first_of_each_message,
    _payload_text,
    _Write,
)
from trackmaster.sessions.live import LiveSession, ProjectSnapshot, Target  # noqa: E402
from trackmaster.sessions.plans import EventPlan  # noqa: E402
from trackmaster.sources import amplitude, collect, ga4, mixpanel, posthog, segment, snowplow  # noqa: E402
from trackmaster.sources.wire import Wire  # noqa: E402

PARSERS: dict[str, Callable[[Wire], list]] = {
    "collect": collect.parse,
    "segment": lambda wire: segment.parse(wire, kind="batch"),
    "amplitude": amplitude.parse,
    "snowplow": snowplow.parse,
    "mixpanel": lambda wire: mixpanel.parse(wire, kind="import"),
    "posthog": posthog.parse,
    "ga4": ga4.parse,
}


def best_ms_per_1000(step: Callable[[], object], events: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        step()
        best = min(best, time.process_time() - started)
    return best / events * 1e6


def steps(batches: int, repeats: int) -> None:
    rules = tuple(
        FieldRule(i + 1, key, tuple(values), parse_rules(RULES.get(key)))
        for i, (key, values) in enumerate(FIELDS)
    )
    plan = EventPlan(7, rules, PlannedKeys(tuple(r.key for r in rules)))
    now = datetime.now(UTC)
    session = LiveSession(
        1, 1, now + timedelta(hours=1), frozenset({"bench-user"}), {"play_click": 7}, rules,
        Coverage(rules), ValueTracker(),
    )  # fmt: skip
    snapshot = ProjectSnapshot(
        1, time.monotonic(), [session], {("bench-user", "play_click"): [Target(session, plan)]}
    )
    template = batch_template()
    bodies = [template.replace("MSGPFX", f"c{i}").encode() for i in range(batches)]
    wires = [Wire(body=b, content_type="application/json", max_events=2000) for b in bodies]
    parsed = [collect.parse(wire) for wire in wires]
    events = [e for batch in parsed for e in batch]
    count = len(events)
    root = root_for("collect", "sdk")
    checks = [check_event(rules, e.payload, e.lookup_style) for e in events]
    ingestor = Ingestor.__new__(Ingestor)  # _prepare reads nothing of it

    def tally() -> None:
        into = BatchTally()
        for b in range(batches):
            runs: dict[object, list] = {}
            for j in range(b * 100, b * 100 + 100):
                runs.setdefault(events[j].platform, []).append((j + 1, checks[j]))
            for platform, logs in runs.items():
                into.add_logs(1, 7, platform, logs, session.values)

    measured: list[tuple[str, Callable[[], object]]] = [
        ("safejson.loads", lambda: [safejson.loads(b) for b in bodies]),
        ("collect.parse (with loads)", lambda: [collect.parse(w) for w in wires]),
        ("check_event", lambda: [check_event(rules, e.payload, "sdk") for e in events]),
        ("find_unplanned", lambda: [find_unplanned(plan.planned, e.payload, root) for e in events]),
    ]  # fmt: skip
    judge = getattr(plan, "judge", None)
    if judge is not None:
        both = lambda: [judge.judge(e.payload, "sdk", root) for e in events]  # noqa: E731
        measured.append(("EventJudge.judge (both)", both))
    # The group-commit write's plan (rows, places, the cells' tally) of groups of 8 batches.
    prepared = [ingestor._prepare(snapshot, 1, p, now) for p in parsed]
    groups = [
        [_Batch(1, p, now, IngestReport()) for p in prepared[g : g + 8]]
        for g in range(0, len(prepared), 8)
    ]

    def write_plans() -> None:
        for group in groups:
            _Write.plan(group, _first_of_each_message(group))

    measured += [
        ("log_columns", lambda: [log_columns(c) for c in checks]),
        ("payload JSON", lambda: [_payload_text(e) for e in events]),
        ("_prepare", lambda: [ingestor._prepare(snapshot, 1, p, now) for p in parsed]),
        ("BatchTally.add_logs", tally),
        ("_Write.plan (with add_logs)", write_plans),
    ]
    for label, step in measured:
        step()  # warm: caches of checks, levels, words
        print(f"{label:28} {best_ms_per_1000(step, count, repeats):7.2f} ms per 1,000 events")


def protocols(batches: int, repeats: int) -> None:
    events = batch_events()
    for name in PROTOCOLS:
        body = shape(name, events, "KEY")
        query = dict(parse_qsl(body.path.partition("?")[2]))
        content_type = body.headers.get("Content-Type", "application/json").split(";")[0]
        wires = [
            Wire(body.body.replace("MSGPFX", f"c{i}").encode(), content_type, query, 2000)
            for i in range(batches)
        ]
        parse = PARSERS[name]
        ms = best_ms_per_1000(lambda: [parse(w) for w in wires], batches * body.events, repeats)  # noqa: B023
        print(f"{name:10} parse {ms:7.2f} ms per 1,000 events ({body.events} a request)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=40, help="batches of 100 per repeat")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--protocols", action="store_true", help="each protocol's parser")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    (protocols if args.protocols else steps)(args.batches, args.repeats)
    print(f"tree {ROOT}; load average {load:.2f} -> {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
