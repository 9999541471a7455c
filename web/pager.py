"""Paging as the original API did it: `page`, `pageSize`, and `{"data", "pager"}` answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from trackmaster.errors import field_error


@dataclass(frozen=True)
class Page:
    page: int
    page_size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size

    def envelope(self, data: list[Any], total_rows: int) -> dict[str, Any]:
        return {
            "data": data,
            "pager": {"page": self.page, "pageSize": self.page_size, "totalRow": total_rows},
        }


def _positive_int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise field_error(name, f"must be a whole number, got {raw!r}") from None
    if value < 1:
        raise field_error(name, f"must be 1 or more, got {value}")
    return value


def page_from(request: Request) -> Page:
    """Read `page` and `pageSize`; a page size over MAX_PAGE_SIZE is an error, not clamped."""
    settings = request.app.state.settings
    page = _positive_int(request, "page", 1)
    page_size = _positive_int(request, "pageSize", settings.default_page_size)
    if page_size > settings.max_page_size:
        raise field_error("pageSize", f"must be at most {settings.max_page_size}, got {page_size}")
    return Page(page, page_size)
