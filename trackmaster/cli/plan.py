"""Console commands for plans and projects: import-plan, export-plan, sync-plan, write-key."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from trackmaster.cli.running import exit_code, run_with_database
from trackmaster.settings import load_settings


def report_run(run: Any) -> int:
    from trackmaster.plan.diff import summarize

    if run.status != "ok":
        print(f"trackmaster: sync run #{run.id} failed: {run.error}", file=sys.stderr)
        return 1
    print(f"run #{run.id}: {summarize(run.diff)}")
    return 0


def _import_plan(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        print(f"trackmaster: no such file: {path}", file=sys.stderr)
        return 1
    settings = load_settings()
    if path.stat().st_size > settings.max_upload_bytes:
        print(
            f"trackmaster: {path} is {path.stat().st_size} bytes; "
            f"MAX_UPLOAD_BYTES allows {settings.max_upload_bytes}",
            file=sys.stderr,
        )
        return 1
    content = path.read_bytes()

    async def work(settings: Any) -> int:
        from trackmaster.errors import NotFound
        from trackmaster.plan.projects import find_project
        from trackmaster.plan.sync import import_plan_file

        try:
            project = await find_project(args.project, create=args.create)
        except NotFound as exc:
            raise NotFound(f"{exc.msg}; add --create to make it") from None
        run = await import_plan_file(project, content, path.name, fmt=args.format, trigger="cli")
        print(f"project #{project.id} {project.name!r}")
        return report_run(run)

    return run_with_database(work)


def _export_plan(args: argparse.Namespace) -> int:
    async def work(settings: Any) -> str:
        from trackmaster.plan.export import export_plan
        from trackmaster.plan.projects import find_project

        return await export_plan(await find_project(args.project), args.format)

    text = run_with_database(work)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _sync_plan(args: argparse.Namespace) -> int:
    async def work(settings: Any) -> int:
        from trackmaster.plan.jet import JetClient
        from trackmaster.plan.projects import find_project
        from trackmaster.plan.sync import sync_project_from_jet

        project = await find_project(args.project)
        async with JetClient.from_settings(settings) as jet:
            run = await sync_project_from_jet(project, jet, trigger="cli", full=args.full)
        return report_run(run)

    return run_with_database(work)


def _write_key(args: argparse.Namespace) -> int:
    async def work(settings: Any) -> str:
        from trackmaster.plan.projects import find_project

        return (await find_project(args.project)).write_key

    # The key alone on stdout, so that a script can capture it: KEY=$(trackmaster write-key ...).
    print(run_with_database(work))
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    imports = commands.add_parser(
        "import-plan", help="import a plan file (YAML, JSON or CSV) into a project"
    )
    imports.add_argument("file", help="the plan file; its format comes from .yaml/.json/.csv")
    imports.add_argument("--project", required=True, help="the project's id or name")
    imports.add_argument(
        "--create", action="store_true", help="create the project when no project has that name"
    )
    imports.add_argument("--format", choices=["yaml", "json", "csv"], help="override the format")
    imports.set_defaults(handler=exit_code(_import_plan))

    exports = commands.add_parser("export-plan", help="write a project's plan as a plan file")
    exports.add_argument("--project", required=True, help="the project's id or name")
    exports.add_argument(
        "--format", choices=["yaml", "json", "csv"], default="yaml", help="the file format"
    )
    exports.add_argument("--output", "-o", help="write to this file (default: standard output)")
    exports.set_defaults(handler=exit_code(_export_plan))

    syncs = commands.add_parser("sync-plan", help="sync a project's plan from Jet now")
    syncs.add_argument("--project", required=True, help="the project's id or name")
    syncs.add_argument(
        "--full",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="page through every story (default: the JET_FULL_SYNC setting)",
    )
    syncs.set_defaults(handler=exit_code(_sync_plan))

    key = commands.add_parser(
        "write-key", help="print a project's ingest write key (apps and SDKs send it)"
    )
    key.add_argument("--project", required=True, help="the project's id or name")
    key.set_defaults(handler=exit_code(_write_key))
