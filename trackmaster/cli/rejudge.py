"""`trackmaster rejudge SESSION`: re-judge a session's stored events against the current plan.

Runs in this process (no server needed), prints progress and the cells that
changed verdict; 0 when done, 1 when the session does not exist.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from trackmaster.cli.running import exit_code, run_with_database


def _rejudge(args: argparse.Namespace) -> int:
    from trackmaster.found import get_session
    from trackmaster.models import RejudgeRun
    from trackmaster.sessions.rejudge import rejudge_session

    def progress(done: int, total: int) -> None:
        print(f"\rre-judged {done} of {total} events", end="", file=sys.stderr, flush=True)

    async def work(settings: Any) -> RejudgeRun:
        session = await get_session(args.session)
        run = await RejudgeRun.create(session_id=session.id, started_by="cli")
        return await rejudge_session(session, run, progress)

    run = run_with_database(work)
    print(file=sys.stderr)
    changes = (run.changes or {}).get("cells", [])
    for change in changes:
        print(
            f"event {change['event']} field {change['field']} {change['platform']}: "
            f"{change['before']} -> {change['after']}"
        )
    marked = (run.changes or {}).get("overridesMarked", [])
    print(f"{run.done} events re-judged, {run.changed} cells changed verdict, "
          f"{len(marked)} overrides marked (their rule changed)")  # fmt: skip
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rejudge = commands.add_parser(
        "rejudge", help="re-judge a session's stored events against the current plan"
    )
    rejudge.add_argument("session", type=int, help="the session's id")
    rejudge.set_defaults(handler=exit_code(_rejudge))
