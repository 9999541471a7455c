"""Who is asking, may they, and did their browser mean it: one ASGI middleware.

For every HTTP request, in this order:

1. The policy (web/policy.py) names the access the request needs.
   Ingest endpoints (project write key) pass straight through: no cookies,
   no user, no CSRF; they authenticate themselves.
2. The user: an `Authorization: Bearer tm_...` API token, else the signed
   session cookie, else, when HOST is a loopback address and no user exists
   yet, the built-in local admin (so the embedded default stays one command).
3. Anonymous on a protected path: 401 JSON for programs, a redirect to
   /login for pages. Too small a role: 403 naming the role needed.
4. CSRF on unsafe methods coming from a browser (a session cookie, or an
   Origin / Referer / Sec-Fetch-Site header): a same-origin Origin and the
   token (header X-CSRF-Token or form field csrf_token). API-token requests
   are exempt (a browser cannot attach the header cross-site), and so are
   cookie-less programs in local-admin mode (nothing of theirs to forge).

The user lands in `scope["user"]` (a Principal), the token in
`scope["csrf_token"]`, and the actor of the audit log in a context variable.
Beside it, one idea each: reading a form's CSRF field and replaying the body
(web/csrf_form.py), the ingest rate limit (web/ingest_rate.py), the access rules
written into the OpenAPI documents (web/access_doc.py).
"""

from __future__ import annotations

import ipaddress
import logging
import time
from urllib.parse import quote, urlsplit

import redis.asyncio as aioredis
from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trackmaster.auth import audit, passwords, tokens
from trackmaster.auth.signing import Signer, is_nonce, new_nonce
from trackmaster.auth.throttle import LoginThrottle, make_login_throttle
from trackmaster.auth.users import LOCAL_ADMIN, Principal, principal_of
from trackmaster.errors import Forbidden, PayloadTooLarge, Unauthorized
from trackmaster.models import User
from trackmaster.ratelimit import RateLimiter, make_ratelimiter
from trackmaster.settings import Settings
from web.csrf_form import form_field
from web.errors import render_error
from web.negotiation import wants_json
from web.policy import SAFE_METHODS, Access, decide
from web.templating import is_htmx

log = logging.getLogger(__name__)

SESSION_COOKIE = "tm_session"
NONCE_COOKIE = "tm_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
# Whether any user exists only changes when the first one is made; a short cache
# spares a query per request in local mode and bounds how long a stale answer lives.
USERS_EXIST_CACHE_S = 2.0
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


class Guard:
    """What access control holds for the app's lifetime: keys, throttles, rate limits."""

    def __init__(self, settings: Settings, redis: aioredis.Redis | None) -> None:
        self.settings = settings
        self.signer = Signer(settings.secret_key, settings.session_max_age_s)
        self.local_mode = is_loopback(settings.host)
        # The Runtime's one Redis client (trackmaster/runtime.py), which closes it.
        self.redis = redis
        self.login_throttle: LoginThrottle = make_login_throttle(self.redis, settings.redis_prefix)
        self.ingest_rate: RateLimiter = make_ratelimiter(
            self.redis, settings.redis_prefix, settings.ingest_rate_per_s, settings.ingest_burst
        )
        self.form_limit_bytes = max(settings.max_body_bytes, settings.max_upload_bytes) + 65536
        passwords.configure(settings.password_hash_threads, settings.password_hash_queue)
        self._users_exist: tuple[bool, float] = (False, 0.0)

    async def users_exist(self) -> bool:
        known, checked_at = self._users_exist
        if known or (checked_at and time.monotonic() - checked_at < USERS_EXIST_CACHE_S):
            return known
        exists = await User.exists()
        self._users_exist = (exists, time.monotonic())
        return exists

    def users_changed(self) -> None:
        self._users_exist = (False, 0.0)

    def session_cookie(self, user: User, *, secure: bool) -> str:
        value = self.signer.dump_session(user.id, user.session_epoch)
        return _cookie(SESSION_COOKIE, value, self.settings.session_max_age_s, secure)

    async def still_allowed(self, principal: Principal) -> bool:
        """Whether who was let in at the start of a long request (a live stream) still is.

        The same checks as a new request would make: the cookie's epoch is still the
        user's (no logout, disabling, new password or "sign out everywhere" since),
        the API token is still live, local admin is still local mode without users.
        """
        if principal.via == "token" and principal.token_id is not None:
            return await tokens.token_still_live(principal.token_id)
        if principal.via == "local":
            return self.local_mode and not await self.users_exist()
        user = await User.get_or_none(id=principal.user_id)
        return user is not None and not user.disabled and user.session_epoch == principal.epoch


def guard_of(request: Request) -> Guard:
    return request.app.state.guard


def _cookie(name: str, value: str, max_age_s: int | None, secure: bool) -> str:
    parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
    if max_age_s is not None:
        parts.append(f"Max-Age={max_age_s}")
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def expired_cookie(name: str) -> str:
    return f"{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"


def login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if is_htmx(request):
        current = urlsplit(request.headers.get("hx-current-url", ""))
        target = current.path + (f"?{current.query}" if current.query else "") or "/"
    return "/login?next=" + quote(target, safe="")


class AuthMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._state: State | None = None

    @property
    def guard(self) -> Guard:
        # Made by the app's lifespan, which opens the Redis client it shares (web/app.py).
        if self._state is None:
            raise RuntimeError("a request before the app's lifespan started")
        guard: Guard = self._state.guard
        return guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._state = scope["app"].state
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        rule = decide(method, scope["path"])
        # Ingest authenticates itself; health and assets need nobody (and no query per file).
        if rule.access is Access.WRITE_KEY or not rule.identifies:
            await self.app(scope, receive, send)
            return

        request = Request(scope)
        cookies = request.cookies  # Starlette's lenient parser: one bad cookie spoils none
        principal, binding, set_cookies = await self._identify(request, cookies)
        scope["user"] = principal
        scope["csrf_token"] = self.guard.signer.csrf_token(binding)
        send = _with_cookies(send, set_cookies)
        actor = audit.set_actor(principal.username if principal else "anonymous")
        try:
            refusal = self._refusal(request, rule.access, principal)
            # API tokens ride in a header no other site can make a browser send: no CSRF.
            by_token = principal is not None and principal.via == "token"
            if refusal is None and method not in SAFE_METHODS and not by_token:
                refusal, receive = await self._csrf(request, receive, cookies, binding)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
            await self.app(scope, receive, send)
        finally:
            audit.reset_actor(actor)

    async def _identify(
        self, request: Request, cookies: dict[str, str]
    ) -> tuple[Principal | None, str, list[str]]:
        """(who, the CSRF binding, cookies to set) for this request."""
        set_cookies: list[str] = []
        authorization = request.headers.get("authorization", "")
        if authorization[:7].lower() == "bearer ":
            token = await tokens.resolve_token(authorization[7:].strip())
            # A bad token never falls back to cookies: the caller meant the token.
            principal = principal_of(token.user, "token", token_id=token.id) if token else None
            return principal, new_nonce(), set_cookies

        raw_session = cookies.get(SESSION_COOKIE)
        if raw_session:
            session = self.guard.signer.load_session(raw_session)
            user = await User.get_or_none(id=session.user_id) if session else None
            if session and user and not user.disabled and user.session_epoch == session.epoch:
                return principal_of(user, "session"), "s:" + session.session_id, set_cookies
            set_cookies.append(expired_cookie(SESSION_COOKIE))

        nonce = cookies.get(NONCE_COOKIE, "")
        if not is_nonce(nonce):
            nonce = new_nonce()
            set_cookies.append(_cookie(NONCE_COOKIE, nonce, None, request.url.scheme == "https"))
        principal = None
        if _is_local(request) and self.guard.local_mode and not await self.guard.users_exist():
            principal = LOCAL_ADMIN
        return principal, "n:" + nonce, set_cookies

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """No route uses websockets yet; one that does gets the same rules as a GET."""
        request = Request(scope)
        principal, _, _ = await self._identify(request, request.cookies)
        needed = decide("GET", scope["path"]).access.role
        origin = request.headers.get("origin")
        allowed = (needed is None or (principal is not None and principal.can(needed))) and (
            origin is None or _same_origin(origin, request.headers.get("host", ""))
        )
        if not allowed:
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})  # policy violation
            return
        scope["user"] = principal
        await self.app(scope, receive, send)

    def _refusal(
        self, request: Request, access: Access, principal: Principal | None
    ) -> Response | None:
        needed = access.role
        if needed is None:  # public
            return None
        if principal is None:
            if request.headers.get("authorization"):
                error = Unauthorized(
                    "the API token is not valid (unknown, revoked, expired, or its user is "
                    "disabled or has a new password)"
                )
                return render_error(request, error)
            if wants_json(request):
                response = render_error(
                    request,
                    Unauthorized(
                        "sign in first: send `Authorization: Bearer <API token>` "
                        "(an admin creates tokens under /admin/tokens)"
                    ),
                )
                response.headers["WWW-Authenticate"] = 'Bearer realm="trackmaster"'
                return response
            if is_htmx(request):
                response = render_error(
                    request, Unauthorized("your login has ended; sign in again")
                )
                response.headers["HX-Redirect"] = login_url(request)
                return response
            if request.method in SAFE_METHODS:
                return RedirectResponse(login_url(request), status_code=303)
            return render_error(request, Unauthorized("sign in first"))
        if not principal.can(needed):
            return render_error(
                request,
                Forbidden(
                    f"this needs the {needed.label} role; you are signed in as "
                    f"{principal.username} ({principal.role.label}). Ask an admin for access."
                ),
            )
        return None

    async def _csrf(
        self, request: Request, receive: Receive, cookies: dict[str, str], binding: str
    ) -> tuple[Response | None, Receive]:
        """A refusal when a browser's unsafe request lacks proof it came from our pages."""
        headers = request.headers
        origin = headers.get("origin")
        from_browser = (
            SESSION_COOKIE in cookies
            or origin is not None
            or "referer" in headers
            or "sec-fetch-site" in headers
        )
        if not from_browser:
            return None, receive
        if origin is not None and not _same_origin(origin, headers.get("host", "")):
            return _csrf_refusal(
                request, f"the request came from another site ({origin[:100]})"
            ), receive
        if headers.get("sec-fetch-site") == "cross-site":
            return _csrf_refusal(request, "the request came from another site"), receive
        token = headers.get(CSRF_HEADER)
        if token is None and headers.get("content-type", "").startswith(_FORM_TYPES):
            try:
                token, receive = await form_field(
                    request, receive, CSRF_FIELD, self.guard.form_limit_bytes
                )
            except PayloadTooLarge as exc:
                return render_error(request, exc), receive
        if not self.guard.signer.csrf_ok(binding[:200], token or ""):
            return (
                _csrf_refusal(
                    request,
                    "the form's security token is missing or out of date; reload the page and "
                    "try again",
                ),
                receive,
            )
        return None, receive


# Headers that some proxy (or CDN, or load balancer) adds for the client behind it. Any of
# them means the request may not come from this machine, whatever its socket says; a
# client that sends one on purpose only loses local-admin mode.
_PROXY_HEADERS = frozenset(
    {
        "forwarded", "via", "x-real-ip", "cf-connecting-ip", "true-client-ip", "x-client-ip",
        "x-cluster-client-ip", "fastly-client-ip", "akamai-client-ip", "client-ip",
        "forwarded-for", "x-originating-ip", "x-remote-ip", "x-remote-addr", "x-proxyuser-ip",
    }
)  # fmt: skip
_PROXY_PREFIXES = ("x-forwarded-", "x-original-forwarded", "cf-", "x-envoy-external")
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def came_through_proxy(scope: Scope) -> bool:
    for raw_name, _ in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        if name in _PROXY_HEADERS or name.startswith(_PROXY_PREFIXES):
            return True
    return False


def local_host_allowed(host: str, port: int | None) -> bool:
    """Whether a Host header names this machine's loopback at the port we listen on.

    DNS rebinding points an attacker's name at 127.0.0.1: the browser then
    sends `Host: rebind.attacker.example:PORT`, and the attacker's page is
    same-origin with us. Only our own loopback names make a request local.
    """
    host = host.strip().lower()
    allowed = {f"{name}:{port}" for name in _LOOPBACK_NAMES}
    if port == 80:
        allowed.update(_LOOPBACK_NAMES)
    return host in allowed


def _is_local(request: Request) -> bool:
    """A request from this machine, to a loopback name, that no proxy forwarded.

    The only kind local admin serves. HOST on loopback alone is not enough: a
    reverse proxy on the same machine would make the whole internet "local",
    and a rebound DNS name would make any web page "local".
    """
    client = request.client.host if request.client else ""
    server = request.scope.get("server") or (None, None)
    return (
        is_loopback(client)
        and not came_through_proxy(request.scope)
        and local_host_allowed(request.headers.get("host", ""), server[1])
    )


def _same_origin(origin: str, host: str) -> bool:
    parts = urlsplit(origin)
    return parts.scheme in {"http", "https"} and bool(host) and parts.netloc.lower() == host.lower()


def _csrf_refusal(request: Request, why: str) -> Response:
    return render_error(request, Forbidden(f"refused (CSRF protection): {why}"))


def _with_cookies(send: Send, set_cookies: list[str]) -> Send:
    if not set_cookies:
        return send

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            headers += [(b"set-cookie", cookie.encode("latin-1")) for cookie in set_cookies]
            message = {**message, "headers": headers}
        await send(message)

    return sending
