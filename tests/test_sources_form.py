"""wire.form_fields reads a form body exactly as urllib's parse_qsl did, faster.

Its percent-decoding (`_unquote`) takes codecs.escape_decode for ASCII text whose
every "%" is an escape, and urllib's unquote otherwise; both must give what
parse_qsl gives for any body: escapes in either case, "+", lone and trailing
"%", backslashes beside escapes, UTF-8 escaped or raw, invalid UTF-8 escaped.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trackmaster.errors import BadRequest
from trackmaster.sources.wire import MAX_FORM_FIELDS, _unquote, form_fields, unquote


def reference(data: bytes) -> dict[str, str]:
    """form_fields as it was: parse_qsl, the first value of each name."""
    pairs = parse_qsl(
        data.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
        max_num_fields=MAX_FORM_FIELDS,
    )  # fmt: skip
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


PIECES = st.sampled_from([
    "%", "%2", "%22", "%7b", "%7D", "%C3%A9", "%e2%82", "%FF", "%25", "%2541", "%5C", "\\",
    "\\x41", "+", "=", "&", "a", "Z", "9", "é", "€", "data", " ", "%%41", "%g1",
])  # fmt: skip
BODIES = st.lists(PIECES, max_size=20).map("".join)


@settings(max_examples=1500, deadline=None)
@given(BODIES)
def test_form_fields_answer_as_parse_qsl(body: str) -> None:
    data = body.encode("utf-8")
    try:
        expected = reference(data)
    except ValueError:
        with pytest.raises(BadRequest):
            form_fields(data)
        return
    assert form_fields(data) == expected


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=30))
def test_unquote_of_any_quoted_text_is_urllibs(text: str) -> None:
    for quoted in (quote(text), quote(text, safe=""), text):
        assert _unquote(quoted) == unquote(quoted)


def test_a_mixpanel_batch_form_decodes_to_its_json() -> None:
    batch = [
        {"event": "play_click", "properties": {"page": "home \u00e9", "n": i}} for i in range(50)
    ]
    body = ("data=" + quote(json.dumps(batch)) + "&verbose=1").encode()
    fields = form_fields(body)
    assert json.loads(fields["data"]) == batch
    assert fields["verbose"] == "1"
    assert fields == reference(body)


def test_too_many_fields_is_refused() -> None:
    with pytest.raises(BadRequest, match="more than 32 fields"):
        form_fields(b"&".join([b"a=1"] * (MAX_FORM_FIELDS + 1)))
    assert len(form_fields(b"&".join([b"a%d=1" % n for n in range(MAX_FORM_FIELDS)]))) == 32


# What could fool the quoted-printable reading of "%XX" (binascii.a2b_qp): its own "=",
# its soft line breaks ("=\n", "=\r\n"), its trailing "=", "%3D" (an "=" it decodes).
QP_PIECES = st.sampled_from([
    "%", "%4", "%41", "%3D", "%3d", "=", "==41", "\n", "\r", "%\n", "%\r\n", "%=41", "%%",
    "%zz", "%0A", "%0d", "_", "a", " ", "\t", "é", "%C3%A9", "%FF", "\\", "%5c",
])  # fmt: skip


@settings(max_examples=1500, deadline=None)
@given(st.lists(QP_PIECES, max_size=12).map("".join))
def test_unquote_of_text_that_could_fool_quoted_printable_is_urllibs(text: str) -> None:
    assert _unquote(text) == unquote(text)
