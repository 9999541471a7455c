"""One OpenAPI operation per ingest endpoint, with a real request example, in its docstring.

web/api/openapi.py reads an endpoint's docstring after `---`; these helpers
write it from a few facts, so that every protocol documents itself alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

_ERROR = {"$ref": "#/components/schemas/Error"}


def json_answer(description: str, schema: dict | None = None) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema or {"type": "object"}}},
    }


def describe(
    handler: Callable,
    *,
    summary: str,
    description: str,
    example: Any = None,
    media: str = "application/json",
    ok: dict[str, Any] | None = None,
    errors: dict[int, dict[str, Any]] | None = None,
    query: tuple[str, ...] = (),
) -> Callable:
    """Give `handler` its OpenAPI operation; `errors` maps a status to its answer."""
    operation: dict[str, Any] = {
        "summary": summary,
        "description": description,
        "tags": ["ingest"],
        "security": [{"writeKeyBasic": []}, {"writeKeyHeader": []}],
    }
    if query:
        operation["parameters"] = [
            {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
            for name in query
        ]
    if example is not None:
        content: dict[str, Any] = {"schema": {"type": "object"}, "example": example}
        if media != "application/json":
            content["schema"] = {"type": "string"}
        operation["requestBody"] = {
            "required": True,
            "description": "Optionally Content-Encoding gzip; text/plain bodies are read alike.",
            "content": {media: content},
        }
    responses: dict[Any, Any] = {200: ok or json_answer("Stored (committed) before this answer")}
    default_errors = {
        400: json_answer("Malformed or invalid; nothing stored", _ERROR),
        401: json_answer("Missing or unknown write key; nothing stored", _ERROR),
        413: json_answer("Over a size or event limit; nothing stored", _ERROR),
        429: json_answer("Busy or over the key's rate; retry after Retry-After", _ERROR),
    }
    responses.update(errors if errors is not None else default_errors)
    operation["responses"] = responses
    handler.__doc__ = f"{summary}\n---\n" + yaml.safe_dump(operation, sort_keys=False)
    return handler
