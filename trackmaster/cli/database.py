"""The database and settings commands: migrate, makemigrations, settings."""

from __future__ import annotations

import argparse
import asyncio

from trackmaster.settings import load_settings


def _migrate(args: argparse.Namespace) -> int:
    from trackmaster import db

    settings = load_settings()
    applied = asyncio.run(db.migrate(settings))
    where = db.describe(settings)
    if applied:
        print(f"applied {len(applied)} migration(s) to {where}: {', '.join(applied)}")
    else:
        print(f"{where} is up to date")
    return 0


def _makemigrations(args: argparse.Namespace) -> int:
    from trackmaster import db

    names = asyncio.run(db.detect_model_changes(write=not args.check))
    if args.check:
        if names:
            print(f"models changed without a migration; run `trackmaster makemigrations` ({names})")
            return 1
        print("migrations match the models")
        return 0
    print(f"wrote {', '.join(names)}" if names else "no changes")
    return 0


def _settings(args: argparse.Namespace) -> int:
    from trackmaster import settings_docs

    if args.write_docs:
        from pathlib import Path

        for path in settings_docs.write_docs(Path.cwd()):
            print(f"wrote {path}")
    elif args.env_example:
        print(settings_docs.env_example(), end="")
    elif args.markdown:
        print(settings_docs.markdown_table(), end="")
    else:
        for name, value in load_settings().as_dict().items():
            print(f"{name}={value}")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    migrate = commands.add_parser("migrate", help="apply pending database migrations")
    migrate.set_defaults(handler=_migrate)

    make = commands.add_parser("makemigrations", help="write a migration for model changes")
    make.add_argument("--check", action="store_true", help="fail if the models need one")
    make.set_defaults(handler=_makemigrations)

    show = commands.add_parser("settings", help="print the effective settings (secrets hidden)")
    show.add_argument("--env-example", action="store_true", help="print .env.example")
    show.add_argument("--markdown", action="store_true", help="print the docs' settings table")
    show.add_argument(
        "--write-docs",
        action="store_true",
        help="rewrite .env.example, docs/settings.md and README's table (run in the repo root)",
    )
    show.set_defaults(handler=_settings)
