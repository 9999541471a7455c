"""What the commands share: the database open around a command's work, and exit codes.

Each handler opens the database itself (the embedded SQLite one migrates
itself, as `serve` does) and imports its implementation lazily.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from trackmaster.settings import load_settings

_T = TypeVar("_T")


class Failed(Exception):
    """The command failed; the reason was printed."""


def run_with_database(work: Callable[[Any], Awaitable[_T]]) -> _T:
    """Run `work(settings)` with the database open; an AppError is printed and raises Failed."""
    from trackmaster.db import Database
    from trackmaster.errors import AppError

    settings = load_settings()

    async def main() -> _T:
        database = await Database.open(settings, auto_migrate=not settings.uses_mysql)
        try:
            return await work(settings)
        except AppError as exc:
            print(f"trackmaster: {exc.msg}", file=sys.stderr)
            for item in exc.details if isinstance(exc.details, list) else []:
                print(f"  - {_problem(item)}", file=sys.stderr)
            raise Failed from None
        finally:
            await database.close()

    return asyncio.run(main())


def exit_code(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except Failed:
            return 1

    return run


def _problem(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    place = ", ".join(f"{unit} {item[unit]}" for unit in ("line", "row") if item.get(unit))
    path = item.get("path", "")
    prefix = " ".join(part for part in (place, path) if part)
    return f"{prefix}: {item['error']}" if prefix else str(item.get("error"))
