"""`trackmaster create-user` and `trackmaster create-token`: the first admin, and tokens for CI."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from trackmaster.auth.passwords import MIN_PASSWORD_CHARS
from trackmaster.auth.roles import ROLE_NAMES
from trackmaster.errors import AppError
from trackmaster.settings import load_settings

_T = TypeVar("_T")


async def _with_db(work: Callable[[], Awaitable[_T]]) -> _T:
    from trackmaster.db import Database

    settings = load_settings()
    # Like the web app: the embedded SQLite migrates itself, a shared MySQL must be migrated.
    db = await Database.open(settings, auto_migrate=not settings.uses_mysql)
    try:
        return await work()
    finally:
        await db.close()


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise AppError(
            "no terminal to ask for the password on; pipe it in with --password-stdin "
            '(echo "$PASSWORD" | trackmaster create-user NAME --role ROLE --password-stdin)'
        )
    first = getpass.getpass(f"password for {args.username}: ")
    if getpass.getpass("again: ") != first:
        raise AppError("the two passwords differ; nothing was changed")
    return first


def _create_user(args: argparse.Namespace) -> int:
    from trackmaster.auth import users

    try:
        password = _read_password(args)
        user = asyncio.run(
            _with_db(lambda: users.create_user(args.username, password, args.role, actor="cli"))
        )
    except AppError as exc:
        print(f"trackmaster: {exc.msg}", file=sys.stderr)
        return 1
    print(f"created {user.role} {user.username}")
    return 0


def _create_token(args: argparse.Namespace) -> int:
    from trackmaster.auth import tokens
    from trackmaster.models import User

    async def work() -> tokens.NewToken:
        user = await User.get_or_none(username=args.username)
        if user is None or user.disabled:
            raise AppError(f"no enabled user named {args.username!r}")
        lifetime = tokens.parse_lifetime(args.expires_in or "")
        return await tokens.create_token(user, args.name, expires_in=lifetime, actor="cli")

    try:
        created = asyncio.run(_with_db(work))
    except AppError as exc:
        print(f"trackmaster: {exc.msg}", file=sys.stderr)
        return 1
    # The token alone on stdout, so that scripts can capture it; the note goes to stderr.
    print(created.plaintext)
    print(
        f"API token {args.name!r} for {args.username}; it is shown only now. "
        "Send it as `Authorization: Bearer <token>`.",
        file=sys.stderr,
    )
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    user = commands.add_parser("create-user", help="create a user (the first admin, say)")
    user.add_argument("username", help="the login name")
    user.add_argument(
        "--role",
        choices=ROLE_NAMES,
        required=True,
        help="what the user may do (docs/security.md)",
    )
    user.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin instead of prompting twice "
        f"(at least {MIN_PASSWORD_CHARS} characters)",
    )
    user.set_defaults(handler=_create_user)

    token = commands.add_parser("create-token", help="create an API token for a user")
    token.add_argument("username", help="the user the token acts as")
    token.add_argument("--name", required=True, help="what the token is for, e.g. 'ci'")
    token.add_argument(
        "--expires-in", help="lifetime such as 90d, 12h or 30m (default: until revoked)"
    )
    token.set_defaults(handler=_create_token)
