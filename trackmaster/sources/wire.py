"""What a request carried, as the source parsers see it: bytes, a content type, a query.

Every protocol module has one `parse(wire) -> Parsed` that goes from these
bytes to caught events; the web door only reads the body (its size bounded,
gzip undone) and hands it over. The decoders here are what several
protocols share: JSON (exact, bounded, no NaN: trackmaster/safejson.py),
form bodies (Mixpanel's `data=`), and base64 in its standard and URL-safe
alphabets with or without padding (Mixpanel, Snowplow's `ue_px`/`cx`).
"""

from __future__ import annotations

import base64
import binascii
import codecs
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from trackmaster import safejson
from trackmaster.errors import BadRequest, PayloadTooLarge, field_error
from trackmaster.sources._common import MAX_BATCH_EVENTS

# A form body holds a handful of fields (data, verbose, ip, api_key); more is not an SDK.
MAX_FORM_FIELDS = 32


@dataclass(frozen=True, slots=True)
class Wire:
    body: bytes = b""
    content_type: str = ""  # the media type only, lower case ("application/json")
    query: Mapping[str, str] = field(default_factory=dict)
    # Most events this request may carry: MAX_BATCH_EVENTS or the protocol's own, the lower.
    max_events: int = MAX_BATCH_EVENTS

    @property
    def is_form(self) -> bool:
        return self.content_type == "application/x-www-form-urlencoded"


def json_body(data: bytes, what: str = "the body") -> Any:
    """JSON from bytes, or BadRequest (malformed) / PayloadTooLarge (nested too deep)."""
    if not data.strip():
        raise BadRequest(f"{what} is empty; send JSON")
    try:
        return safejson.loads(data)
    except safejson.JsonRefused as exc:
        if exc.too_deep:
            raise PayloadTooLarge(str(exc)) from None
        raise BadRequest(str(exc).replace("the body", what, 1)) from None


def form_fields(data: bytes) -> dict[str, str]:
    """An application/x-www-form-urlencoded body; a repeated name keeps its first value.

    What urllib's parse_qsl gives (blank values kept, at most MAX_FORM_FIELDS), with
    its percent-decoding done at C speed (`_unquote`): Mixpanel's SDKs send a batch as
    one percent-encoded JSON text, and urllib decodes it one escape at a time.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the form body is not valid UTF-8 (at byte {exc.start})") from None
    if text and text.count("&") >= MAX_FORM_FIELDS:
        raise BadRequest(f"the form body has more than {MAX_FORM_FIELDS} fields")
    fields: dict[str, str] = {}
    for name_value in text.split("&") if text else ():
        if not name_value:
            continue
        name, _, value = name_value.partition("=")
        fields.setdefault(_unquote(name.replace("+", " ")), _unquote(value.replace("+", " ")))
    return fields


def _unquote(text: str) -> str:
    """urllib.parse.unquote(text), at C speed for ASCII text whose every "%" is an escape.

    Every "%XX" becomes the bytes escape "\\xXX" (after doubling the backslashes that
    were there), and codecs.escape_decode decodes them all at once; the bytes are then
    UTF-8 with errors replaced, as unquote reads them. A "%" that does not begin two hex
    digits makes escape_decode refuse (urllib keeps it as it is), and non-ASCII text is
    decoded by unquote itself.
    """
    if "%" not in text:
        return text
    if text.isascii():
        if "=" not in text and "\n" not in text and "\r" not in text and "%" not in text[-2:]:
            # Quoted-printable's "=XX" is "%XX" (a2b_qp decodes both cases of hex, at C
            # speed, without escape_decode's "\\x" that doubles the text first). A "="
            # in its answer is a "%" it did not decode ("%zz", "%%"), or a "%3D": urllib
            # keeps the former, so both take escape_decode below. No "=" in the text
            # (any in the answer came from a "%"), no line break (qp's soft line break
            # "=\n"), no "%" in the last two characters (qp drops a trailing "=").
            raw = binascii.a2b_qp(text.replace("%", "="))
            if b"=" not in raw:
                return raw.decode("utf-8", "replace")
        escaped = text.encode("ascii").replace(b"\\", b"\\\\").replace(b"%", b"\\x")
        try:
            return codecs.escape_decode(escaped)[0].decode("utf-8", "replace")
        except ValueError:
            pass
    return unquote(text)


def base64_bytes(value: Any, path: str) -> bytes:
    """Standard or URL-safe base64, padding optional (SDKs differ); else a field error."""
    if type(value) is not str or not value.strip():
        raise field_error(path, "must be a non-empty base64 string")
    text = value.strip().replace("-", "+").replace("_", "/").replace(" ", "+")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise field_error(path, "not valid base64") from None


def base64_json(value: Any, path: str) -> Any:
    """JSON inside base64 (Mixpanel's data=, Snowplow's ue_px and cx)."""
    data = base64_bytes(value, path)
    try:
        return safejson.loads(data)
    except safejson.JsonRefused as exc:
        raise field_error(path, f"base64 of something that is not JSON we keep: {exc}") from None
