"""What every source parser shares: limits, the Parsed result, platform, field and time helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar, cast, overload

from trackmaster.errors import InvalidParams, PayloadTooLarge, field_error
from trackmaster.kinds import Platform

# Limits the API layer imports (settings may lower MAX_BATCH_EVENTS later).
MAX_BATCH_EVENTS = 500
MAX_NAME_CHARS = 255  # EventLog.name
MAX_USER_ID_CHARS = 128  # EventLog.user_id
MAX_MESSAGE_ID_CHARS = 128  # EventLog.message_id
MAX_PROJECT_KEY_CHARS = 128
# A bad batch reports this many problems at most, so an error stays readable.
MAX_REPORTED_PROBLEMS = 20

_IOS = frozenset({"ios", "ipados", "iphone os", "iphone", "ipad"})
_ANDROID = frozenset({"android"})
_PLATFORM_KEYS = ("$os", "os", "platform", "os_name")
# platform_of's answers, by the word as sent; cleared when full (senders choose the words).
MAX_REMEMBERED_WORDS = 1024
MAX_REMEMBERED_WORD_CHARS = 64
_PLATFORM_OF: dict[str, Platform] = {}
_TYPE_NAMES = {
    bool: "a boolean",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "an object",
    type(None): "null",
}

T = TypeVar("T")


class Parsed(list[Any]):
    """The events a body held, plus how many messages were accepted but are not events.

    A list of CaughtEvent; `ignored` counts messages a format allows that are
    not tracked events (Segment identify/page/screen/group/alias), and
    `ignored_types` says which ({"identify": 2}).
    """

    __slots__ = ("ignored", "ignored_types")

    def __init__(self, events: Iterable[Any] = ()) -> None:
        super().__init__(events)
        self.ignored = 0
        self.ignored_types: dict[str, int] = {}

    def ignore(self, kind: str) -> None:
        self.ignored += 1
        self.ignored_types[kind] = self.ignored_types.get(kind, 0) + 1


def type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _platform_word(value: Any) -> str | None:
    if type(value) is dict:  # {"os": {"name": "iOS"}}
        value = value.get("name")
    if type(value) is str and value.strip():
        return value
    return None


def detect_platform(payload: dict[str, Any]) -> Platform:
    """IOS, ANDROID or OTHER from the first of `$os`, `os`, `platform`, `os_name`,
    `context.os.name`, `context.device.type` that holds a non-empty string, else
    from the SDK's library name (`context.library.name`, PostHog's `$lib`).

    Case and spaces do not matter: ios, ipados, iphone os, iphone, ipad -> IOS;
    android -> ANDROID; anything else (web, tvOS, Windows...) -> OTHER.
    """
    if type(payload) is not dict:
        return Platform.OTHER
    word = None
    get = payload.get
    for key in _PLATFORM_KEYS:
        value = get(key)
        if value is not None:  # most keys are absent: no call for them
            word = _platform_word(value)
            if word:
                break
    library = payload.get("$lib")
    if word is None:
        context = payload.get("context")
        if type(context) is dict:
            word = _platform_word(context.get("os"))
            if word is None:
                device = context.get("device")
                if type(device) is dict:
                    word = _platform_word(device.get("type"))
            if word is None:
                library = context.get("library")
    if word is None:
        return library_platform(_platform_word(library))
    return platform_of(word)


def platform_of(word: str) -> Platform:
    """IOS, ANDROID or OTHER for an operating system's name ("iPadOS", "android")."""
    # Every event of an app says the same few words: each is judged once.
    found = _PLATFORM_OF.get(word)
    if found is None:
        plain = word.strip().lower()
        found = (
            Platform.IOS if plain in _IOS else Platform.ANDROID if plain in _ANDROID
            else Platform.OTHER
        )  # fmt: skip
        if len(word) <= MAX_REMEMBERED_WORD_CHARS:
            if len(_PLATFORM_OF) >= MAX_REMEMBERED_WORDS:
                _PLATFORM_OF.clear()
            _PLATFORM_OF[word] = found
    return found


def library_platform(name: str | None) -> Platform:
    """The platform an SDK's library name implies: analytics-ios, analytics-swift,
    rudder-ios-library, posthog-ios -> IOS; analytics-android, analytics-kotlin,
    com.rudderstack.android.sdk.core, posthog-android -> ANDROID; others (analytics.js,
    posthog-js, server libraries) -> OTHER, since they say nothing about a device.
    """
    if not name:
        return Platform.OTHER
    name = name.lower()
    if "ios" in name or "swift" in name:
        return Platform.IOS
    if "android" in name or "kotlin" in name:
        return Platform.ANDROID
    return Platform.OTHER


def require_object(value: Any, path: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise field_error(path, f"not an object (got {type_name(value)})")
    return value


@overload
def text(
    value: Any, path: str, *, limit: int, required: Literal[True], numbers: bool = False
) -> str: ...
@overload
def text(
    value: Any, path: str, *, limit: int, required: bool, numbers: bool = False
) -> str | None: ...
def text(value: Any, path: str, *, limit: int, required: bool, numbers: bool = False) -> str | None:
    """A string field: missing/null is None (or an error when required), empty is an error.

    `numbers`: ids that apps send as JSON numbers (userId 42) are taken as their digits.
    """
    if value is None:
        if required:
            raise field_error(path, "missing")
        return None
    kind = type(value)
    if kind is not str:
        if numbers and kind is int:
            value = str(value)
        else:
            raise field_error(path, f"must be a string (got {type_name(value)})")
    if not value.strip():
        raise field_error(path, "empty")
    if len(value) > limit:
        raise field_error(path, f"{len(value)} characters, over the limit of {limit}")
    return cast(str, value)  # a str by the exact-type tests above


def first_present(obj: dict[str, Any], keys: tuple[str, ...]) -> tuple[str, Any]:
    """(key, value) of the first key whose value is not null; (keys[0], None) if none."""
    for key in keys:
        value = obj.get(key)
        if value is not None:
            return key, value
    return keys[0], None


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 string (naive = UTC) or epoch seconds/milliseconds, as aware UTC; else None.

    Epoch numbers above 1e11 are milliseconds (1e11 s is the year 5138).
    """
    kind = type(value)
    if kind is str:
        if not 8 <= len(value) <= 64:
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        try:
            return moment.astimezone(UTC)
        except (OverflowError, ValueError):
            return None
    if kind is int or kind is float:
        return epoch_time(value / 1000 if abs(value) > 1e11 else value)
    return None


def epoch_time(seconds: float) -> datetime | None:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def parse_items(
    items: list[Any],
    path: str,
    parse_one: Callable[[Any, str], T | None],
    parsed: Parsed,
    limit: int = MAX_BATCH_EVENTS,
) -> Parsed:
    """Parse every item of a batch, collecting each item's problem before failing as a whole.

    One bad item rejects the whole body (nothing is half stored), but the
    error lists up to MAX_REPORTED_PROBLEMS problems so a sender fixes them at once.
    More than `limit` items is a 413 (TooManyEvents) before any is looked at.
    """
    if len(items) > limit:
        raise TooManyEvents(path or "body", len(items), limit)
    problems: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            event = parse_one(item, f"{path}[{index}]")
        except InvalidParams as exc:
            problems.extend(exc.details or [{"field": f"{path}[{index}]", "error": exc.msg}])
            continue
        if event is not None:
            parsed.append(event)
    if problems:
        raise problems_error(problems)
    return parsed


class TooManyEvents(PayloadTooLarge):
    """More events than the request may carry: MAX_BATCH_EVENTS, or the protocol's own limit."""

    def __init__(self, path: str, count: int, limit: int) -> None:
        problem = (
            f"{count} events, over the limit of {limit} per request (MAX_BATCH_EVENTS or the "
            "protocol's own); split the batch"
        )
        super().__init__(f"{path}: {problem}", details=[{"field": path, "error": problem}])
        self.count = count
        self.limit = limit


def problems_error(problems: list[dict[str, Any]]) -> InvalidParams:
    first = problems[0]
    msg = f"{first['field']}: {first['error']}"
    if len(problems) > 1:
        msg += f" (and {len(problems) - 1} more)"
    return InvalidParams(msg, details=problems[:MAX_REPORTED_PROBLEMS])
