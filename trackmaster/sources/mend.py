"""Lone UTF-16 surrogates in decoded JSON, replaced by U+FFFD so that the event is kept.

JSON may escape half of a surrogate pair (`"ab\\ud83d"`: an emoji cut in two by an app's
string slicing, common in titles), and Python's `json` decodes it into a string that
UTF-8 cannot encode: the event could then be neither stored nor shown, and its whole
batch failed with it. The ingest endpoints refuse such bodies (trackmaster/safejson.py,
a 400 the sender can act on); a Jet log has no sender to answer, so it is mended
instead: the broken character becomes U+FFFD, which a tester sees, and a pair split
across two escapes is joined again.
"""

from __future__ import annotations

import re
from typing import Any

_LONE_CHAR = re.compile("[\ud800-\udfff]")
# A surrogate written as an escape in JSON text (a pair's halves too: joined when decoded).
_ESCAPED = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def may_hold_surrogates(json_text: str) -> bool:
    """Whether decoding `json_text` can give a lone surrogate (cheap: two scans in C)."""
    return _ESCAPED.search(json_text) is not None or _LONE_CHAR.search(json_text) is not None


def mend_text(text: str) -> str:
    if _LONE_CHAR.search(text) is None:
        return text
    # Through UTF-16: halves that are neighbours become their character again, the
    # others U+FFFD.
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def mend(value: Any) -> Any:
    """`value` (decoded JSON) with every string and key mended (a copy of each container)."""
    kind = type(value)
    if kind is str:
        return mend_text(value)
    if kind is dict:
        return {mend_text(k) if type(k) is str else k: mend(v) for k, v in value.items()}
    if kind is list:
        return [mend(v) for v in value]
    return value
