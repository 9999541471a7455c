"""What a session watches: accounts and events chosen by id, checked against the project.

Accounts may be given as our numeric Account ids (JSON numbers) or as the test
user ids themselves (JSON strings, the original API's account `id`). Events
may be given one by one or as whole stories. Anything unknown, removed from
the plan, or two watched events with the same name is refused with a message
that names them; nothing is half-applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trackmaster.errors import InvalidParams, field_error
from trackmaster.models import Account, Event


@dataclass(frozen=True)
class ChosenAccount:
    account_id: int
    user_id: str


@dataclass(frozen=True)
class ChosenEvent:
    event_id: int
    name: str


def _id_list(name: str, raw: Any, *, strings: bool = False) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise field_error(name, f"must be a list of ids, got {type(raw).__name__}")
    allowed = (int, str) if strings else (int,)
    bad = [item for item in raw if isinstance(item, bool) or not isinstance(item, allowed)]
    if bad:
        kinds = "numbers (ids) or strings (user ids)" if strings else "numbers (ids)"
        raise field_error(name, f"must hold {kinds}; not {', '.join(map(repr, bad[:5]))}")
    return list(dict.fromkeys(raw))


async def resolve_accounts(project_id: int, raw: Any) -> list[ChosenAccount]:
    wanted = _id_list("accounts", raw, strings=True)
    if not wanted:
        raise field_error("accounts", "choose at least one test account")
    numbers = [item for item in wanted if isinstance(item, int)]
    texts = [item for item in wanted if isinstance(item, str)]
    found: dict[Any, ChosenAccount] = {}
    if numbers:
        for account_id, user_id in await Account.filter(
            project_id=project_id, id__in=numbers
        ).values_list("id", "user_id"):
            found[account_id] = ChosenAccount(account_id, user_id)
    if texts:
        for account_id, user_id in await Account.filter(
            project_id=project_id, user_id__in=texts
        ).values_list("id", "user_id"):
            found[user_id] = ChosenAccount(account_id, user_id)
    unknown = [item for item in wanted if item not in found]
    if unknown:
        raise field_error(
            "accounts",
            f"not accounts of project {project_id}: {', '.join(map(repr, unknown))} "
            "(give Account ids as numbers or user ids as strings; add accounts first)",
        )
    chosen = list({found[item].account_id: found[item] for item in wanted}.values())
    return chosen


async def resolve_events(
    project_id: int, raw_events: Any, raw_stories: Any, *, required: bool = True
) -> list[ChosenEvent]:
    """The chosen events; none at all is refused unless not `required` (the original's start)."""
    event_ids = _id_list("events", raw_events)
    story_ids = _id_list("stories", raw_stories)
    if not event_ids and not story_ids:
        if not required:
            return []
        raise field_error("events", "choose at least one event (events) or story (stories)")
    chosen: dict[int, ChosenEvent] = {}
    if event_ids:
        rows = await Event.filter(
            id__in=event_ids, story__project_id=project_id, removed_at__isnull=True
        ).values_list("id", "name")
        chosen.update({event_id: ChosenEvent(event_id, name) for event_id, name in rows})
        unknown = [event_id for event_id in event_ids if event_id not in chosen]
        if unknown:
            raise field_error(
                "events",
                f"not events of project {project_id} (or removed from the plan): "
                f"{', '.join(map(str, unknown))}",
            )
    if story_ids:
        rows = await Event.filter(
            story_id__in=story_ids,
            story__project_id=project_id,
            story__removed_at__isnull=True,
            removed_at__isnull=True,
        ).values_list("id", "name", "story_id")
        stories_found = {story_id for _, _, story_id in rows}
        unknown = [story_id for story_id in story_ids if story_id not in stories_found]
        if unknown:
            raise field_error(
                "stories",
                f"not stories of project {project_id} with events (or removed from the plan): "
                f"{', '.join(map(str, unknown))}",
            )
        for event_id, name, _ in rows:
            chosen.setdefault(event_id, ChosenEvent(event_id, name))
    by_name: dict[str, list[int]] = {}
    for event in chosen.values():
        by_name.setdefault(event.name, []).append(event.event_id)
    clashes = {name: ids for name, ids in by_name.items() if len(ids) > 1}
    if clashes:
        named = "; ".join(
            f"{name!r} (events {', '.join(map(str, ids))})" for name, ids in clashes.items()
        )
        raise InvalidParams(
            f"events: two watched events have the same name, so a caught event could not be "
            f"told apart: {named}; choose one of each",
            details=[{"field": "events", "error": "duplicate names", "names": sorted(clashes)}],
        )
    return sorted(chosen.values(), key=lambda e: e.event_id)
