"""Finding a field's value in a caught event's payload, by its key ("page_info.id")."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal

LookupStyle = Literal["log", "sdk"]

_MISSING = MISSING = object()  # what walk() gives for a path that is not there
# Where an SDK-shaped event keeps its data, in search order; None = the top level.
_SDK_ORDER = ("properties", "event_properties", None, "user_properties", "context")


@lru_cache(maxsize=4096)
def key_parts(key: str) -> tuple[str, ...]:
    """A field key as path parts: "a.b", "a$$b" and "a$$b.c" all name the same nested value."""
    return tuple(key.replace("$$", ".").split("."))


def walk(obj: Any, parts: tuple[str, ...]) -> Any:
    """The value at `parts` below obj, or _MISSING; the common case is plain nested dicts."""
    cur = obj
    for part in parts:
        if type(cur) is dict:
            cur = cur.get(part, _MISSING)
            if cur is _MISSING:
                break
        elif type(cur) is list and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            cur = _MISSING
            break
    if cur is not _MISSING:
        return cur
    return _walk_joined(obj, parts, 0) if len(parts) > 1 else _MISSING


def _walk_joined(obj: Any, parts: tuple[str, ...], start: int) -> Any:
    """Slow path: some levels are flattened into one key ("a$$b", or a literal "a.b").

    Tries, at each level, the longest joined key first so that a fully
    flattened web log ("page_info$$id") is one lookup. The recursion depth is
    bounded by the number of parts of the key, never by the payload's depth.
    """
    if start == len(parts):
        return obj
    if type(obj) is list:
        part = parts[start]
        if part.isdigit() and int(part) < len(obj):
            return _walk_joined(obj[int(part)], parts, start + 1)
        return _MISSING
    if type(obj) is not dict:
        return _MISSING
    for end in range(len(parts), start, -1):
        chunk = parts[start:end]
        names = (chunk[0],) if len(chunk) == 1 else ("$$".join(chunk), ".".join(chunk))
        for name in names:
            child = obj.get(name, _MISSING)
            if child is not _MISSING:
                found = _walk_joined(child, parts, end)
                if found is not _MISSING:
                    return found
    return _MISSING


def find_value(payload: dict[str, Any], key: str, style: LookupStyle) -> tuple[bool, Any]:
    """(found, value) of a field key in a caught event's payload.

    "log" (a Jet/raw app log): the key is a path from the top of the payload.
    "sdk" (Segment, Amplitude, the generic collect shape): the path is looked
    up in "properties", then "event_properties", then the top level, then
    "user_properties", then "context"; the first place that has it wins.
    A found JSON null is found (value None); absent is (False, None).
    """
    if type(payload) is not dict or not key:
        return False, None
    return find_parts(payload, key_parts(key), style)


def find_parts(
    payload: dict[str, Any], parts: tuple[str, ...], style: LookupStyle
) -> tuple[bool, Any]:
    """find_value with the key already split by key_parts (a FieldRule keeps it split)."""
    if type(payload) is not dict:
        return False, None
    if style == "sdk":
        for inner in sdk_sections(payload):
            value = walk(inner, parts)
            if value is not _MISSING:
                return True, value
        return False, None
    value = walk(payload, parts)
    return (False, None) if value is _MISSING else (True, value)


def sdk_sections(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects an SDK-shaped payload keeps its data in, in search order (_SDK_ORDER)."""
    found = []
    for section in _SDK_ORDER:
        inner = payload if section is None else payload.get(section)
        if type(inner) is dict:
            found.append(inner)
    return found
