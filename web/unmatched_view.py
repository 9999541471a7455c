"""What a session page shows of the events that matched nothing: the unmatched panel.

The project's unmatched bin (`unmatched_event`, the newest UNMATCHED_KEEP events that
matched no live session) holds two kinds of events this session's tester cares about:

- sent by one of the session's accounts, but not watched by it: either not in the plan
  at all (maybe a near miss of a plan event's name: `Checkout_Start` for
  `checkout_start`), or in the plan and simply not chosen for this session;
- of an event the session watches, but sent by a user id that is not one of its
  accounts (the tester signed in with another account on the device).

Each kind is grouped by name (and user id for the second) with a count and the newest
time, and says what would fix it: watch the event, add the account, or (for plans kept
in files) draft a plan entry.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime

from trackmaster.models import Event, Project, SessionEvent, TestSession, UnmatchedEvent
from web.session_view import session_accounts

NOT_IN_PLAN = "not-in-plan"
NOT_WATCHED = "not-watched"
OTHER_ACCOUNT = "other-account"
# Near misses: same letters ignoring case and separators, or close by difflib's ratio.
NEAR_MISS_RATIO = 0.8


@dataclass(frozen=True)
class UnmatchedGroup:
    kind: str
    name: str
    user_ids: tuple[str, ...]
    platforms: tuple[str, ...]
    count: int
    newest_at: datetime
    event_id: int | None = None  # the plan event, when it is in the plan
    did_you_mean: str | None = None
    example_id: int | None = None  # the newest unmatched row, for "draft a plan entry"

    @property
    def dom_id(self) -> str:
        return f"unmatched-{self.example_id}"

    @property
    def reason(self) -> str:
        if self.kind == OTHER_ACCOUNT:
            users = ", ".join(self.user_ids)
            return f"watched, but sent by {users}: not an account of this session"
        if self.kind == NOT_WATCHED:
            return "in the plan, not watched by this session"
        if self.did_you_mean:
            return f"not in the plan; did you mean {self.did_you_mean}?"
        return "not in the plan"


def _folded(name: str) -> str:
    return "".join(ch for ch in name.casefold() if ch.isalnum())


def near_miss(name: str, plan_names: list[str]) -> str | None:
    """The plan event `name` was probably meant to be, if one is close enough."""
    folded = _folded(name)
    for candidate in plan_names:
        if _folded(candidate) == folded:
            return candidate
    close = difflib.get_close_matches(name, plan_names, n=1, cutoff=NEAR_MISS_RATIO)
    return close[0] if close else None


@dataclass(frozen=True)
class UnmatchedPanel:
    groups: list[UnmatchedGroup]
    file_plan: bool  # the plan is kept in files: a missing event can be drafted here


async def load_unmatched(session: TestSession) -> UnmatchedPanel:
    """This session's unmatched events since it started, grouped, newest group first."""
    jet_ids = await Project.filter(id=session.project_id).values_list("jet_id", flat=True)
    file_plan = bool(jet_ids) and not jet_ids[0]
    return UnmatchedPanel(await _groups(session), file_plan)


async def _groups(session: TestSession) -> list[UnmatchedGroup]:
    rows = (
        await UnmatchedEvent.filter(
            project_id=session.project_id, received_at__gte=session.started_at
        )
        .order_by("-id")
        .values("id", "name", "user_id", "platform", "received_at")
    )
    if not rows:
        return []
    accounts = set(await session_accounts(session.id))
    watched = set(
        await SessionEvent.filter(session_id=session.id).values_list("event__name", flat=True)
    )
    plan = dict(
        await Event.filter(
            story__project_id=session.project_id, removed_at__isnull=True
        ).values_list("name", "id")
    )
    plan_names = sorted(plan)
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for row in rows:
        name, user = row["name"], row["user_id"]
        if user in accounts and name not in watched:
            kind = NOT_WATCHED if name in plan else NOT_IN_PLAN
            key = (kind, name, "")
        elif user not in accounts and name in watched:
            key = (OTHER_ACCOUNT, name, user)
        else:
            # Caught since (an event watched or an account added after it came), or about
            # neither this session's accounts nor its events.
            continue
        groups.setdefault(key, []).append(row)
    found = []
    for (kind, name, _), members in groups.items():
        found.append(
            UnmatchedGroup(
                kind=kind,
                name=name,
                user_ids=tuple(sorted({m["user_id"] for m in members})),
                platforms=tuple(sorted({str(m["platform"]) for m in members})),
                count=len(members),
                newest_at=members[0]["received_at"],
                event_id=plan.get(name),
                did_you_mean=near_miss(name, plan_names) if kind == NOT_IN_PLAN else None,
                example_id=members[0]["id"],
            )
        )
    return sorted(found, key=lambda group: group.example_id or 0, reverse=True)
