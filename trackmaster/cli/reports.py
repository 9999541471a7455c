"""`trackmaster report SESSION`: a session's report from the database, without a server.

CSV, JUnit or JSON, streamed to standard output or a file. It writes; it does not
gate (that is `trackmaster check`): 0 when written, 1 when the session does not exist.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trackmaster.cli.running import exit_code, run_with_database

if TYPE_CHECKING:
    from trackmaster.reports.model import Report


def _chunks(report: Report, fmt: str) -> Iterator[str]:
    from trackmaster.reports.csv_out import csv_lines
    from trackmaster.reports.json_out import report_json
    from trackmaster.reports.junit import junit_chunks

    if fmt == "csv":
        return csv_lines(report)
    if fmt == "junit":
        return junit_chunks(report)
    return iter([json.dumps(report_json(report), ensure_ascii=False, indent=2) + "\n"])


def _report(args: argparse.Namespace) -> int:
    from trackmaster.found import get_session
    from trackmaster.reports.build import build_report

    async def work(settings: Any) -> Report:
        return await build_report(await get_session(args.session))

    report = run_with_database(work)
    if args.output:
        target = Path(args.output)
        partial = target.with_name(target.name + ".part")
        with partial.open("w", encoding="utf-8", newline="") as out:
            for chunk in _chunks(report, args.format):
                out.write(chunk)
        partial.replace(target)
    else:
        for chunk in _chunks(report, args.format):
            sys.stdout.write(chunk)
        sys.stdout.flush()
    print(f"session {report.session_id}: {report.verdict}", file=sys.stderr)
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = commands.add_parser(
        "report", help="write a session's report (CSV, JUnit or JSON) from the database"
    )
    report.add_argument("session", type=int, help="the session's id")
    report.add_argument(
        "--format", choices=["csv", "junit", "json"], default="junit", help="the report's shape"
    )
    report.add_argument("--output", "-o", help="write to this file (default: standard output)")
    report.set_defaults(handler=exit_code(_report))
