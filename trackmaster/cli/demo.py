"""`trackmaster demo`: the "Demo app" project from examples/plan.yaml, and a demo session
with caught events (trackmaster/plan/demo.py, trackmaster/sessions/demo.py)."""

from __future__ import annotations

import argparse
from typing import Any

from trackmaster.cli.plan import report_run
from trackmaster.cli.running import exit_code, run_with_database


def _demo_command(args: argparse.Namespace) -> int:
    from trackmaster.plan.demo import ensure_demo
    from trackmaster.runtime import Runtime
    from trackmaster.sessions.demo import ensure_demo_session

    async def work(settings: Any) -> int:
        project, run = await ensure_demo()
        print(f"demo project #{project.id} {project.name!r}")
        runtime = await Runtime.open(settings)
        try:
            session = await ensure_demo_session(runtime.realtime, project)
        finally:
            await runtime.close()
        if session is not None:
            print(f"demo session #{session.id} {session.name!r} with caught events")
        print(
            "send it an event (README: Send your first event): "
            f'KEY=$(.venv/bin/trackmaster write-key --project "{project.name}")'
        )
        return report_run(run)

    return int(run_with_database(work))


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo", help='create (or refresh) the "Demo app" project from examples/plan.yaml'
    )
    demo.set_defaults(handler=exit_code(_demo_command))
