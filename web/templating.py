"""Jinja2 rendering: whole pages for browsers, fragments for HTMX requests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from trackmaster.checks.rules import describe as describe_rules
from web.cell_markup import cell_html

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "never"


def _at(value: datetime | None) -> Markup | str:
    """A time with its zone, machine-readable: app.js adds the viewer's local time on hover."""
    if not value:
        return "never"
    moment = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    iso = moment.isoformat().replace("+00:00", "Z")
    # Date and time each unbroken: in a narrow column a date broke at its hyphens, 4 lines.
    return Markup(
        f'<time class="at" datetime="{iso}"><span>{moment:%Y-%m-%d}</span> '
        f"<span>{moment:%H:%M:%S} UTC</span></time>"
    )


def _readable(value: object) -> str:
    """A stored detail (audit, diffs) as words, not a Python repr: lists joined, dicts as k: v."""
    if isinstance(value, dict):
        return ", ".join(f"{key}: {_readable(item)}" for key, item in value.items()) or "none"
    if isinstance(value, list | tuple | set):
        return ", ".join(_readable(item) for item in value) or "none"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _duration(seconds: float | int | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{minutes} min"


environment = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    # Every template is HTML; payloads and plan texts are untrusted and must be escaped.
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters["when"] = _when
environment.filters["at"] = _at
environment.filters["readable"] = _readable
environment.filters["duration"] = _duration
environment.filters["describe_rules"] = describe_rules
# A results cell: the same markup in the matrix and in a live frame (web/cell_markup.py).
environment.globals["cell_html"] = cell_html


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def for_htmx(request: Request, partial: str, page: str) -> str:
    """The template to render: the partial for an htmx request, else the whole page."""
    return partial if is_htmx(request) else page


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render `template` with the request, the URL helper and settings in the context."""
    page = environment.get_template(template)
    html = page.render(
        request=request,
        url_for=lambda name, **params: request.url_for(name, **params).path,
        settings=request.app.state.settings,
        csrf_token=request.scope.get("csrf_token", ""),
        current_user=request.scope.get("user"),
        **(context or {}),
    )
    return HTMLResponse(html, status_code=status_code, headers=headers)
