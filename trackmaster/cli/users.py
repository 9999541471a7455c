"""`trackmaster create-user` and `trackmaster create-token`: the first admin, and tokens for CI."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from trackmaster.auth.passwords import MIN_PASSWORD_CHARS
from trackmaster.auth.roles import ROLE_NAMES
from trackmaster.cli.running import exit_code, run_with_database
from trackmaster.errors import AppError


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


@exit_code
def _create_user(args: argparse.Namespace) -> int:
    from trackmaster.auth import users
    from trackmaster.models import User

    async def work(_settings: Any) -> User:
        password = _read_password(args)
        return await users.create_user(args.username, password, args.role, actor="cli")

    user = run_with_database(work)
    print(f"created {user.role} {user.username}")
    return 0


@exit_code
def _create_token(args: argparse.Namespace) -> int:
    from trackmaster.auth import tokens
    from trackmaster.models import User

    async def work(_settings: Any) -> tokens.NewToken:
        user = await User.get_or_none(username=args.username)
        if user is None or user.disabled:
            raise AppError(f"no enabled user named {args.username!r}")
        lifetime = tokens.parse_lifetime(args.expires_in or "")
        return await tokens.create_token(user, args.name, expires_in=lifetime, actor="cli")

    created = run_with_database(work)
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
