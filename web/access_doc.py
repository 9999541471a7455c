"""The URL table's access rules written into an OpenAPI document (web/policy.py)."""

from __future__ import annotations

import re

from trackmaster.auth.roles import Role
from web.auth import SESSION_COOKIE
from web.policy import decide

_PATH_PARAM = re.compile(r"\{[^}]+\}")


def document_access(document: dict) -> None:
    """Write the policy into an OpenAPI document: how to sign in, and who may call what.

    Each operation gets the security schemes and its 401/403 answers from the
    same rules the middleware enforces, so the document cannot drift from them;
    and a 400 where it takes input, since every parameter is checked with
    `field_error`.
    """
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(
        {
            "apiToken": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API token (tm_...) an admin made under /admin/tokens.",
            },
            "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
        }
    )
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            takes_input = operation.get("parameters") or operation.get("requestBody")
            if takes_input:
                _document_answer(responses, 400, "Code 2: invalid parameters.", error)
            access = decide(method.upper(), _PATH_PARAM.sub("1", path)).access
            needed = access.role
            if needed is None:
                continue
            operation["x-required-role"] = needed.label
            operation.setdefault("security", [{"apiToken": []}, {"session": []}])
            _document_answer(responses, 401, "Code 6: no valid API token or login.", error)
            if needed > Role.VIEWER:  # every signed-in user is at least a viewer
                _document_answer(responses, 403, f"Code 7: needs the {needed.label} role.", error)


def _document_answer(responses: dict, status: int, description: str, error: dict) -> None:
    # Docstrings' YAML gives int keys, hand-written ones strings: never both for one status.
    if status not in responses and str(status) not in responses:
        responses[status] = {"description": description, **error}
