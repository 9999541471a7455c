"""The `trackmaster` console command: a package of commands by topic.

serve       the web app (serve.py)
database    migrate, makemigrations, settings (database.py)
plan        import-plan, export-plan, sync-plan, write-key (plan.py)
demo        the demo project and its session (demo.py)
users       create-user, create-token (users.py)
check       run a CI check against a server (check.py)
reports     a session's report (reports.py)
rejudge     judge a session's logs again (rejudge.py)

Each module registers its subcommands and imports its implementation lazily, so
`trackmaster migrate` does not load the web app; running.py holds what they
share (the database around a command, exit codes). This package imports neither
web nor workers (they are named as import strings).
"""

from __future__ import annotations

import argparse
import logging
import sys

from trackmaster.cli import check, database, demo, plan, rejudge, reports, serve, users
from trackmaster.settings import SettingsError

TOPICS = (serve, database, plan, demo, users, check, reports, rejudge)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trackmaster",
        description="Check analytics events against the tracking plan, live.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for topic in TOPICS:
        topic.register(commands)
    _describe_subcommands(commands)
    return parser


def _describe_subcommands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`trackmaster X --help` opens with the same one line that `trackmaster --help` lists."""
    for action in commands._choices_actions:
        sub = commands.choices[action.dest]
        if not sub.description:
            sub.description = action.help


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args = build_parser().parse_args(argv)
    from trackmaster.db import SchemaOutOfDate
    from trackmaster.reachability import Unreachable

    try:
        return int(args.handler(args))  # each handler returns its exit code
    except (SettingsError, Unreachable, SchemaOutOfDate) as exc:
        # A configuration the user can fix: one line that says how, no traceback.
        print(f"trackmaster {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
