"""`trackmaster check`: gate a pipeline on a test session, over TrackMaster's /api/v3.

    trackmaster check --url URL [--token TOKEN] --session ID [--wait-s N] [--junit FILE]
    trackmaster check --url URL --project P --accounts a,b --events e1,e2 [...]

Waits until every watched event has been caught at least once (or `--wait-s`
runs out, or the session stops), prints a summary, writes the JUnit XML report, and exits with

    0  passed: every watched event seen, no cell failed
    1  failed: a cell failed
    3  incomplete: no cell failed, but a watched event was never seen
    4  TrackMaster could not be asked (unreachable, refused the token, no such session)

Text from the session (names, payload values) is printed with control
characters escaped, so a hostile value cannot drive the terminal.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx

EXIT_PASSED, EXIT_FAILED, EXIT_INCOMPLETE, EXIT_UNREACHABLE = 0, 1, 3, 4
EXIT_FOR = {"passed": EXIT_PASSED, "failed": EXIT_FAILED, "incomplete": EXIT_INCOMPLETE}
DEFAULT_WAIT_S = 60.0
# Failing cells printed in the summary (the JUnit file and the report have them all).
SHOWN_FAILURES = 20
REQUEST_TIMEOUT_S = 30.0


class CheckError(Exception):
    """TrackMaster could not be asked; the message says why and what to do."""


def printable(value: object) -> str:
    """`value` with control characters (ESC, CR, NUL...) shown as escapes, not obeyed."""
    text = str(value)
    return "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in text)


def _csv_list(raw: str | None, *, ids: bool) -> list[Any]:
    """Comma-separated items; with `ids`, all-digit items are ids (event ids, not names)."""
    items = [item.strip() for item in (raw or "").split(",") if item.strip()]
    return [int(item) if ids and item.isdigit() else item for item in items]


class Api:
    def __init__(self, url: str, token: str | None, *, timeout_s: float = REQUEST_TIMEOUT_S):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout_s)

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CheckError(f"cannot reach TrackMaster at {self.http.base_url}: {exc}") from None
        if response.status_code in (401, 403):
            raise CheckError(
                f"TrackMaster refused {method} {path} ({response.status_code}): give an API "
                "token of a tester with --token or TRACKMASTER_TOKEN"
            )
        if response.status_code >= 400 and response.status_code not in (429, 503):
            try:
                message = response.json().get("msg", response.text)
            except ValueError:
                message = response.text
            raise CheckError(f"{method} {path} answered {response.status_code}: {message}")
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        if response.status_code in (429, 503):
            return None  # busy: the caller asks again within its deadline
        return response.json()


def _start(api: Api, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {
        "project": args.project,
        # Test user ids are strings even when they look like numbers.
        "accounts": _csv_list(args.accounts, ids=False),
        "events": _csv_list(args.events, ids=True),
        "createAccounts": args.create_accounts,
        "name": args.name or "trackmaster check",
    }
    started = api.json("POST", "/api/v3/sessions", json=body)
    if started is None:
        raise CheckError("TrackMaster is busy; try again")
    # Pipelines read these two lines to point their app at the session.
    print(f"session {started['id']} started", flush=True)
    print(f"write key {started['writeKey']}", flush=True)
    return int(started["id"])


def _wait(api: Api, session_id: int, wait_s: float, poll_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + wait_s
    counts: dict[str, Any] | None = None
    while True:
        found = api.json("GET", f"/api/v3/sessions/{session_id}/counts")
        counts = found or counts
        # Done when everything was seen, or when nothing more can come (the session stopped).
        if counts is not None and (not counts["unseen"] or counts["status"] == "OFF"):
            return counts
        left = deadline - time.monotonic()
        if left <= 0:
            if counts is None:
                raise CheckError("TrackMaster stayed busy until --wait-s ran out")
            return counts
        time.sleep(min(poll_s, left))


def _summary(report: dict[str, Any]) -> list[str]:
    cells, events = report["cellCounts"], report["events"]
    name = f" ({report['name']})" if report.get("name") else ""
    lines = [
        f"TrackMaster session {report['session']}{name} · project {report['project']['name']}: "
        f"{report['verdict'].upper()}",
        f"events caught {events['all']} (good {events['good']}, bad {events['bad']}) · cells "
        f"{cells['all']}: FAIL {cells['bad']}, UNCERTAIN {cells['uncertain']}, "
        f"SUCCESS {cells['good']}, UNTESTED {cells['untested']}",
    ]
    if report["unseen"]:
        lines.append(f"never seen: {', '.join(report['unseen'])}")
    failing = [cell for cell in report["cells"] if cell["verdict"] == "FAIL"]
    for cell in failing[:SHOWN_FAILURES]:
        lines.append(
            f"FAIL {cell['event']} · {cell['field']} · {cell['platform']}: {cell['reason']}"
        )
        for wrong in cell["wrongValues"][:3]:
            lines.append(
                f"    got {wrong['value']} x{wrong['count']} (caught event {wrong['exampleLogId']})"
            )
    if len(failing) > SHOWN_FAILURES:
        lines.append(f"... and {len(failing) - SHOWN_FAILURES} more failing cells")
    # Shown, never a failure: the exit status does not change for them (docs/checks.md).
    unplanned = report.get("unplanned") or []
    for item in unplanned[:SHOWN_FAILURES]:
        hint = f" (did you mean {item['suggestion']}?)" if item.get("suggestion") else ""
        lines.append(
            f"unplanned {item['event']} · {item['platform']} · {item['key']} x{item['count']}{hint}"
        )
    if len(unplanned) > SHOWN_FAILURES:
        lines.append(f"... and {len(unplanned) - SHOWN_FAILURES} more unplanned properties")
    return [printable(line) for line in lines]


def _download(api: Api, path: str, target: Path) -> None:
    """Stream `path` into `target`; a half-written file never takes the target's name."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        with api.http.stream("GET", path) as response:
            if response.status_code != 200:
                raise CheckError(f"{path} answered {response.status_code}")
            with partial.open("wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
    except httpx.HTTPError as exc:
        raise CheckError(f"cannot read {path}: {exc}") from None
    partial.replace(target)


def run(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get("TRACKMASTER_TOKEN") or None
    api = Api(args.url, token)
    try:
        session_id = args.session if args.session is not None else _start(api, args)
        _wait(api, session_id, args.wait_s, args.poll_s)
        report = api.json("GET", f"/api/v3/sessions/{session_id}/report")
        if report is None:
            raise CheckError("TrackMaster is busy; the report could not be read")
        for line in _summary(report):
            print(line)
        base = f"/api/v3/sessions/{session_id}"
        for target, path, what in (
            (args.junit, "report.xml", "JUnit"),
            (args.csv, "report.csv", "CSV"),
        ):
            if target:
                _download(api, f"{base}/{path}", Path(target))
                print(printable(f"{what} report written to {target}"))
        return EXIT_FOR.get(report["verdict"], EXIT_FAILED)
    except CheckError as exc:
        print(f"trackmaster check: {printable(exc)}", file=sys.stderr)
        return EXIT_UNREACHABLE
    finally:
        api.close()


def _positive(raw: str) -> float:
    value = float(raw)
    if not 0 <= value <= 24 * 3600:
        raise argparse.ArgumentTypeError("must be between 0 and 86400 seconds")
    return value


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = commands.add_parser(
        "check",
        help="gate a pipeline on a test session: wait, summarise, write JUnit, exit non-zero",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("--url", required=True, help="TrackMaster's base URL")
    check.add_argument("--token", help="an API token (default: TRACKMASTER_TOKEN)")
    which = check.add_mutually_exclusive_group(required=True)
    which.add_argument("--session", type=int, help="the session to check")
    which.add_argument("--project", type=int, help="start a session of this project")
    check.add_argument("--accounts", help="with --project: test user ids, comma-separated")
    check.add_argument("--events", help="with --project: event names or ids, comma-separated")
    check.add_argument("--create-accounts", action="store_true", help="add unknown accounts")
    check.add_argument("--name", help="with --project: the new session's name")
    check.add_argument(
        "--wait-s", type=_positive, default=DEFAULT_WAIT_S,
        help=f"seconds to wait for every watched event (default {DEFAULT_WAIT_S:g})",
    )  # fmt: skip
    check.add_argument("--poll-s", type=_positive, default=1.0, help="seconds between polls")
    check.add_argument("--junit", help="write the JUnit XML report to this file")
    check.add_argument("--csv", help="write the CSV report (one row per cell) to this file")
    check.set_defaults(handler=_handler)


def _handler(args: argparse.Namespace) -> int:
    if args.project is not None and not (args.accounts and args.events):
        print("trackmaster check: --project needs --accounts and --events", file=sys.stderr)
        return 2
    return run(args)
