"""Each protocol's parse (bytes to caught events), CPU µs per event, two trees back to back.

    python bench/bench_parse_ab.py BEFORE_TREE AFTER_TREE [collect,snowplow,...]

Runs bench_prepare.py's parsers on bench_ingest.py's batches (bench/_protocols.py
builds each wire shape) in one subprocess per tree, the trees alternated for 3
rounds of 15 repeats; prints the best (least disturbed) process CPU per event of
each tree, their ratio and the load average (the machine is shared).
"""

from __future__ import annotations

import os
import subprocess
import sys

CODE = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
from urllib.parse import parse_qsl
from bench._protocols import shape
from bench.bench_ingest import batch_events
from bench.bench_prepare import PARSERS
from trackmaster.sources.wire import Wire
out = []
for name in sys.argv[2].split(","):
    body = shape(name, batch_events(), "KEY")
    query = dict(parse_qsl(body.path.partition("?")[2]))
    ct = body.headers.get("Content-Type", "application/json").split(";")[0]
    wires = [Wire(body.body.replace("MSGPFX", f"c{i}").encode(), ct, query, 2000)
             for i in range(30)]
    parse = PARSERS[name]
    best = 1e9
    for _ in range(int(sys.argv[3])):
        started = time.process_time()
        for w in wires:
            parse(w)
        best = min(best, time.process_time() - started)
    out.append("%s=%.2f" % (name, best / (30 * body.events) * 1e6))
print(" ".join(out))
"""
ALL = "collect,segment,amplitude,snowplow,mixpanel,posthog,ga4"
ROUNDS = 3
REPEATS = "15"


def main() -> int:
    trees = sys.argv[1:3]
    protocols = sys.argv[3] if len(sys.argv) > 3 else ALL
    found: dict[str, dict[str, list[float]]] = {tree: {} for tree in trees}
    load = os.getloadavg()[0]
    for _ in range(ROUNDS):
        for tree in trees:
            run = subprocess.run(
                [sys.executable, "-c", CODE, tree, protocols, REPEATS],
                capture_output=True, text=True, check=True, timeout=600,
            )  # fmt: skip
            for pair in run.stdout.split():
                name, value = pair.split("=")
                found[tree].setdefault(name, []).append(float(value))
    print(f"µs of CPU per event, best of {ROUNDS} rounds; load {load:.2f} -> "
          f"{os.getloadavg()[0]:.2f}")  # fmt: skip
    for name in found[trees[0]]:
        before, after = min(found[trees[0]][name]), min(found[trees[1]][name])
        print(f"{name:10} before {before:6.2f}  after {after:6.2f}  ratio {after / before:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
