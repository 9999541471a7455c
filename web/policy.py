"""The web door's one table of URL rules: method + path pattern -> the access a request
needs, whether anyone is identified for it, and whether only programs call it.

The middleware (web/auth.py) enforces the access, skips identifying anyone where no
identity is needed (health, assets: no cookie read, no query per file), error pages
answer JSON where only programs call (web/negotiation.py), CORS applies to ingest
(web/cors.py), and the OpenAPI documents carry the same rules (web/access_doc.py).

The first matching rule decides. Reads need a viewer, the tester's work (live
sessions, test accounts, verdict overrides) a tester, and every other write
an admin; a write no rule names falls to the last rule, admin: deny by
default, so a new endpoint is never open by accident. Ingest endpoints are
not for people: they authenticate with the project's write key.

Patterns: `{name}` is one path segment; a trailing `/**` matches the path
itself and everything below it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from trackmaster.auth.roles import Role

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ANY = frozenset({"*"})
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Access(Enum):
    PUBLIC = "anyone"
    WRITE_KEY = "project write key"
    VIEWER = "viewer"
    TESTER = "tester"
    ADMIN = "admin"

    @property
    def role(self) -> Role | None:
        return Role[self.name] if self.name in Role.__members__ else None


@dataclass(frozen=True)
class Rule:
    methods: frozenset[str]
    pattern: str
    access: Access
    why: str
    # False: nobody is identified (no cookie read, no user query): health and assets.
    identifies: bool = True
    # True: only programs call it, so errors answer JSON whatever Accept says.
    program: bool = False
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", _compile(self.pattern))
        if self.access is Access.WRITE_KEY:  # ingest is for SDKs: never a page
            object.__setattr__(self, "program", True)

    def matches(self, method: str, path: str) -> bool:
        if "*" not in self.methods and method not in self.methods:
            return False
        return self.regex.fullmatch(path) is not None


def _compile(pattern: str) -> re.Pattern[str]:
    subtree = pattern.endswith("/**")
    base = pattern[:-3] if subtree else pattern
    parts = []
    for piece in re.split(r"(\{[^}/]+\})", base):
        if piece.startswith("{") and piece.endswith("}"):
            parts.append(r"[^/]+")
        else:
            parts.append(re.escape(piece))
    body = "".join(parts)
    # DOTALL: a path may hold any character (%0A decodes to a newline) and must still match.
    return re.compile(body + r"(?:/.*)?" if subtree else body, re.DOTALL)


def _rule(
    methods: frozenset[str] | str,
    pattern: str,
    access: Access,
    why: str,
    *,
    identifies: bool = True,
    program: bool = False,
) -> Rule:
    if isinstance(methods, str):
        methods = frozenset({methods})
    return Rule(methods, pattern, access, why, identifies, program)


_READ = SAFE_METHODS
_TESTER_WORK = "a tester's work: live sessions, test accounts, verdict overrides"

RULES: tuple[Rule, ...] = (
    # --- public: health, assets, the login page ---
    _rule(_READ, "/ping", Access.PUBLIC, "liveness", identifies=False, program=True),
    _rule(
        _READ,
        "/api/v2/ping",
        Access.PUBLIC,
        "liveness, as the original API had it",
        identifies=False,
        program=True,
    ),
    _rule(
        _READ,
        "/healthz",
        Access.PUBLIC,
        "every component's state, readiness as its status",
        identifies=False,
        program=True,
    ),
    _rule(
        _READ,
        "/healthz/**",
        Access.PUBLIC,
        "liveness and readiness for load balancers",
        identifies=False,
        program=True,
    ),
    _rule(_READ, "/static/**", Access.PUBLIC, "stylesheets and our own scripts", identifies=False),
    _rule(
        _READ,
        "/favicon.ico",
        Access.PUBLIC,
        "the icon browsers ask for by themselves",
        identifies=False,
    ),
    _rule(_READ | {"POST"}, "/login", Access.PUBLIC, "signing in"),
    _rule(_READ, "/share/**", Access.PUBLIC, "a report's share link (the token is the key)"),
    # --- ingest from apps and SDKs: the project's write key, never a user ---
    _rule(ANY, "/collect/**", Access.WRITE_KEY, "events from apps"),
    _rule(ANY, "/v1/**", Access.WRITE_KEY, "Segment-compatible ingest"),
    _rule(ANY, "/2/**", Access.WRITE_KEY, "Amplitude-compatible ingest"),
    _rule(ANY, "/batch", Access.WRITE_KEY, "Amplitude batch API ingest"),
    _rule(_READ, "/projects/{key}/settings", Access.WRITE_KEY, "Segment settings document"),
    _rule(ANY, "/sourceConfig/**", Access.WRITE_KEY, "RudderStack source config"),
    _rule(ANY, "/com.snowplowanalytics.snowplow/**", Access.WRITE_KEY, "Snowplow ingest"),
    _rule(ANY, "/i", Access.WRITE_KEY, "Snowplow GET pixel ingest"),
    _rule(ANY, "/track/**", Access.WRITE_KEY, "Mixpanel ingest"),
    _rule(ANY, "/import/**", Access.WRITE_KEY, "Mixpanel import ingest"),
    _rule(ANY, "/capture/**", Access.WRITE_KEY, "PostHog ingest"),
    _rule(ANY, "/batch/**", Access.WRITE_KEY, "PostHog batch ingest"),
    _rule(ANY, "/e/**", Access.WRITE_KEY, "PostHog ingest"),
    _rule(ANY, "/i/v0/e/**", Access.WRITE_KEY, "PostHog ingest"),
    _rule(ANY, "/mp/**", Access.WRITE_KEY, "GA4 Measurement Protocol ingest"),
    _rule(ANY, "/debug/mp/**", Access.WRITE_KEY, "GA4 Measurement Protocol validation"),
    # --- administration: even reading it is for admins (tokens, users, the audit log) ---
    _rule(ANY, "/admin/**", Access.ADMIN, "users, API tokens, the audit log"),
    # --- reading ---
    _rule(_READ, "/api/**", Access.VIEWER, "reading through the API", program=True),
    _rule(_READ, "/**", Access.VIEWER, "reading plans, sessions and results"),
    # --- any signed-in user ---
    _rule("POST", "/logout", Access.VIEWER, "signing out"),
    _rule("POST", "/account/**", Access.VIEWER, "one's own password and logins"),
    _rule(
        UNSAFE,
        "/api/v3/tokens/**",
        Access.VIEWER,
        "one's own API tokens (admins: anyone's)",
        program=True,
    ),
    # --- the tester's work ---
    # Drafting a plan entry from a session page changes the plan, like an import.
    _rule(UNSAFE, "/sessions/{session}/unmatched/{row}/draft", Access.ADMIN, "a plan change"),
    _rule(UNSAFE, "/api/v3/realTime/**", Access.TESTER, _TESTER_WORK, program=True),
    _rule(UNSAFE, "/api/v3/accounts/**", Access.TESTER, _TESTER_WORK, program=True),
    _rule(UNSAFE, "/api/v3/sessions/**", Access.TESTER, _TESTER_WORK, program=True),
    _rule(UNSAFE, "/api/v2/realTime/**", Access.TESTER, _TESTER_WORK, program=True),
    _rule(UNSAFE, "/api/v2/accounts/**", Access.TESTER, _TESTER_WORK, program=True),
    _rule(UNSAFE, "/sessions/**", Access.TESTER, _TESTER_WORK),
    _rule(UNSAFE, "/projects/{project}/sessions/**", Access.TESTER, _TESTER_WORK),
    _rule(UNSAFE, "/projects/{project}/accounts/**", Access.TESTER, _TESTER_WORK),
    # --- everything else that changes state: plans, sync, schedules, users, tokens, keys ---
    # (the programs' paths first: the same access as the last rule, but answered as JSON)
    _rule(ANY, "/api/**", Access.ADMIN, "any other change (deny by default)", program=True),
    _rule(ANY, "/healthz/**", Access.ADMIN, "any other method (deny by default)", program=True),
    _rule(ANY, "/ping", Access.ADMIN, "any other method (deny by default)", program=True),
    _rule(ANY, "/**", Access.ADMIN, "any other change (deny by default)"),
)


_DENY = _rule(ANY, "/**", Access.ADMIN, "no rule matched (deny by default)")


def decide(method: str, path: str, rules: tuple[Rule, ...] = RULES) -> Rule:
    """The rule that governs `method path` (the last rule matches everything)."""
    method = method.upper()
    for rule in rules:
        if rule.matches(method, path):
            return rule
    return _DENY  # only with custom rules that lack a catch-all: deny by default


def markdown_table(rules: tuple[Rule, ...] = RULES) -> str:
    """The policy as a Markdown table, for docs/security.md."""
    lines = ["| methods | path | who | answers | why |", "| --- | --- | --- | --- | --- |"]
    for rule in rules:
        methods = "any" if "*" in rule.methods else ", ".join(sorted(rule.methods))
        answers = "JSON" if rule.program else "by Accept"
        lines.append(
            f"| {methods} | `{rule.pattern}` | {rule.access.value} | {answers} | {rule.why} |"
        )
    return "\n".join(lines) + "\n"
