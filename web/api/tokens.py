"""`/api/v3/tokens`: one's own API tokens (`tm_...`), over the same core as the admin page.

    GET    /api/v3/tokens?all=            one's own tokens (an admin: `all=true`, everyone's)
    POST   /api/v3/tokens {name, expiresIn?, user?}   a new token; its secret shown once
    DELETE /api/v3/tokens/{id}            revoke one's own token (an admin: anyone's)

The rules are the admin page's (web/pages/admin.py), through the same calls of
trackmaster/auth/tokens.py: names of 1-100 characters, lifetimes such as
`90d`, `12h`, `30m` up to ten years, an enabled user, and an audit entry for
each token made or revoked. What the page leaves to admins is, here, each
user's for their own tokens: a token acts with its user's role, so making one
gives nobody more than they have. Two rules keep a token from outliving what
let it in: a request signed in with an API token cannot make tokens (a leaked
short-lived token would otherwise mint a lasting one), and only an admin may
make one for another user.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from trackmaster.auth import tokens
from trackmaster.auth.roles import Role
from trackmaster.auth.users import Principal
from trackmaster.errors import BadRequest, Forbidden, NotFound, field_error
from trackmaster.models import ApiToken, User
from web.api import as_id, json_object
from web.api.openapi import add_components, add_schema
from web.pager import page_from

DEFAULT_LIFETIME = "90d"  # the page's preselected choice; "never" must be asked for
_NEVER = ("", "never")

_TOKEN = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "user": {"type": "string", "description": "The username the token acts as"},
        "createdAt": {"type": "string", "format": "date-time"},
        "expiresAt": {"type": "string", "format": "date-time", "nullable": True},
        "lastUsedAt": {"type": "string", "format": "date-time", "nullable": True},
        "revokedAt": {"type": "string", "format": "date-time", "nullable": True},
        "state": {"type": "string", "enum": ["active", "expired", "revoked"]},
    },
}
add_schema("ApiToken", _TOKEN)
add_components(
    schemas={
        "NewApiToken": {
            "type": "object",
            "properties": {
                "data": {
                    "allOf": [
                        {"$ref": "#/components/schemas/ApiToken"},
                        {
                            "type": "object",
                            "properties": {
                                "token": {
                                    "type": "string",
                                    "description": "The secret (tm_...), in this answer only",
                                }
                            },
                        },
                    ]
                }
            },
        },
    },
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def token_json(token: ApiToken, now: datetime) -> dict[str, Any]:
    """A token as the API shows it: never its hash, never its secret."""
    if token.revoked_at is not None:
        state = "revoked"
    elif tokens.is_live(token, now):
        state = "active"
    else:
        state = "expired"
    return {
        "id": token.id,
        "name": token.name,
        "user": token.user.username,
        "createdAt": _iso(token.created_at),
        "expiresAt": _iso(token.expires_at),
        "lastUsedAt": _iso(token.last_used_at),
        "revokedAt": _iso(token.revoked_at),
        "state": state,
    }


def _caller(request: Request) -> Principal:
    principal = request.scope.get("user")
    assert isinstance(principal, Principal)  # the policy let only signed-in callers here
    return principal


def _is_admin(principal: Principal) -> bool:
    return principal.can(Role.ADMIN)


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "").strip().lower()
    if raw in ("", "false", "0"):
        return False
    if raw in ("true", "1"):
        return True
    raise field_error(name, f"must be true or false, got {raw[:40]!r}")


async def _owner(principal: Principal, username: Any) -> User:
    """Whom a new token acts as: the caller, or (admins only) the user named."""
    if username is not None and (not isinstance(username, str) or not username.strip()):
        raise field_error("user", f"must be a username, got {username!r}")
    if username is not None and username.strip() != principal.username:
        if not _is_admin(principal):
            raise Forbidden("only an admin may make a token for another user")
        user = await User.get_or_none(username=username.strip())
        if user is None or user.disabled:
            raise field_error("user", f"choose an enabled user, got {username[:150]!r}")
        return user
    if principal.user_id is None:
        raise BadRequest(
            "the built-in local admin is no user a token can act as: name `user`, or create "
            "a user first (trackmaster create-user)"
        )
    user = await User.get_or_none(id=principal.user_id)
    if user is None or user.disabled:
        raise Forbidden("this user is disabled")
    return user


async def tokens_list(request: Request) -> JSONResponse:
    """
    ---
    summary: List one's own API tokens (an admin may list everyone's)
    description: Newest first. Neither the secret nor its hash is ever shown.
    tags: [tokens]
    parameters:
      - name: all
        in: query
        description: Every user's tokens (admins only)
        schema: {type: boolean}
      - {$ref: "#/components/parameters/page"}
      - {$ref: "#/components/parameters/pageSize"}
    responses:
      200:
        description: A page of tokens.
        content: {application/json: {schema: {$ref: "#/components/schemas/ApiTokenList"}}}
      400: {$ref: "#/components/responses/InvalidParams"}
      403: {$ref: "#/components/responses/Forbidden"}
    """
    principal = _caller(request)
    page = page_from(request)
    everyone = _flag(request, "all")
    if everyone and not _is_admin(principal):
        raise Forbidden("only an admin may list every user's tokens")
    query = ApiToken.all() if everyone else ApiToken.filter(user_id=principal.user_id or 0)
    total = await query.count()
    rows = (
        await query.order_by("-id")
        .offset(page.offset)
        .limit(page.page_size)
        .prefetch_related("user")
    )
    now = datetime.now(UTC)
    return JSONResponse(page.envelope([token_json(t, now) for t in rows], total))


async def tokens_create(request: Request) -> JSONResponse:
    """
    ---
    summary: Make an API token; its secret is in this answer only
    description: 'The token acts as its user, with the user''s role. `expiresIn`: 90d, 12h,
      30m, 45s or a number of days, at most ten years; "never" for a token that lives until
      revoked; absent, 90 days. Only an admin may name another `user`. A request signed in
      with an API token cannot make tokens. Audited as token.create.'
    tags: [tokens]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [name]
            properties:
              name: {type: string, minLength: 1, maxLength: 100}
              expiresIn: {type: string, default: 90d}
              user: {type: string, description: Another user's name (admins only)}
    responses:
      201:
        description: The token and, once, its secret.
        content: {application/json: {schema: {$ref: "#/components/schemas/NewApiToken"}}}
      400: {$ref: "#/components/responses/InvalidParams"}
      403: {$ref: "#/components/responses/Forbidden"}
    """
    principal = _caller(request)
    if principal.via == "token":
        raise Forbidden(
            "a request signed in with an API token cannot make tokens; sign in with a "
            "password (or ask an admin) to make one"
        )
    body = await json_object(request)
    name = body.get("name")
    if not isinstance(name, str):
        raise field_error("name", f"must be 1-{tokens.MAX_NAME_CHARS} characters, got {name!r}")
    raw_lifetime = body.get("expiresIn", DEFAULT_LIFETIME)
    if not isinstance(raw_lifetime, str):
        raise field_error("expiresIn", f"must be a duration such as 90d, got {raw_lifetime!r}")
    lifetime = (
        None
        if raw_lifetime.strip().lower() in _NEVER
        else tokens.parse_lifetime(raw_lifetime, "expiresIn")
    )
    user = await _owner(principal, body.get("user"))
    created = await tokens.create_token(user, name, expires_in=lifetime, actor=principal.username)
    created.token.user = user
    body_out = {**token_json(created.token, datetime.now(UTC)), "token": created.plaintext}
    # The secret is in this answer once; no cache may keep a copy.
    return JSONResponse({"data": body_out}, status_code=201, headers={"Cache-Control": "no-store"})


async def tokens_revoke(request: Request) -> JSONResponse:
    """
    ---
    summary: Revoke an API token (one's own; an admin, anyone's)
    description: From now on the token answers 401. Revoking a revoked token answers it
      unchanged. Audited as token.revoke.
    tags: [tokens]
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
    responses:
      200:
        description: The revoked token.
        content: {application/json: {schema: {$ref: "#/components/schemas/ApiTokenEnvelope"}}}
      400: {$ref: "#/components/responses/InvalidParams"}
      404: {$ref: "#/components/responses/NotFound"}
    """
    principal = _caller(request)
    token_id = as_id(request.path_params["id"], "id")
    found = await ApiToken.get_or_none(id=token_id)
    # Another user's token is as unknown to a non-admin as one that does not exist.
    if found is None or (not _is_admin(principal) and found.user_id != principal.user_id):
        raise NotFound(f"no API token with id {token_id}")
    revoked = await tokens.revoke_token(token_id, actor=principal.username)
    return JSONResponse({"data": token_json(revoked, datetime.now(UTC))})


routes = [
    Route("/api/v3/tokens", tokens_list, methods=["GET"]),
    Route("/api/v3/tokens", tokens_create, methods=["POST"]),
    Route("/api/v3/tokens/{id}", tokens_revoke, methods=["DELETE"]),
]
