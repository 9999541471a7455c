"""The CSRF token of a form post, read by the auth middleware before the handler runs.

A browser's form carries its token as a field (`csrf_token`), not a header. Reading
it consumes the ASGI body, so the body is read once (bounded by the form limit) and
replayed whole to the handler downstream, which then parses the form as usual.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import Message, Receive

from trackmaster.errors import PayloadTooLarge


async def form_field(
    request: Request, receive: Receive, name: str, limit_bytes: int
) -> tuple[str | None, Receive]:
    """Read one form field and hand back a receive that replays the whole body downstream."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit_bytes:
            raise PayloadTooLarge(f"the form is larger than {limit_bytes} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replay = replaying(body, receive)
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        try:
            form = await Request(request.scope, replaying(body, receive)).form()
        except Exception:  # malformed multipart: no token found; the handler never sees it
            return None, replay
        try:
            value = form.get(name)
        finally:
            await form.close()
        return (value if isinstance(value, str) else None), replay
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        if key == name:
            return value, replay
    return None, replay


def replaying(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # then http.disconnect, as the server says

    return replay
