"""The write-key rules every protocol shares: where a key may be, and which one counts.

A request names its project by one write key. It may sit in the request
(HTTP Basic user, `X-Write-Key`, a query parameter such as `?writeKey=` or
GA4's `?api_secret=`) or in the body (Segment `writeKey`, Amplitude and
PostHog `api_key`, Mixpanel `token`, Snowplow `aid`), once or per event.
Every place that holds one must hold the same key: two different keys in
one request are refused (400), none at all is 401. The request's own key
is known before the body is read, so an unknown one is refused unparsed.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping

from trackmaster.errors import InvalidParams, Unauthorized
from trackmaster.sources._common import MAX_PROJECT_KEY_CHARS

# Where every protocol's key may be, whatever the protocol also allows.
HEADER = "x-write-key"
QUERY = "writeKey"

MISSING_MESSAGE = (
    "a project write key is needed (shown on the project page): send it as the Basic auth "
    "user, the X-Write-Key header, ?writeKey=, or where your SDK puts its key "
    "(docs/realtime.md lists them per protocol)"
)


def basic_user(authorization: str) -> str | None:
    """The user of an `Authorization: Basic` header (Segment sends base64("key:"))."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("the Authorization header is not valid Basic auth") from None
    return decoded.partition(":")[0] or None


def request_key(
    headers: Mapping[str, str], query: Mapping[str, str], query_names: Iterable[str] = ()
) -> str | None:
    """The one key a request carries outside its body, or None; different ones are refused."""
    found = {
        key
        for key in (
            basic_user(headers.get("authorization", "")),
            headers.get(HEADER),
            query.get(QUERY),
            *(query.get(name) for name in query_names),
        )
        if key
    }
    return _one(found)


def body_key(request: str | None, body_keys: Iterable[str | None]) -> str:
    """The request's key, checked against every key found in the body (batch or per event)."""
    found = {key for key in body_keys if key}
    if request:
        found.add(request)
    key = _one(found)
    if key is None:
        raise Unauthorized(MISSING_MESSAGE)
    return key


def _one(keys: set[str]) -> str | None:
    if len(keys) > 1:
        raise InvalidParams("the request carries different write keys; send one project's only")
    if not keys:
        return None
    key = keys.pop()
    if len(key) > MAX_PROJECT_KEY_CHARS:
        raise Unauthorized("unknown write key; copy it from the project page")
    return key
